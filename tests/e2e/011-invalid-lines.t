#!/bin/sh
# Validation before spend: bad lines are reported with their line numbers
# and never sent; permanent HTTP errors and retries end in errors.jsonl.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 15
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

# A long batch is validated in steps while its first requests are out:
# a duplicate of line 10 at line 1500 and a broken line at 3000 are
# still caught, and the batch completes only after the last line.
awk -v L="$L" 'BEGIN { for (i = 1; i <= 3500; i++) {
	id = (i == 1500) ? 10 : i
	if (i == 3000) print "{\"custom_id\":\"torn\","
	else printf "{\"custom_id\":\"r%d\",%s}\n", id, L } }' |
    sed 's/MODEL/mock-1/' > "$TRASH/long.jsonl"
drop "$TRASH/long.jsonl"
timeout 120 spoold -c "$TRASH/fast.conf" -d "$SPOOL" -e "$MOCK_URL" --once 2>"$TRASH/spoold2.log"
R=$SPOOL/results/long
check "long batch: --once exits 0" test $? = 0 -a -f "$R/manifest.json"
check "long batch: 3498 sent and answered" test "$(lines "$R/output.jsonl")" = 3498
check "long batch: the late duplicate and the torn line are errors" \
    test "$(grep -c 'duplicate_custom_id.*line 1500' "$R/errors.jsonl")" = 1 -a \
    "$(grep -c 'line 3000' "$R/errors.jsonl")" = 1
check "long batch: counted whole in the log" \
    grep -q 'batch=long 3500 requests, 2 invalid' "$TRASH/spoold2.log"
check "long batch: and in the manifest" \
    test "$(json "$R/manifest.json" 'd["request_counts"]["total"]')" = 3500
done_testing
