#!/bin/sh
# State that must survive kill -9: attempt counts are durable (a restart
# does not grant a request new attempts) and a torn last result line is
# repaired at recovery.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 7
install_prefix
start_mock
spoolctl -d "$SPOOL" init >/dev/null
printf '[retry]\nbackoff_base = 2s\nbackoff_max = 2s\n' > "$TRASH/slow-retry.conf"
make_batch 20 "$TRASH/state.jsonl"
# flaky-5: the first five requests fail with 500; three attempts allowed.
echo '{"custom_id":"stubborn","max_attempts":3,"method":"POST","url":"/v1/chat/completions","body":{"model":"flaky-5","messages":[{"role":"user","content":"x"}]}}' >> "$TRASH/state.jsonl"
# slow-8000: in flight for 8 s, so the batch cannot finish before the
# kill below, whatever the retry backoff draws.
echo '{"custom_id":"sleepy","method":"POST","url":"/v1/chat/completions","body":{"model":"slow-8000","messages":[{"role":"user","content":"x"}]}}' >> "$TRASH/state.jsonl"
start_spoold -c "$TRASH/slow-retry.conf"
drop "$TRASH/state.jsonl"
R=$SPOOL/results/state
two_attempts() { [ "$(cat "$R/.attempts" 2>/dev/null | wc -l)" -ge 2 ]; }
check "two failed attempts are journaled" wait_for 30 two_attempts
kill -KILL "$SPOOLD_PID"
wait "$SPOOLD_PID" 2>/dev/null
wait_for 10 sh -c "! pgrep -f 'spoold --worker' >/dev/null"
check "the batch was unfinished at the kill" test ! -f "$R/manifest.json"
# A crash in the middle of an append leaves half a line.
printf '{"id":"batch_req_torn","custom_id":"req-' >> "$R/output.jsonl"
timeout 60 spoold -c "$TRASH/slow-retry.conf" -d "$SPOOL" -e "$MOCK_URL" --once 2>>"$TRASH/spoold.log"
check "restart finishes the batch" test $? = 0 -a -f "$R/manifest.json"
sent=$(grep -c '^stubborn ' "$TRASH/mock.log")
diag "stubborn was sent $sent times (3 allowed; 4 if the last was in flight at the kill)"
check "the restart did not grant new attempts" test "$sent" -ge 3 -a "$sent" -le 4
check "after its attempts it failed" grep -q '"custom_id":"stubborn"' "$R/errors.jsonl"
check "the torn line was cut off: output passes output-strict" validate output-strict "$R/output.jsonl"
check "21 results (20 + sleepy), each once" test "$(lines "$R/output.jsonl")" = 21 -a "$(cut -d'"' -f8 "$R/output.jsonl" | sort -u | wc -l)" = 21
done_testing
