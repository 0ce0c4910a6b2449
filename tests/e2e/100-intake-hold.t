#!/bin/sh
# Files that look truncated are held in new/, not processed and not
# failed, until they change or spool.incomplete_after passes.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 10
install_prefix
start_mock
spoolctl -d "$SPOOL" init >/dev/null
N=$SPOOL/new
printf '[spool]\nsettle = 300ms\nrescan = 200ms\nincomplete_after = 5s\n' > "$TRASH/hold.conf"
start_spoold -c "$TRASH/hold.conf"
make_batch 10 "$TRASH/cut.jsonl"
make_batch 10 "$TRASH/old.jsonl" mock-old
# An interrupted scp: the last line cut off, under the final name.
{ head -n 5 "$TRASH/cut.jsonl"; sed -n 6p "$TRASH/cut.jsonl" | head -c 40; } > "$N/cut.jsonl"
# rsync --partial marks a cut-off file with an mtime of 1970.
cp "$TRASH/old.jsonl" "$N/old.jsonl"
touch -d '1970-01-01 00:00:10' "$N/old.jsonl"
# A .json that does not parse whole.
printf '{"model":"m","messages":[{"role":"user"' > "$N/half.json"
check "a cut-off .jsonl is held and logged" wait_for 10 grep -q 'cut.jsonl looks truncated' "$TRASH/spoold.log"
check "a file with an mtime of 1970 is held" wait_for 10 grep -q 'old.jsonl looks truncated' "$TRASH/spoold.log"
check "held files stay in new/" test -f "$N/cut.jsonl" -a -f "$N/old.jsonl" -a ! -e "$SPOOL/results/cut"
# The transfer resumes and completes: the file changes and is taken.
cat "$TRASH/cut.jsonl" > "$N/cut.jsonl"
touch "$N/old.jsonl"
check "once complete it is processed" wait_for 20 test -f "$SPOOL/results/cut/manifest.json"
check "with all its requests" test "$(lines "$SPOOL/results/cut/output.jsonl")" = 10
check "a 1970 file whose mtime is fixed is processed" wait_for 20 test -f "$SPOOL/results/old/manifest.json"
check "one that stays truncated goes to failed/ after incomplete_after" wait_for 20 test -f "$SPOOL/failed/half.json.error.json"
check "with the reason" grep -q 'incomplete_file' "$SPOOL/failed/half.json.error.json"
kill -TERM "$SPOOLD_PID"; wait "$SPOOLD_PID"
# spoold --once does not wait for a held file: it exits 75, work left.
printf '{"model":"m","messages":[' > "$N/later.json"
timeout 60 spoold -c "$TRASH/hold.conf" -d "$SPOOL" -e "$MOCK_URL" --once 2>>"$TRASH/spoold.log"
check "--once with only a held file left exits 75" test $? = 75
check "and leaves it in new/" test -f "$N/later.json"
done_testing
