#!/bin/sh
# spoolctl's operator commands end to end: status, ls, show, watch (on a
# pseudo-terminal and on a pipe), hold/release (with the daemon acting
# on them), purge, and --once with only a held batch left.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 23
install_prefix
start_mock --latency 200
spoolctl -d "$SPOOL" init >/dev/null
SC="spoolctl -d $SPOOL"
cat > "$TRASH/spoold.conf" <<EOC
[endpoint default]
max_inflight = 4
EOC
make_batch 100 "$TRASH/b.jsonl"
start_spoold -c "$TRASH/spoold.conf"
drop "$TRASH/b.jsonl"
claimed() { [ -f "$SPOOL/results/b/status.json" ]; }
wait_for 20 claimed
check "hold a running batch" $SC hold b
done_count() { json "$SPOOL/results/b/status.json" \
    "int(d['request_counts']['completed'])"; }
held_logged() { grep -q 'batch=b held' "$TRASH/spoold.log"; }
wait_for 10 held_logged
sleep 1			# what was in flight at the hold comes back
n1=$(done_count)
sleep 2
n2=$(done_count)
diag "done when held: $n1, 2 s later: $n2"
check "a held batch makes no progress" test "$n1" = "$n2" -a "$n1" -lt 100
$SC status > "$TRASH/status.txt"
check "status shows it held" grep -q '^  b .*(held)' "$TRASH/status.txt"
$SC status --json > "$TRASH/status.json"
check "status --json: held, progress, rate" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
b = [x for x in d["batches"] if x["batch"] == "b"][0]
assert b["held"] is True and b["total"] == 100, b
assert 0 <= b["percent_done"] < 100 and "eta_s" in b and "failure_rate" in b
assert set(d["queue"]) == {"new", "processing", "done", "failed"}
' "$TRASH/status.json"
$SC show b > "$TRASH/show.txt"
check "show: held, counts" sh -c 'grep -q "^status: .*(held)" "$1" &&
    grep -q "^requests:  100 total" "$1"' sh "$TRASH/show.txt"
check "hold twice is fine" $SC hold b
check "release" $SC release b
$SC release b 2>/dev/null
check "release of a batch not held: EX_NOINPUT (66)" test $? = 66

# watch on a pseudo-terminal (script(1) gives it one): a live bar.
script -qefc "$SC watch -i 200ms b" "$TRASH/watch.tty" >/dev/null 2>&1
rc=$?
check "watch exits 0 when the batch completes" test $rc = 0
check "on a TTY watch redraws one bar" sh -c \
    'grep -q "\[#*\.*\] *[0-9.]*%" "$1" && tr "\r" "\n" < "$1" |
    grep -c "%" | awk "{ exit !(\$1 >= 2) }"' sh "$TRASH/watch.tty"
check "and ends with the batch's status" grep -q "batch b completed" \
    "$TRASH/watch.tty"
$SC watch b > "$TRASH/watch.pipe"
check "on a pipe: plain lines, no escapes" sh -c '! grep -q "$(printf "\033")" "$1" &&
    grep -q "^100/100 done" "$1"' sh "$TRASH/watch.pipe"
$SC watch nosuch 2>/dev/null
check "watch of no batch: 66" test $? = 66

$SC ls > "$TRASH/ls.txt"
check "ls shows the input in done/" grep -q '^done .* b.jsonl$' "$TRASH/ls.txt"
$SC ls --json archive > "$TRASH/ls.json"
check "ls --json archive" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert [x["name"] for x in d] == ["b.tar.gz"], d
assert d[0]["state"] == "archive" and d[0]["bytes"] > 0' "$TRASH/ls.json"
$SC ls bogus 2>/dev/null
check "ls of an unknown state: 64" test $? = 64
$SC show --json b > "$TRASH/show.json"
check "show --json of a finished batch" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["finished"] and d["status"] == "completed" and d["output_lines"] == 100
assert d["manifest"]["request_counts"]["completed"] == 100' "$TRASH/show.json"

# purge: nothing is old yet; then age everything by two days.
$SC purge --older-than 1d > "$TRASH/purge0.txt"
check "purge keeps what is younger" sh -c 'test -f "$1/done/b.jsonl" &&
    test -d "$1/results/b"' sh "$SPOOL"
find "$SPOOL/done" "$SPOOL/results" "$SPOOL/archive" -exec touch -h -d '2 days ago' {} +
$SC purge --older-than 1d --dry-run > "$TRASH/purge1.txt"
check "purge --dry-run lists and keeps" sh -c 'grep -q "would purge done/b.jsonl" "$1" &&
    grep -q "would purge results/b" "$1" && test -f "$2/archive/b.tar.gz"' \
    sh "$TRASH/purge1.txt" "$SPOOL"
$SC purge --older-than 1d > "$TRASH/purge2.txt"
check "purge removes done/, results/ and archive/ entries" sh -c '
    test ! -e "$1/done/b.jsonl" -a ! -e "$1/results/b" -a ! -e "$1/archive/b.tar.gz"' \
    sh "$SPOOL"
# Its results are gone, so the same content runs again.
drop "$TRASH/b.jsonl"
rerun() { [ -f "$SPOOL/results/b/manifest.json" ]; }
wait_for 60 rerun
check "the same content dropped again after purge runs again" test \
    "$(lines "$SPOOL/results/b/output.jsonl")" = 100
kill "$SPOOLD_PID"
wait_for 10 sh -c "! kill -0 $SPOOLD_PID 2>/dev/null"

# --once with only a held batch left: exit 75, work kept.
make_batch 5 "$TRASH/h.jsonl"
drop "$TRASH/h.jsonl"
$SC hold h
timeout 60 spoold -c "$TRASH/spoold.conf" -d "$SPOOL" -e "$MOCK_URL" \
    --once 2>>"$TRASH/spoold.log"
rc=$?
check "--once with only a held batch exits 75" test $rc = 75
check "its input stays claimed, unfinished" sh -c \
    'test -f "$1/processing/h.jsonl" -a ! -f "$1/results/h/manifest.json"' \
    sh "$SPOOL"
done_testing
