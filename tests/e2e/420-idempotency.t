#!/bin/sh
# A drop whose content was already processed is not run again; --force
# runs it; new content under a taken name becomes NAME.2.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 8
install_prefix
start_mock
spoolctl -d "$SPOOL" init >/dev/null
make_batch 20 "$TRASH/job.jsonl"
once() { timeout 120 spoold -d "$SPOOL" -e "$MOCK_URL" --once 2>>"$TRASH/spoold.log"; }
drop "$TRASH/job.jsonl"
once
check "first drop runs" test -f "$SPOOL/results/job/manifest.json"
drop "$TRASH/job.jsonl"
once
check "the same content again is not run" test "$(grep -c '^req-' "$TRASH/mock.log")" = 20
check "it goes to done/" test -f "$SPOOL/done/job.2.jsonl" -a ! -e "$SPOOL/results/job.2/manifest.json"
check "the log says why" grep -q 'same content' "$TRASH/spoold.log"
spoolctl -d "$SPOOL" submit --force "$TRASH/job.jsonl" >/dev/null
once
check "--force runs it again" test "$(grep -c '^req-' "$TRASH/mock.log")" = 40
check "the .force marker is consumed" test ! -e "$SPOOL/new/job.force"
make_batch 5 "$TRASH/job.jsonl"
drop "$TRASH/job.jsonl"
once
last=$(ls -d "$SPOOL"/results/job.* | sort -t. -k2 -n | tail -1)
check "new content under a taken name gets a new id" test -f "$last/manifest.json" -a "$(lines "$last/output.jsonl")" = 5
check "nothing left in processing/" test -z "$(ls "$SPOOL/processing")"
done_testing
