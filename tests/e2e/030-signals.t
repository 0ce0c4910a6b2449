#!/bin/sh
# SIGTERM drains and exits 0; a restart finishes what was left.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 6
install_prefix
start_mock --latency 200
spoolctl -d "$SPOOL" init >/dev/null
make_batch 2000 "$TRASH/slow.jsonl"
printf "[workers]\ninflight = 50\n" > "$TRASH/small.conf"
start_spoold -w 2 -c "$TRASH/small.conf"
drop "$TRASH/slow.jsonl"
R=$SPOOL/results/slow
check "batch is running" wait_for 20 test -s "$R/output.jsonl"
kill -TERM "$SPOOLD_PID"
wait "$SPOOLD_PID"
rc=$?
check "SIGTERM exits 0" test $rc = 0
check "the unfinished batch stays claimed in processing/" test -f "$SPOOL/processing/slow.jsonl"
check "no worker left behind" test -z "$(pgrep -P "$SPOOLD_PID" 2>/dev/null)"
timeout 120 spoold -d "$SPOOL" -e "$MOCK_URL" --once 2>>"$TRASH/spoold.log"
check "restart with --once finishes it" test -f "$R/manifest.json"
cat "$R/output.jsonl" "$R/errors.jsonl" | cut -d'"' -f8 | sort | uniq -d > "$TRASH/dups"
check "every custom_id exactly once" test "$(cat "$R/output.jsonl" "$R/errors.jsonl" | wc -l)" = 2000 -a ! -s "$TRASH/dups"
done_testing
