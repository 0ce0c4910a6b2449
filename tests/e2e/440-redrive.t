#!/bin/sh
# Requests that finally failed go to failed/BATCH.failed.jsonl in the
# input format; spoolctl retry runs exactly those again.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 6
install_prefix
start_mock
spoolctl -d "$SPOOL" init >/dev/null
L='"method":"POST","url":"/v1/chat/completions","body":{"model":"MODEL","messages":[{"role":"user","content":"x"}]}'
{
	for i in 1 2 3; do echo "{\"custom_id\":\"ok-$i\",$L}" | sed 's/MODEL/mock-1/'; done
	# flaky-1: the first attempt fails with 500; one attempt allowed.
	for i in 1 2; do echo "{\"custom_id\":\"flaky-$i\",\"max_attempts\":1,$L}" | sed 's/MODEL/flaky-1/'; done
	echo '{"custom_id":"broken",'
} > "$TRASH/mix.jsonl"
drop "$TRASH/mix.jsonl"
once() { timeout 120 spoold -d "$SPOOL" -e "$MOCK_URL" --once 2>>"$TRASH/spoold.log"; }
once
F=$SPOOL/failed/mix.failed.jsonl
check "failed requests are dead-lettered" test -f "$F" -a -f "$F.error.json"
check "exactly the two sent-and-failed requests, not the invalid line" test "$(cut -d'"' -f4 "$F" | sort | tr '\n' ' ')" = "flaky-1 flaky-2 "
check "lines are the original input lines" test "$(grep -c max_attempts "$F")" = 2
spoolctl -d "$SPOOL" retry mix >/dev/null
check "spoolctl retry moved it into new/" test ! -e "$F" -a ! -e "$F.error.json"
once
R=$SPOOL/results/mix.failed
check "the redrive ran exactly those" test "$(lines "$R/output.jsonl")" = 2 -a "$(lines "$R/errors.jsonl")" = 0
check "and left no new dead letter" test ! -e "$SPOOL/failed/mix.failed.failed.jsonl"
done_testing
