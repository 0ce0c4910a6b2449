#!/bin/sh
# An endpoint's max_inflight below what the workers could hold: the
# window is the limit, and a place freed by a result is filled at once,
# not after a timer (it used to wait 50 ms in the retry heap: 2,000
# in flight with workers for 2,048 ran at 75 % of the rate).
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 3
install_prefix
start_mock --latency 20
spoolctl -d "$SPOOL" init >/dev/null
# (A short settle: the drop, made before the start, is claimed at once.)
printf '[spool]\nsettle = 100ms\n[workers]\ninflight = 64\n[endpoint default]\nmax_inflight = 4\n' \
    > "$TRASH/window.conf"
make_batch 400 "$TRASH/narrow.jsonl"
drop "$TRASH/narrow.jsonl"
t0=$(date +%s.%N)
timeout 120 spoold -c "$TRASH/window.conf" -w 2 -d "$SPOOL" -e "$MOCK_URL" \
    --once 2>"$TRASH/spoold.log"
rc=$?
t1=$(date +%s.%N)
curl -s "$MOCK_URL/stats" > "$TRASH/stats.json"
secs=$(echo "$t1 $t0" | awk '{ printf "%.2f", $1 - $2 }')
# 400 requests, 4 at a time, 20 ms each: 2 s at best; 7 s with a
# 50 ms wait per round.  (Start, settle and finish add about 0.2 s.)
diag "400 requests 4 at a time in $secs s (2 s at best)"
check "--once exits 0 with every request done" test $rc = 0 -a \
    "$(lines "$SPOOL/results/narrow/output.jsonl")" = 400
check "the mock never saw more than 4 at once" \
    test "$(json "$TRASH/stats.json" 'd["peak_in_progress"]')" -le 4
check "no place waits for a timer: under 4 s" \
    awk -v s="$secs" 'BEGIN { exit !(s < 4) }'
done_testing
