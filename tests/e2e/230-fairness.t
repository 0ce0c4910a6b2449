#!/bin/sh
# Open batches are served round-robin: a small batch dropped after a
# large one finishes long before it.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 3
install_prefix
start_mock --latency 50
spoolctl -d "$SPOOL" init >/dev/null
printf '[workers]\ninflight = 20\n' > "$TRASH/fair.conf"
make_batch 3000 "$TRASH/large.jsonl"
make_batch 10 "$TRASH/small.jsonl" mock-small
start_spoold -w 1 -c "$TRASH/fair.conf"
drop "$TRASH/large.jsonl"
wait_for 20 test -s "$SPOOL/results/large/output.jsonl"
drop "$TRASH/small.jsonl"
check "the small batch finishes" wait_for 60 test -f "$SPOOL/results/small/manifest.json"
done_large=$(lines "$SPOOL/results/large/output.jsonl")
diag "the large batch had $done_large of 3000 done when the small one finished"
check "long before the large one" test ! -f "$SPOOL/results/large/manifest.json" -a "$done_large" -lt 1500
check "the large one still completes" wait_for 120 test -f "$SPOOL/results/large/manifest.json"
done_testing
