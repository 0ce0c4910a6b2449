#!/bin/sh
# SIGHUP reloads the configuration: a raised rate limit takes effect on
# a running batch without losing or repeating a request; an invalid
# configuration, or one that removes an endpoint, is refused and the
# running one kept; the log level follows.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 9
install_prefix
start_mock
spoolctl -d "$SPOOL" init >/dev/null
CONF=$TRASH/spoold.conf
printf '[endpoint default]\nrpm = 120\n' > "$CONF"
start_spoold -c "$CONF"
make_batch 40 "$TRASH/slow.jsonl"
drop "$TRASH/slow.jsonl"
R=$SPOOL/results/slow
claimed() { [ -f "$R/status.json" ]; }
wait_for 20 claimed
sleep 3
n=$(lines "$R/output.jsonl" 2>/dev/null || echo 0)
diag "done after 3 s at 120 rpm: $n"
check "paced at 2 per second before the reload" test "$n" -le 10

printf '[endpoint default]\nrpm = 60000\n[log]\nlevel = debug\n' > "$CONF"
kill -HUP "$SPOOLD_PID"
finished() { [ -f "$R/manifest.json" ]; }
t0=$(date +%s)
wait_for 30 finished
t1=$(date +%s)
diag "the other $((40 - n)) requests took $((t1 - t0)) s after the reload"
check "the raised limit takes effect at once" test $((t1 - t0)) -le 8
check "every request done exactly once" test "$(python3 -c '
import json, sys
ids = [json.loads(l)["custom_id"] for l in open(sys.argv[1])]
print(len(ids) == 40 and len(set(ids)) == 40)' "$R/output.jsonl")" = True
check "the reload is logged" grep -q 'configuration reloaded' "$TRASH/spoold.log"
printf '{"model":"m","messages":[{"role":"user","content":"hi"}]}' > "$TRASH/q.json"
drop "$TRASH/q.json"
debug_line() { grep -q '^<7>.*took q.json' "$TRASH/spoold.log"; }
check "the new log level is in force" wait_for 10 debug_line

printf '[endpoint default]\nrpm = banana\n' > "$CONF"
kill -HUP "$SPOOLD_PID"
refused() { grep -q 'reload refused.*rpm' "$TRASH/spoold.log"; }
check "an invalid configuration is refused" wait_for 10 refused
printf '[endpoint default]\nbase_url = %s\n[endpoint other]\nbase_url = http://127.0.0.1:1\n' "$MOCK_URL" > "$CONF"
# (the default endpoint cannot go; "other" is new: accepted)
kill -HUP "$SPOOLD_PID"
added() { [ "$(grep -c 'configuration reloaded' "$TRASH/spoold.log")" -ge 2 ]; }
check "a new endpoint may be added" wait_for 10 added
printf '[endpoint default]\nbase_url = %s\n' "$MOCK_URL" > "$CONF"
kill -HUP "$SPOOLD_PID"
removed() { grep -q 'reload refused.*endpoint other' "$TRASH/spoold.log"; }
check "removing an endpoint is refused" wait_for 10 removed
make_batch 5 "$TRASH/after.jsonl"
drop "$TRASH/after.jsonl"
after() { [ -f "$SPOOL/results/after/manifest.json" ]; }
check "still serving with the kept configuration" wait_for 30 after
done_testing
