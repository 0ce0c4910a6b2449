#!/bin/sh
# Per-endpoint rpm shared by all workers: the mock (which answers 429
# above its own rpm over a sliding minute) sees no more than the limit,
# and the achieved rate is near it.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 4
install_prefix
start_mock --rpm 1200
spoolctl -d "$SPOOL" init >/dev/null
printf '[endpoint default]\nrpm = 1200\n' > "$TRASH/rpm.conf"
make_batch 150 "$TRASH/paced.jsonl"
drop "$TRASH/paced.jsonl"
t0=$(date +%s.%N)
timeout 120 spoold -c "$TRASH/rpm.conf" -w 2 -d "$SPOOL" -e "$MOCK_URL" --once 2>"$TRASH/spoold.log"
rc=$?
t1=$(date +%s.%N)
secs=$(echo "$t1 $t0" | awk '{ printf "%.1f", $1 - $2 }')
rate=$(echo "$secs" | awk '{ printf "%.0f", 150 / $1 * 60 }')
diag "150 requests in $secs s: $rate per minute (limit 1200)"
check "--once exits 0 with every request done" test $rc = 0 -a "$(lines "$SPOOL/results/paced/output.jsonl")" = 150
check "no 429 from the mock" test "$(grep -c ' 429$' "$TRASH/mock.log")" = 0
check "never above the limit" test "$rate" -le 1260
check "at least 70 % of the limit (startup included)" test "$rate" -ge 840
done_testing
