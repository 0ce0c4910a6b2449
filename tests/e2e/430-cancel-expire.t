#!/bin/sh
# Cancel (BATCH.cancel or spoolctl cancel) and expiry: in-flight requests
# finish, the rest is reported batch_cancelled / batch_expired.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 12
install_prefix
start_mock --latency 100
spoolctl -d "$SPOOL" init >/dev/null
printf '[workers]\ninflight = 10\n[spool]\nrescan = 1s\n' > "$TRASH/slow.conf"
make_batch 1000 "$TRASH/big.jsonl"
start_spoold -w 1 -c "$TRASH/slow.conf"
drop "$TRASH/big.jsonl"
R=$SPOOL/results/big
check "batch is running" wait_for 20 test -s "$R/output.jsonl"
spoolctl -d "$SPOOL" cancel big >/dev/null
check "cancelled batch finishes" wait_for 30 test -f "$R/manifest.json"
check "manifest status cancelled" test "$(json "$R/manifest.json" 'd["status"]')" = cancelled
check "status.json says cancelled" test "$(json "$R/status.json" 'd["status"]')" = cancelled
check "the rest is batch_cancelled" grep -q '"code":"batch_cancelled"' "$R/errors.jsonl"
cat "$R/output.jsonl" "$R/errors.jsonl" | cut -d'"' -f8 | sort > "$TRASH/ids"
check "every request exactly once" test "$(wc -l < "$TRASH/ids")" = 1000 -a -z "$(uniq -d "$TRASH/ids")"
check "cancelled requests were not sent" test "$(wc -l < "$TRASH/mock.log")" -lt 1000
check "errors pass output-strict" validate output-strict "$R/errors.jsonl"
check "the .cancel file went to done/" test -f "$SPOOL/done/big.cancel" -a ! -e "$SPOOL/new/big.cancel"
kill -TERM "$SPOOLD_PID"; wait "$SPOOLD_PID"
printf '[workers]\ninflight = 10\n[batch]\ncompletion_window = 2s\n' > "$TRASH/expire.conf"
make_batch 1000 "$TRASH/late.jsonl" mock-late
drop "$TRASH/late.jsonl"
timeout 120 spoold -w 1 -c "$TRASH/expire.conf" -d "$SPOOL" -e "$MOCK_URL" --once 2>>"$TRASH/spoold.log"
R=$SPOOL/results/late
check "an expired batch finishes" test "$(json "$R/manifest.json" 'd["status"]')" = expired
check "the rest is batch_expired" grep -q '"code":"batch_expired"' "$R/errors.jsonl"
check "expired: every request exactly once" test "$(cat "$R/output.jsonl" "$R/errors.jsonl" | wc -l)" = 1000
done_testing
