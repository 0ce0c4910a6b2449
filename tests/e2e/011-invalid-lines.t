#!/bin/sh
# Validation before spend: bad lines are reported with their line numbers
# and never sent; permanent HTTP errors and retries end in errors.jsonl.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 10
install_prefix
start_mock
spoolctl -d "$SPOOL" init >/dev/null
L='"method":"POST","url":"/v1/chat/completions","body":{"model":"MODEL","messages":[{"role":"user","content":"x"}]}'
{
	echo "{\"custom_id\":\"good-1\",$L}"
	echo '{"custom_id":"broken", "method":'
	echo "{\"custom_id\":\"good-1\",$L}"
	echo "{\"custom_id\":\"evil\",\"method\":\"POST\",\"url\":\"https://evil.example/v1/chat/completions\",\"body\":{}}"
	echo "{\"custom_id\":\"streamy\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"stream\":true}}"
	echo ""
	echo "{\"custom_id\":\"perm\",$L}" | sed 's/MODEL/fail-400/'
	echo "{\"custom_id\":\"flaky\",$L}" | sed 's/MODEL/flaky-2/'
	echo "{\"custom_id\":\"good-2\",$L}"
} | sed 's/MODEL/mock-1/' > "$TRASH/mixed.jsonl"
printf '[retry]\nbackoff_base = 50ms\nbackoff_max = 200ms\n' > "$TRASH/fast.conf"
drop "$TRASH/mixed.jsonl"
timeout 120 spoold -c "$TRASH/fast.conf" -d "$SPOOL" -e "$MOCK_URL" --once 2>"$TRASH/spoold.log"
R=$SPOOL/results/mixed
check "--once exits 0" test $? = 0 -a -f "$R/manifest.json"
check "3 successes (good-1, flaky after retries, good-2)" test "$(lines "$R/output.jsonl")" = 3
check "5 errors" test "$(lines "$R/errors.jsonl")" = 5
check "errors pass output-strict" validate output-strict "$R/errors.jsonl"
check "broken JSON reported with its line number" grep -q '"custom_id":"broken".*line 2' "$R/errors.jsonl"
check "duplicate custom_id rejected" grep -q 'duplicate_custom_id' "$R/errors.jsonl"
check "a full URL is refused" grep -q '"custom_id":"evil".*not an allowed API path' "$R/errors.jsonl"
check "invalid lines were never sent" test -z "$(grep -E '^(broken|evil|streamy) ' "$TRASH/mock.log")"
check "a permanent 400 is sent once" test "$(grep -c '^perm ' "$TRASH/mock.log")" = 1
check "status.json lists validation errors by line" test "$(json "$R/status.json" '[e["line"] for e in d["errors"]["data"]]')" = "[2, 3, 4, 5]"
done_testing
