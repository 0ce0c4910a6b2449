#!/bin/sh
# Started as root, spoold becomes spool.user/spool.group before it
# touches the spool: the supervisor, its workers and every file written
# belong to that user; no core dumps; a world-writable spool is warned
# about; an unknown user refuses to start.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root to drop privileges"
	exit 0
fi
if ! id nobody >/dev/null 2>&1 || ! getent group nogroup >/dev/null; then
	echo "1..0 # SKIP no nobody:nogroup"
	exit 0
fi
plan 7
install_prefix
start_mock
# nobody must reach the spool and the binaries it re-executes.
chmod 711 "$TRASH"
spoolctl -d "$SPOOL" init >/dev/null
chown -R nobody:nogroup "$SPOOL"
chmod o+w "$SPOOL/new"
cat > "$TRASH/spoold.conf" <<EOC
[spool]
user = nobody
group = nogroup
EOC
start_spoold -c "$TRASH/spoold.conf"
started() { grep -q 'spoold started' "$TRASH/spoold.log"; }
wait_for 20 started
uids=$(ps -o uid= -p "$SPOOLD_PID"; pgrep -P "$SPOOLD_PID" |
    xargs -r ps -o uid= -p)
diag "uids of the supervisor and workers: $(echo $uids)"
check "the supervisor and its workers run as nobody" sh -c \
    'test -n "$1" && for u in $1; do test "$u" = 65534 || exit 1; done' \
    sh "$uids"
check "no core dumps" sh -c \
    'grep -q "^Max core file size *0 *0 " /proc/$1/limits' sh "$SPOOLD_PID"
check "a world-writable spool directory is warned about" grep -q \
    'new/ is world-writable' "$TRASH/spoold.log"
make_batch 3 "$TRASH/b.jsonl"
drop "$TRASH/b.jsonl"
finished() { [ -f "$SPOOL/results/b/manifest.json" ]; }
check "the batch runs" wait_for 30 finished
# (done/b.jsonl is the dropped file itself: it keeps its owner.)
check "every file spoold wrote belongs to nobody" sh -c \
    'test -z "$(find "$1/results" "$1/archive" ! -user nobody)"' \
    sh "$SPOOL"
kill "$SPOOLD_PID"
wait_for 10 sh -c "! kill -0 $SPOOLD_PID 2>/dev/null"
printf '[spool]\nuser = no-such-user-spoold\n' > "$TRASH/bad.conf"
spoold -c "$TRASH/bad.conf" -d "$SPOOL" -e "$MOCK_URL" --once \
    2>"$TRASH/bad.log"
rc=$?
check "an unknown user refuses to start (EX_NOPERM, 77)" test $rc = 77
check "and says why" grep -q 'no-such-user-spoold: no such user' \
    "$TRASH/bad.log"
done_testing
