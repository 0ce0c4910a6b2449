#!/bin/sh
# schedule.active_hours: outside the windows nothing is dispatched,
# spoold --once exits 75 with the work kept, spoolctl status says when
# dispatch resumes; a reload to a window that includes now lets it go.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 7
install_prefix
TZ=UTC
export TZ
start_mock
spoolctl -d "$SPOOL" init >/dev/null
# A one-minute window that starts in 90 to 150 s (whole minutes): closed
# now, and for the whole test (it takes seconds, more under ASan).
W=$(python3 -c '
import time
t = time.gmtime(time.time() + 150)
u = time.gmtime(time.time() + 210)
print("%02d:%02d-%02d:%02d" % (t.tm_hour, t.tm_min, u.tm_hour, u.tm_min))')
CONF=$TRASH/spoold.conf
printf '[schedule]\nactive_hours = %s\n' "$W" > "$CONF"
make_batch 10 "$TRASH/night.jsonl"
drop "$TRASH/night.jsonl"
timeout 60 spoold -c "$CONF" -d "$SPOOL" -e "$MOCK_URL" --once \
    2>"$TRASH/once.log"
rc=$?
check "--once outside the active hours exits 75" test $rc = 75
check "nothing was sent" test ! -s "$TRASH/mock.log"
spoolctl -d "$SPOOL" status > "$TRASH/status.txt"
check "status says when dispatch resumes" grep -q \
    "dispatch paused outside the active hours ($W); resumes .*UTC" \
    "$TRASH/status.txt"
spoolctl -d "$SPOOL" status --json > "$TRASH/status.json"
check "status --json carries the schedule" python3 -c '
import json, sys, time
d = json.load(open(sys.argv[1]))["schedule"]
assert d["dispatching"] is False and d["active_hours"] == sys.argv[2]
assert 30 <= d["next_change"] - time.time() <= 150, d' "$TRASH/status.json" "$W"

start_spoold -c "$CONF"
sleep 3
check "the daemon holds the work outside the window" test ! -s "$TRASH/mock.log"
printf '[schedule]\nactive_hours = 00:00-24:00\n' > "$CONF"
kill -HUP "$SPOOLD_PID"
finished() { [ -f "$SPOOL/results/night/manifest.json" ]; }
check "inside the window it is dispatched" wait_for 30 finished
check "all 10 done" test "$(lines "$SPOOL/results/night/output.jsonl")" = 10
done_testing
