#!/bin/sh
# spoolctl build and collect end to end: a Markdown document cut into
# chunks, a CSV with quoted fields, commas and line breaks, and a JSONL
# of records become one batch; spoold --once runs it against the mock;
# collect writes one file per document, chunks in order, failures marked.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 25
install_prefix
start_mock
spoolctl -d "$SPOOL" init >/dev/null
D=$TRASH/docs
mkdir -p "$D"
cd "$TRASH" || exit 1

# The reply of the mock starts with the first 60 characters of the user
# message, so "P<chunk>/<chunks>" leads every reply.
cat > tmpl.json <<'EOF'
{"model": "mock-1", "temperature": 0,
 "messages": [{"role": "system", "content": "Summarise a part of {{document}} ({{file}})."},
              {"role": "user", "content": "P{{chunk}}/{{chunks}} {{text}}"}]}
EOF
/usr/bin/python3 - "$D" <<'EOF'
import json, sys
d = sys.argv[1]
paras = ["# A guide", "Some *Markdown* with a [link](x) and `code`."]
for i in range(1, 13):
    paras.append(f"Paragraph {i}: " + " ".join(f"w{i}.{j}" for j in range(25)))
paras.insert(7, "Oversize " + "\n".join(" ".join(f"o{k}.{j}" for j in range(12)) for k in range(10)))
open(f"{d}/guide.md", "w").write("\n\n".join(paras) + "\n")
open(f"{d}/recs.jsonl", "w", encoding="utf-8").write(
    json.dumps({"id": "j1", "text": "tab\there \"quoted\" \\ back \u0001 ctrl \u00e9 \U0001F600 {{text}}"}, ensure_ascii=False) + "\n\n" +
    json.dumps({"id": "j2", "text": "second", "n": 2}) + "\n")
EOF
printf 'id,text\r\nr1,"He said ""hi"", then left"\r\nr2,"back\\slash and\r\na new line, Gr\303\274\303\237e \346\227\245\346\234\254 \342\234\223"\r\nr3,plain\r\n' > "$D/hostile.csv"

spoolctl build -t tmpl.json --chunk 400 --key id -o docs.jsonl \
    "$D/guide.md" "$D/hostile.csv" "$D/recs.jsonl" 2>build.err
check "build exits 0" test $? = 0
check "build says what it made" grep -q 'built 1[0-9] requests from 6 documents' build.err
check "every line passes input-strict, custom_ids unique" validate input-strict docs.jsonl
/usr/bin/python3 - "$D" docs.jsonl > check.out <<'EOF'
import csv, json, re, sys
d, path = sys.argv[1], sys.argv[2]
lines = [json.loads(l) for l in open(path, encoding="utf-8")]
user = {l["custom_id"]: l["body"]["messages"][1]["content"] for l in lines}
guide = [l["custom_id"] for l in lines if l["custom_id"].startswith("guide#")]
m = len(guide)
print("chunks", m >= 4 and guide == [f"guide#{n}/{m}" for n in range(1, m + 1)])
texts = [user[c].split(" ", 1)[1] for c in guide]
print("sizes", all(len(t.encode()) <= 400 for t in texts))
norm = lambda s: " ".join(s.split())
print("rejoined", norm(" ".join(texts)) == norm(open(f"{d}/guide.md").read()))
print("prefixes", all(user[c].startswith(f"P{n}/{m} ") for n, c in enumerate(guide, 1)))
rows = list(csv.DictReader(open(f"{d}/hostile.csv", newline="", encoding="utf-8")))
print("csv", all(user[f"hostile-{r['id']}#1/1"] == "P1/1 " + r["text"] for r in rows))
recs = [json.loads(l) for l in open(f"{d}/recs.jsonl", encoding="utf-8") if l.strip()]
print("jsonl", all(user[f"recs-{r['id']}#1/1"] == "P1/1 " + r["text"] for r in recs))
print("system", lines[0]["body"]["messages"][0]["content"] == "Summarise a part of guide (guide.md).")
EOF
check "the Markdown guide is several chunks, guide#1/M to guide#M/M" grep -qx 'chunks True' check.out
check "no chunk is over --chunk bytes" grep -qx 'sizes True' check.out
check "the chunks put back together are the document" grep -qx 'rejoined True' check.out
check "{{chunk}}/{{chunks}} number the chunks" grep -qx 'prefixes True' check.out
check "CSV fields (quotes, commas, CRLF, non-ASCII) survive exactly" grep -qx 'csv True' check.out
check "JSONL fields (tab, quotes, backslash, control, emoji) survive exactly" grep -qx 'jsonl True' check.out
check "{{document}} and {{file}}" grep -qx 'system True' check.out

spoolctl -d "$SPOOL" build -t tmpl.json --chunk 400 --key id --submit \
    --batch docs "$D/guide.md" "$D/hostile.csv" "$D/recs.jsonl" > submit.out 2>&1
check "build --submit delivers new/docs.jsonl" grep -q 'as new/docs.jsonl' submit.out
check "the delivered batch is the one -o wrote" cmp -s docs.jsonl "$SPOOL/new/docs.jsonl"

# A second batch in which one record fails for good (the mock's fail-400).
printf '%s\n' '{"model":"{{model}}","messages":[{"role":"user","content":"{{text}}"}]}' > tmpl2.json
printf '%s\n' '{"id":"good","text":"fine","model":"mock-1"}' \
    '{"id":"bad","text":"doomed","model":"fail-400"}' > fails.jsonl
spoolctl -d "$SPOOL" build -t tmpl2.json --key id --submit fails.jsonl >/dev/null 2>&1
check "build --submit names the batch after the first document" test -f "$SPOOL/new/fails.jsonl"

timeout 120 spoold -d "$SPOOL" -e "$MOCK_URL" --once 2>>spoold.log
check "spoold --once runs both batches" test $? = 0 -a -f "$SPOOL/results/docs/manifest.json" -a -f "$SPOOL/results/fails/manifest.json"

spoolctl -d "$SPOOL" collect -o out docs > collect.out 2>collect.err
check "collect exits 0 when every chunk succeeded" test $? = 0
check "one file per document" test "$(ls out | tr '\n' ' ')" = "guide.txt hostile-r1.txt hostile-r2.txt hostile-r3.txt recs-j1.txt recs-j2.txt "
/usr/bin/python3 - out > collected.out <<'EOF'
import re, sys
d = sys.argv[1]
g = open(f"{d}/guide.txt", encoding="utf-8").read()
nums = [int(n) for n in re.findall(r"^mock reply to: P(\d+)/", g, re.M)]
print("order", len(nums) >= 4 and nums == list(range(1, len(nums) + 1)))
h = open(f"{d}/hostile-r2.txt", encoding="utf-8", newline="").read()
print("hostile", "back\\slash and\r\na new line, Gr\u00fc\u00dfe" in h)
j = open(f"{d}/recs-j1.txt", encoding="utf-8").read()
print("jsonl", "tab\there \"quoted\" \\ back \u0001 ctrl \u00e9" in j)
EOF
check "the guide's replies are in chunk order" grep -qx 'order True' collected.out
check "hostile CSV text comes back in the collected file" grep -qx 'hostile True' collected.out
check "hostile JSONL text comes back in the collected file" grep -qx 'jsonl True' collected.out

spoolctl -d "$SPOOL" collect fails > fails.out 2>fails.err
check "collect exits 1 when a chunk failed" test $? = 1
check "the failed chunk is marked in its document" grep -q '^\[chunk 1/1 failed: ' fails.collected/fails-bad.txt
check "the other document is whole, in the default ./BATCH.collected" grep -q '^mock reply to: fine' fails.collected/fails-good.txt

E=$SPOOLD_SRC/examples
spoolctl build -t "$E/sentiment/template.json" --key id "$E/sentiment/fortune.jsonl" 2>/dev/null |
    cmp -s - "$E/sentiment/posts.jsonl"
check "examples/sentiment/posts.jsonl is what spoolctl build makes" test $? = 0
spoolctl build -t "$E/marketing/email.json" --key id "$E/marketing/customers.csv" 2>/dev/null |
    cmp -s - "$E/marketing/emails.jsonl"
check "examples/marketing/emails.jsonl is what spoolctl build makes" test $? = 0

printf 'id,text\n1,"never closed\n2,x\n' > bad.csv
spoolctl build -t tmpl.json bad.csv > /dev/null 2>bad.err
check "a CSV quote left open: exit 65, FILE:LINE" test $? = 65 -a "$(cut -d: -f2-3 bad.err)" = " bad.csv:2"
done_testing
