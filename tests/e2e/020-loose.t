#!/bin/sh
# Loose .json drops, temp names, in-place writes, bad files, --once.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 12
install_prefix
start_mock
spoolctl -d "$SPOOL" init >/dev/null
N=$SPOOL/new
for i in 1 2 3; do
	printf '{"model":"m","messages":[{"role":"user","content":"q%s"}]}\n' $i > "$TRASH/q$i.json"
	drop "$TRASH/q$i.json"
done
printf '{"custom_id":"full-1","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"full"}]}}' > "$TRASH/f.json"
drop "$TRASH/f.json"
printf '{"model":"m","messages":[{"role":"user","content":"hidden"}]}\n' > "$N/.hidden.json"
printf '{"model":"m","messages":[{"role":"user","content":"part"}]}\n' > "$N/upload.json.part"
printf 'not json at all\n' > "$TRASH/bad.jsonl"
drop "$TRASH/bad.jsonl"
printf 'x' > "$TRASH/weird.txt"
drop "$TRASH/weird.txt"
# Written in place, not renamed: taken only after it settles.
printf '{"model":"m","messages":[{"role":"user","content":"inplace"}]}\n' > "$N/inplace.json"
cat > "$TRASH/spoold.conf" <<EOC
[spool]
settle = 1s
[batch]
max_age = 30s
EOC
timeout 300 $VALGRIND spoold -c "$TRASH/spoold.conf" -d "$SPOOL" -e "$MOCK_URL" --once 2>"$TRASH/spoold.log"
rc=$?
check "--once exits 0 when done" test $rc = 0
R=$(ls -d "$SPOOL"/results/loose-* 2>/dev/null | head -1)
check "a rolling loose- batch was written" test -n "$R" -a -f "$R/manifest.json"
check "it holds the 5 loose requests" test "$(json "$R/manifest.json" 'd["request_counts"]["completed"]')" = 5
for id in q1 q2 q3 full-1 inplace; do
	[ -f "$R/$id.json" ] || missing="${missing:-} $id"
done
check "one result file per request" test -z "${missing:-}"
check "per-request file is an output line" validate output-strict "$R/q1.json"
check "dotted temp file ignored" test -f "$N/.hidden.json"
check ".part file ignored" test -f "$N/upload.json.part"
check "invalid JSONL in failed/ with error" test -f "$SPOOL/failed/bad.jsonl" -a -f "$SPOOL/failed/bad.jsonl.error.json"
check "error sidecar names the line" grep -q 'line 1' "$SPOOL/failed/bad.jsonl.error.json"
check "unknown suffix in failed/" test -f "$SPOOL/failed/weird.txt.error.json"
check "nothing left in processing/" test -z "$(ls "$SPOOL/processing")"
mv "$N/.hidden.json" "$N/hidden.json"
timeout 300 $VALGRIND spoold -c "$TRASH/spoold.conf" -d "$SPOOL" -e "$MOCK_URL" --once 2>>"$TRASH/spoold.log"
check "renamed temp file is taken on the next run" test -z "$(ls "$N" | grep -v part)"
done_testing
