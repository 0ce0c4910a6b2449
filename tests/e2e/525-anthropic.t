#!/bin/sh
# Anthropic Message Batches lines ({"custom_id","params"}) go to the
# first endpoint of type anthropic, at /v1/messages, with x-api-key from
# an owner-only api_key_file; OpenAI lines of the same batch go to the
# default endpoint.  A key file others may read is refused at the start,
# and the key is written nowhere.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 11
install_prefix
start_mock
spoolctl -d "$SPOOL" init >/dev/null
KEY=sk-ant-e2e-$(date +%s)-secret
printf '%s\n' "$KEY" > "$TRASH/key"
chmod 600 "$TRASH/key"
cat > "$TRASH/spoold.conf" <<EOC
[endpoint claude]
type = anthropic
base_url = $MOCK_URL
api_key_file = $TRASH/key
[retry]
max_attempts = 2
backoff_base = 100ms
backoff_max = 200ms
EOC
B=$TRASH/mixed.jsonl
for i in 1 2 3; do
	printf '{"custom_id":"ant-%s","params":{"model":"claude-test","max_tokens":64,"messages":[{"role":"user","content":"hello %s"}]}}\n' $i $i
done > "$B"
# The provider overloaded (529, retried) and a bad request (400, not).
for m in fail-529 fail-400; do
	printf '{"custom_id":"ant-%s","params":{"model":"%s","max_tokens":64,"messages":[{"role":"user","content":"x"}]}}\n' $m $m
done >> "$B"
make_batch 2 "$TRASH/oai.jsonl"
cat "$TRASH/oai.jsonl" >> "$B"
drop "$B"
timeout 120 spoold -c "$TRASH/spoold.conf" -d "$SPOOL" -e "$MOCK_URL" --once \
    2>"$TRASH/spoold.log"
rc=$?
R=$SPOOL/results/mixed
check "--once exits 0" test $rc = 0
check "7 results" test "$(cat "$R/output.jsonl" "$R/errors.jsonl" | wc -l)" = 7
body_of() {
	python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d["custom_id"] == sys.argv[2]:
        b = d["response"]["body"]
        print(d["response"]["status_code"], b.get("type") or b.get("object"))' \
	    "$R/output.jsonl" "$1"
}
check "an Anthropic line got a Messages reply" test "$(body_of ant-2)" = "200 message"
check "an OpenAI line got a chat completion" test "$(body_of req-1)" = "200 chat.completion"
check "the mock served /v1/messages" grep -q "ant-1 200" "$TRASH/mock.log"
check "529 overloaded is retried, 400 is not" test \
    "$(grep -c '^ant-fail-529 529' "$TRASH/mock.log"):$(grep -c '^ant-fail-400 400' "$TRASH/mock.log")" = 2:1
check "the record keeps Anthropic's error body" python3 -c '
import json, sys
for f in sys.argv[1:]:
    for l in open(f):
        d = json.loads(l)
        if d["custom_id"] == "ant-fail-529":
            b = d["response"]["body"]
            assert d["response"]["status_code"] == 529, d
            assert b["type"] == "error" and b["error"]["type"] == "overloaded_error", b
            sys.exit(0)
sys.exit(1)' "$R/output.jsonl" "$R/errors.jsonl"
check "output passes the OpenAI batch schema" validate output-strict "$R/output.jsonl"
check "the manifest sums the usage of both kinds" test \
    "$(json "$R/manifest.json" "d['usage']['total_tokens'] > 0")" = True
check "the key is in no file spoold wrote" sh -c \
    '! grep -r -q -F "$1" "$2" "$3"' sh "$KEY" "$SPOOL" "$TRASH/spoold.log"
chmod 640 "$TRASH/key"
spoold -c "$TRASH/spoold.conf" -d "$SPOOL" --check-config 2>"$TRASH/check.log"
rc=$?
check "a group-readable key file is refused" test $rc != 0 -a \
    "$(grep -c 'readable by its owner only' "$TRASH/check.log")" = 1
done_testing
