#!/bin/sh
# systemd integration: the installed unit passes systemd-analyze verify
# (where systemd is present), the tmpfiles.d entry creates the spool,
# spoold speaks sd_notify (READY, STATUS, RELOADING, STOPPING) on
# $NOTIFY_SOCKET, and the man pages render without warnings.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 8
install_prefix
if command -v systemd-analyze >/dev/null 2>&1; then
	MANPATH=$PREFIX/share/man systemd-analyze verify \
	    "$PREFIX/lib/systemd/system/spoold.service" >"$TRASH/verify.log" 2>&1
	check "systemd-analyze verify passes" test $? = 0
else
	ok "# SKIP systemd-analyze is not installed"
fi
check "the unit runs the installed binary" grep -q \
    "^ExecStart=$PREFIX/bin/spoold -c /etc/spoold/spoold.conf$" \
    "$PREFIX/lib/systemd/system/spoold.service"
if command -v systemd-tmpfiles >/dev/null 2>&1; then
	# As root:root under a scratch root (there is no spoold user here).
	sed 's/spoold spoold/root root/' "$PREFIX/lib/tmpfiles.d/spoold.conf" \
	    > "$TRASH/tmpfiles.conf"
	mkdir -p "$TRASH/root"
	systemd-tmpfiles --create --root="$TRASH/root" "$TRASH/tmpfiles.conf" \
	    2>"$TRASH/tmpfiles.log"
	check "tmpfiles.d creates the spool, mode 0770" sh -c '
	    for d in tmp new processing done failed results archive; do
		test "$(stat -c %a "$1/var/spool/spoold/$d")" = 770 || exit 1
	    done' sh "$TRASH/root"
else
	ok "# SKIP systemd-tmpfiles is not installed"
fi

# sd_notify: a datagram socket of our own stands in for systemd.
start_mock
spoolctl -d "$SPOOL" init >/dev/null
SOCK=$TRASH/notify.sock
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[2], "w").close()
with open(sys.argv[2], "a") as log:
    while True:
        m = s.recv(4096).decode()
        log.write(m.replace("\n", "|") + "\n")
        log.flush()' "$SOCK" "$TRASH/notify.log" &
_pids="$_pids $!"
wait_for 10 test -S "$SOCK"
NOTIFY_SOCKET=$SOCK
export NOTIFY_SOCKET
start_spoold
unset NOTIFY_SOCKET
ready() { grep -q '^READY=1|STATUS=started' "$TRASH/notify.log"; }
check "READY=1 once started" wait_for 20 ready
make_batch 5 "$TRASH/b.jsonl" slow-3000	# long enough to be seen
drop "$TRASH/b.jsonl"
status() { grep -q '^STATUS=1 batches' "$TRASH/notify.log"; }
check "STATUS= tells the batches and requests" wait_for 20 status
kill -HUP "$SPOOLD_PID"
reloaded() { grep -A1 '^RELOADING=1' "$TRASH/notify.log" | grep -q '^READY=1$'; }
check "RELOADING=1 then READY=1 around a reload" wait_for 10 reloaded
kill -TERM "$SPOOLD_PID"
stopping() { grep -q '^STOPPING=1' "$TRASH/notify.log"; }
check "STOPPING=1 when draining" wait_for 10 stopping
mandoc -T lint -W warning "$PREFIX"/share/man/man*/* >"$TRASH/mandoc.log" 2>&1
check "the man pages lint clean (mandoc -W warning)" test $? = 0 -a ! -s "$TRASH/mandoc.log"
done_testing
