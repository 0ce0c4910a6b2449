#!/bin/sh
# Real transfers over an sshd of the test's own on 127.0.0.1: rsync of a
# file (dot temp + rename: taken at once), rsync -a of a directory and
# scp -r of one (sealed only by _READY), scp of a file (written in place
# under its final name: taken after spool.settle, not while a stalled
# writer still holds it open), each processed once; and an scp killed
# mid-file, whose partial file never yields a result: it is held, then
# goes to failed/ as incomplete_file after spool.incomplete_after.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
. "$SPOOLD_SRC/tests/e2e/sshd.sh"
sshd_require
for _c in rsync scp; do
	command -v $_c >/dev/null 2>&1 || { echo "1..0 # SKIP no $_c"; exit 0; }
done
plan 25
install_prefix
T0=$(date +%s)
N=$SPOOL/new
R=$SPOOL/results
start_mock
spoolctl -d "$SPOOL" init >/dev/null
cat > "$TRASH/spoold.conf" <<EOC
[spool]
settle = 1s
rescan = 1s
incomplete_after = 5s
EOC
start_spoold -c "$TRASH/spoold.conf"
start_sshd
REMOTE=$SSH_USER@$SSH_HOST
RSH=$(ssh_cmd)
# scp to the test's sshd (a plain command line: its pid is scp's).
SCP="scp -q -P $SSHD_PORT $SSH_OPTS"
# Drop a reaped pid from cleanup's list (the pid may be reused).
forget_pid() { _pids=$(echo " $_pids " | sed "s/ $1 / /"); }

# batch TAG N FILE: N requests with custom_ids TAG-1..N.
batch() {
	make_batch "$2" "$3"
	sed -i "s/\"req-/\"$1-/" "$3"
}
# once NAME N: results/NAME holds N output lines, N distinct custom_ids,
# all of NAME's, and there is no second batch id (NAME.2, ...).
once() {
	[ -f "$R/$1/manifest.json" ] || return 1
	o_ids=$(sed 's/.*"custom_id": *"\([^"]*\)".*/\1/' "$R/$1/output.jsonl")
	o_n=$(echo "$o_ids" | grep -c .)
	o_u=$(echo "$o_ids" | sort -u | grep -c "^$1-")
	o_more=$(ls -d "$R/$1".* 2>/dev/null | tr '\n' ' ')
	o_errs=0
	[ -f "$R/$1/errors.jsonl" ] && o_errs=$(lines "$R/$1/errors.jsonl")
	[ "$o_n" = "$2" ] && [ "$o_u" = "$2" ] && [ "$o_errs" = 0 ] &&
	    [ -z "$o_more" ] && return 0
	diag "$1: $o_n lines, $o_u distinct ids, $o_errs errors, want $2;" \
	    "other ids: ${o_more:-none}"
	return 1
}
has_manifest() { [ -f "$R/$1/manifest.json" ]; }
gone_from_new() { [ ! -e "$N/$1" ]; }
claims() { grep -c "batch=$1 claimed" "$TRASH/spoold.log" | tr -d ' '; }
ms() { date +%s%3N; }
# Can a read lease be had here, and is it refused while a writer is in?
lease_probe_works() {
	/usr/bin/python3 - "$SPOOL/tmp/.leaseprobe" <<'EOP'
import errno, fcntl, os, sys
p = sys.argv[1]
w = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
r = os.open(p, os.O_RDONLY)
try:
    fcntl.fcntl(r, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    ok = False
except OSError as e:
    ok = e.errno in (errno.EAGAIN, errno.EBUSY)
os.close(w)
if ok:
    fcntl.fcntl(r, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    fcntl.fcntl(r, fcntl.F_SETLEASE, fcntl.F_UNLCK)
os.close(r)
os.unlink(p)
sys.exit(0 if ok else 1)
EOP
}

# --- rsync of a single file: dot temp, rename, taken at once ----------
batch rs 40 "$TRASH/rs.jsonl"
rsync -e "$RSH" "$TRASH/rs.jsonl" "$REMOTE:$N/" 2>>"$TRASH/xfer.log"
rc=$?
t=$(ms)
check "rsync of a file succeeds (rc=$rc)" test $rc = 0
wait_for 10 gone_from_new rs.jsonl
dt=$(($(ms) - t))
# settle is 1 s: a renamed-in file must not wait for it.
check "rsync'd file taken at once, not after settle ($dt ms)" \
    test "$dt" -lt 900
check "rs: processed once, all 40 requests" wait_for 20 once rs 40

# --- scp of a single file, written in place, with a stalled writer ------
# 30000 requests (~4 MB) at 8 Mbit/s: about 4 s if left alone.  The scp
# client is frozen half-way for 3 s (3 x settle): the partial file does
# not change, but sftp-server still has it open for writing.
batch sc 30000 "$TRASH/sc.jsonl"
start_bg $SCP -l 8000 "$TRASH/sc.jsonl" "$REMOTE:$N/"
SCP_PID=$LAST_PID
some_data() {
	[ "$(stat -c %s "$N/sc.jsonl" 2>/dev/null || echo 0)" -gt 1000000 ]
}
wait_for 20 some_data
kill -STOP "$SCP_PID"
sleep 0.5
s1=$(stat -c %s "$N/sc.jsonl" 2>/dev/null)
sleep 3
s2=$(stat -c %s "$N/sc.jsonl" 2>/dev/null)
diag "scp frozen at $s1 bytes, 3 s later $s2 bytes (of" \
    "$(stat -c %s "$TRASH/sc.jsonl"))"
check "a frozen scp's partial file is left in new/ (writer still open)" \
    test -f "$N/sc.jsonl" -a "$(claims sc)" = 0
# Had spoold judged it, a cut last line would say "looks truncated";
# the read-lease probe must keep it from judging at all.  Where leases
# cannot be had (not the owner, no CAP_LEASE), settle alone decides.
if lease_probe_works; then
	check "the frozen partial file was not even judged (writer probe)" \
	    test -z "$(grep 'drop sc.jsonl looks truncated' "$TRASH/spoold.log")"
else
	ok "# SKIP no read leases here: settle alone decides"
fi
kill -CONT "$SCP_PID"
wait "$SCP_PID"
rc=$?
forget_pid "$SCP_PID"
# Its last change: scp ftruncates at the end (mtime and ctime move).
m=$(stat -c %.3Y "$N/sc.jsonl" 2>/dev/null | tr -d .)
check "scp of a file succeeds (rc=$rc)" test $rc = 0
wait_for 10 gone_from_new sc.jsonl
dt=$(($(ms) - ${m:-0}))
check "scp'd file taken after settle: $dt ms after its last write" \
    test "$dt" -ge 950 -a "$dt" -lt 5000
check "sc: processed once, all 30000 requests" wait_for 60 once sc 30000
check "sc: claimed once" test "$(claims sc)" = 1

# --- rsync -a of a directory, sealed by _READY --------------------------
mkdir -p "$TRASH/rdir"
batch rd-a 5 "$TRASH/rdir/a.jsonl"
batch rd-b 7 "$TRASH/rdir/b.jsonl"
rsync -a -e "$RSH" "$TRASH/rdir/" "$REMOTE:$N/rd/" 2>>"$TRASH/xfer.log"
rc=$?
check "rsync -a of a directory succeeds (rc=$rc)" test $rc = 0
sleep 2.5
check "rd/ is not taken without its marker" \
    test -f "$N/rd/a.jsonl" -a -f "$N/rd/b.jsonl" -a "$(claims rd)" = 0
: > "$TRASH/_READY"
rsync -e "$RSH" "$TRASH/_READY" "$REMOTE:$N/rd/" 2>>"$TRASH/xfer.log"
check "rd (rsync -a + _READY): one batch of 12 requests" \
    wait_for 20 has_manifest rd
rd_ids() {
	sed 's/.*"custom_id": *"\([^"]*\)".*/\1/' "$R/rd/output.jsonl" |
	    sort -u | grep -c '^rd-[ab]-' | tr -d ' '
}
check "rd: 12 lines, 12 distinct ids, claimed once, no rd.2" test \
    "$(lines "$R/rd/output.jsonl")/$(rd_ids)/$(claims rd)/$(ls -d \
    "$R"/rd.* 2>/dev/null | wc -l | tr -d ' ')" = 12/12/1/0

# --- scp -r of a directory, sealed by _READY ----------------------------
mkdir -p "$TRASH/sdir"
batch sd-a 6 "$TRASH/sdir/a.jsonl"
batch sd-b 4 "$TRASH/sdir/b.jsonl"
$SCP -r "$TRASH/sdir" "$REMOTE:$N/sd" 2>>"$TRASH/xfer.log"
rc=$?
check "scp -r of a directory succeeds (rc=$rc)" test $rc = 0
sleep 2.5
check "sd/ is not taken without its marker" \
    test -f "$N/sd/a.jsonl" -a -f "$N/sd/b.jsonl" -a "$(claims sd)" = 0
timeout 20 ssh -p "$SSHD_PORT" $SSH_OPTS "$REMOTE" "touch '$N/sd/_READY'" \
    </dev/null 2>>"$TRASH/xfer.log"
check "sd (scp -r + _READY): one batch" wait_for 20 has_manifest sd
sd_ids() {
	sed 's/.*"custom_id": *"\([^"]*\)".*/\1/' "$R/sd/output.jsonl" |
	    sort -u | grep -c '^sd-[ab]-' | tr -d ' '
}
check "sd: 10 lines, 10 distinct ids, claimed once, no sd.2" test \
    "$(lines "$R/sd/output.jsonl")/$(sd_ids)/$(claims sd)/$(ls -d \
    "$R"/sd.* 2>/dev/null | wc -l | tr -d ' ')" = 10/10/1/0

# --- an scp killed mid-file ---------------------------------------------
# Every line exactly L bytes (L = 4099, a prime: sftp writes in blocks of
# 2^k bytes, so a cut lands on a line boundary only by a rare accident).
L=4099
awk -v n=15000 -v L=$L 'BEGIN {
	pad = "x"; while (length(pad) < L) pad = pad pad
	for (i = 1; i <= n; i++) {
		h = sprintf("{\"custom_id\":\"cut-%06d\",\"method\":\"POST\"," \
		    "\"url\":\"/v1/chat/completions\",\"body\":{\"model\":" \
		    "\"mock-1\",\"messages\":[{\"role\":\"user\",\"content\":\"", i)
		t = "\"}]}}"
		print h substr(pad, 1, L - 1 - length(h) - length(t)) t
	} }' > "$TRASH/cut.jsonl"
BIG=$(stat -c %s "$TRASH/cut.jsonl")
check "the big file has $BIG bytes = 15000 lines of $L" test "$BIG" = \
    $((15000 * L))
# cut_scp NAME SECONDS: scp the big file as NAME at 40 Mbit/s (about
# 12 s in all), kill -9 its ssh and itself SECONDS in; sets CUT_SIZE.
cut_scp() {
	$SCP -l 40000 "$TRASH/cut.jsonl" "$REMOTE:$N/$1" 2>>"$TRASH/xfer.log" &
	cs_pid=$!
	sleep "$2"
	cs_ssh=$(pgrep -P "$cs_pid" ssh)
	[ -n "$cs_ssh" ] && kill -KILL $cs_ssh
	kill -KILL "$cs_pid" 2>/dev/null
	wait "$cs_pid" 2>/dev/null
	cs_rc=$?
	CUT_SIZE=$(stat -c %s "$N/$1" 2>/dev/null || echo 0)
	diag "scp of $1 killed (rc=$cs_rc, ssh pid ${cs_ssh:-none}):" \
	    "$CUT_SIZE of $BIG bytes, $((CUT_SIZE / L)) whole lines," \
	    "$((CUT_SIZE % L)) bytes of a cut one"
}
CUT=cut1.jsonl
tries=1
cut_scp $CUT 1.5
while [ $((CUT_SIZE % L)) = 0 ] && [ $tries -lt 3 ]; do
	# Cut on a line boundary (or nothing written): that file is a
	# complete smaller batch as far as anyone can tell.  Move it out
	# before settle ends and cut again, at another time (the throttled
	# transfer is regular enough to cut at the same size again).
	diag "cut on a line boundary: moving it away, cutting again"
	mv "$N/$CUT" "$TRASH/" 2>/dev/null
	tries=$((tries + 1))
	CUT=cut$tries.jsonl
	cut_scp $CUT 1.$((tries * 3))
done
CUTB=${CUT%.jsonl}
check "the cut is mid-line ($CUT_SIZE bytes, try $tries)" test "$CUT_SIZE" \
    -gt 0 -a "$CUT_SIZE" -lt "$BIG" -a $((CUT_SIZE % L)) != 0
held() { grep -q "drop $CUT looks truncated; holding it" "$TRASH/spoold.log"; }
check "the cut file is held as truncated" wait_for 10 held
check "it is still in new/ while held" test -f "$N/$CUT"
failed() { [ -f "$SPOOL/failed/$CUT.error.json" ]; }
check "after incomplete_after it goes to failed/" wait_for 20 failed
check "with code incomplete_file" test "$(json \
    "$SPOOL/failed/$CUT.error.json" "d['code']")" = incomplete_file
check "the failed file is the cut one, untouched ($CUT_SIZE bytes)" \
    test "$(stat -c %s "$SPOOL/failed/$CUT" 2>/dev/null)" = "$CUT_SIZE"
check "no result holds a line of it" test -z "$(ls -d "$R/$CUTB"* \
    2>/dev/null)" -a -z "$(cat "$R"/*/output.jsonl "$R"/*/errors.jsonl \
    2>/dev/null | grep -l '"cut-[0-9]')" -a "$(claims "$CUTB")" = 0 -a \
    -z "$(grep '^cut-' "$TRASH/mock.log" | head -n 1)"

diag "total $(($(date +%s) - T0)) s; warnings:" \
    "$(grep -c '^<[0-4]>' "$TRASH/spoold.log")"
grep '^<[0-4]>' "$TRASH/spoold.log" | head -n 8 | sed 's/^/#   /'
done_testing
