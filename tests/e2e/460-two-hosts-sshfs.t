#!/bin/sh
# Two "hosts": instance A on the spool's own path, instance B on an
# sshfs mount of it (FUSE over an sshd of the test's own on 127.0.0.1).
# B sees no inotify events for files that A's side writes and relies on
# its rescans; its claims and leases go through sftp renames and links.
# Every request is answered once and nothing is lost, also when B is
# killed -9 holding batches and A takes them over.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
. "$SPOOLD_SRC/tests/e2e/sshd.sh"
sshd_require fuse
plan 27
install_prefix
MNT=$TRASH/mnt
A_PID=""
B_PID=""

# Stop B (it keeps the mount busy), then unmount, then lib.sh's cleanup
# (which stops A, the mock, sshfs and sshd and removes $TRASH).
teardown() {
	[ -n "$A_PID" ] && kill -CONT "$A_PID" 2>/dev/null
	if [ -n "$B_PID" ] && kill -0 "$B_PID" 2>/dev/null; then
		kill -TERM "$B_PID" 2>/dev/null
		_t=0
		while kill -0 "$B_PID" 2>/dev/null && [ $_t -lt 100 ]; do
			sleep 0.1; _t=$((_t + 1))
		done
		kill -KILL "$B_PID" 2>/dev/null
		wait "$B_PID" 2>/dev/null
	fi
	if mounted; then
		timeout 10 fusermount3 -u "$MNT" 2>/dev/null ||
		    timeout 10 fusermount -u "$MNT" 2>/dev/null ||
		    timeout 10 fusermount3 -uz "$MNT" 2>/dev/null ||
		    timeout 10 umount -l "$MNT" 2>/dev/null
	fi
	if mounted; then
		echo "# $MNT still mounted: keeping the trash" >&2
		_failed=$((_failed + 1))
	fi
}
trap 'teardown; cleanup' EXIT
mounted() { grep -q " $MNT fuse" /proc/mounts; }

start_mock --latency 50 --latency-jitter 50
spoolctl -d "$SPOOL" init >/dev/null
cat > "$TRASH/i.conf" <<EOC
[spool]
rescan = 500ms
lease = 5s
[workers]
inflight = 8
[batch]
max_age = 1s
EOC

start_sshd
mkdir "$MNT"
# No caching of names or attributes: B's rescans list the directory
# as it is on the server.  sshfs stays in the foreground (-f) so that
# cleanup knows its pid; TERM makes it unmount.
start_bg sshfs -f -p "$SSHD_PORT" -o "IdentityFile=$SSH_KEY" \
    -o IdentitiesOnly=yes,StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null,BatchMode=yes,LogLevel=ERROR \
    -o reconnect,ServerAliveInterval=5 \
    -o dir_cache=no,entry_timeout=0,attr_timeout=0,negative_timeout=0 \
    "$SSH_USER@$SSH_HOST:$SPOOL" "$MNT" 2>>"$TRASH/sshfs.log" </dev/null
if ! wait_for 20 mounted; then
	echo "Bail out! sshfs did not mount: $(tail -n 3 "$TRASH/sshfs.log" |
	    tr '\n' ' ')"
	exit 1
fi
check "the sshfs mount shows the spool" test \
    "$(timeout 10 ls "$MNT" | tr '\n' ' ')" = "$(ls "$SPOOL" | tr '\n' ' ')"
# B gets a host name of its own (a UTS namespace) where it can: then A
# cannot judge B's pid and must wait for B's leases to expire, as with
# two real hosts.
B_HOST=spoold-e2e-b
if unshare --uts sh -c "hostname $B_HOST" 2>/dev/null; then
	diag "A runs as host $(hostname), B as host $B_HOST (own UTS" \
	    "namespace): A must wait for B's leases to expire"
else
	B_HOST=""
	diag "A and B run on one machine as host $(hostname) (no UTS" \
	    "namespace): A also sees B's pid die; on two real hosts only" \
	    "the 5 s lease frees B's inputs"
fi

start_a() {
	start_bg spoold -d "$SPOOL" -e "$MOCK_URL" -c "$TRASH/i.conf" -w 1 \
	    2>>"$TRASH/a.log"
	A_PID=$LAST_PID
}
# start_b LOG
start_b() {
	if [ -n "$B_HOST" ]; then
		start_bg unshare --uts sh -c 'hostname "$0" && exec "$@"' \
		    "$B_HOST" spoold -d "$MNT" -e "$MOCK_URL" \
		    -c "$TRASH/i.conf" -w 1 2>>"$1"
	else
		start_bg spoold -d "$MNT" -e "$MOCK_URL" -c "$TRASH/i.conf" \
		    -w 1 2>>"$1"
	fi
	B_PID=$LAST_PID
}

# drop_local FILE / drop_mnt FILE: write a dot name, rename.
drop_local() { drop "$1"; }
drop_mnt() {
	dm_name=$(basename "$1")
	timeout 20 cp "$1" "$MNT/new/.$dm_name.tmp" &&
	    timeout 20 mv "$MNT/new/.$dm_name.tmp" "$MNT/new/$dm_name"
}

# drop_batches TAG FROM TO SIZE: batches TAG-bI.jsonl with custom_ids
# TAG-bI-J; odd ones through the mount, even ones on the local path.
drop_batches() {
	make_batch "$4" "$TRASH/b.jsonl"
	for b in $(seq "$2" "$3"); do
		f=$TRASH/$1-b$b.jsonl
		sed "s/\"req-/\"$1-b$b-/" "$TRASH/b.jsonl" > "$f"
		if [ $((b % 2)) = 1 ]; then
			drop_mnt "$f" || diag "drop $1-b$b through sshfs failed"
		else
			drop_local "$f"
		fi
	done
}
# drop_loose TAG FROM TO: loose requests TAG-lJ.json, alternately.
drop_loose() {
	for j in $(seq "$2" "$3"); do
		f=$TRASH/$1-l$j.json
		printf '{"model":"mock-1","messages":[{"role":"user",%s}]}\n' \
		    "\"content\":\"$1 $j\"" > "$f"
		if [ $((j % 2)) = 1 ]; then
			drop_mnt "$f" || diag "drop $1-l$j through sshfs failed"
		else
			drop_local "$f"
		fi
	done
}

loose_results() {
	ls "$SPOOL"/results/loose-*/"$1"-l*.json 2>/dev/null | wc -l |
	    tr -d ' '
}
# all_done TAG NBATCHES NLOOSE
all_done() {
	[ "$(ls "$SPOOL"/results/"$1"-b*/manifest.json 2>/dev/null |
	    wc -l)" = "$2" ] &&
	    [ "$(loose_results "$1")" = "$3" ] &&
	    [ -z "$(ls "$SPOOL/new" | grep "^$1-")" ] &&
	    [ -z "$(ls "$SPOOL/processing")" ]
}
# The custom_ids of the results of TAG's batches, sorted, in FILE.
result_ids() {
	cat "$SPOOL"/results/"$1"-b*/output.jsonl \
	    "$SPOOL"/results/"$1"-b*/errors.jsonl 2>/dev/null |
	    sed 's/.*"custom_id": *"\([^"]*\)".*/\1/' | sort > "$2"
}
# The custom_ids dropped for TAG, sorted, in FILE.
want_ids() {
	cat "$TRASH/$1"-b*.jsonl | cut -d'"' -f4 | sort > "$2"
}
results_once() {
	want_ids "$1" "$TRASH/$1.want"
	result_ids "$1" "$TRASH/$1.got"
	[ -z "$(uniq -d "$TRASH/$1.got")" ] &&
	    cmp -s "$TRASH/$1.want" "$TRASH/$1.got"
}
loose_once() {
	ln_n=0
	for ln_f in "$TRASH/$1"-l*.json; do
		ln_c=$(ls "$SPOOL"/results/loose-*/"$(basename "$ln_f")" \
		    2>/dev/null | wc -l)
		[ "$ln_c" = 1 ] && ln_n=$((ln_n + 1))
	done
	[ "$ln_n" = "$2" ]
}
# sent_counts TAG: "custom_id count" for every request TAG's drops made
# reach the mock, in $TRASH/TAG.sent.
sent_counts() {
	grep -e "^$1-b" -e "^$1-l" "$TRASH/mock.log" | cut -d' ' -f1 | sort |
	    uniq -c | awk '{ print $2, $1 }' > "$TRASH/$1.sent"
}
sent_once() {
	sent_counts "$1"
	[ "$(wc -l < "$TRASH/$1.sent")" = "$2" ] &&
	    [ -z "$(awk '$2 != 1' "$TRASH/$1.sent")" ]
}
# manifests_agree PREFIX: the manifests of results/PREFIX* agree with
# their result files.
manifests_agree() {
	mf_bad=""
	for mf_d in "$SPOOL"/results/"$1"*; do
		mf_o=$(lines "$mf_d/output.jsonl")
		mf_e=0
		[ -f "$mf_d/errors.jsonl" ] &&
		    mf_e=$(lines "$mf_d/errors.jsonl")
		# total completed failed
		mf_m=$(json "$mf_d/manifest.json" '" ".join(str(
		    d["request_counts"][k]) for k in ("total", "completed",
		    "failed"))')
		[ "$mf_m" = "$((mf_o + mf_e)) $mf_o $mf_e" ] ||
		    mf_bad="$mf_bad $(basename "$mf_d"):${mf_m:-none}"
	done
	[ -z "$mf_bad" ] || diag "manifests disagree:$mf_bad"
	[ -z "$mf_bad" ]
}
# claims LOG TAG: how many of TAG's batches LOG says were claimed.
claims() {
	grep -c "batch=$2-b[0-9]* claimed" "$1" | tr -d ' '
}
pstate() { sed -n 's/^.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null; }
stopped() { [ "$(pstate "$1")" = T ]; }
gone() { _s=$(pstate "$1"); [ -z "$_s" ] || [ "$_s" = Z ]; }
all_gone() { for _p in "$@"; do gone "$_p" || return 1; done; }
# Drop a reaped pid from cleanup's list (the pid may be reused).
forget_pid() { _pids=$(echo " $_pids " | sed "s/ $1 / /"); }
# A is local and sees every drop at once by inotify (also those written
# through the mount: sftp-server writes them on A's filesystem); it
# would win every claim.  Frozen (it holds no input then), it leaves the
# drops to B, which lists new/ through sshfs on its rescans.
freeze_a() { kill -STOP "$A_PID" && wait_for 5 stopped "$A_PID"; }
thaw_a() { kill -CONT "$A_PID"; }
# b_claimed LOG TAG N: LOG says that N of TAG's batches were claimed.
b_claimed() { [ "$(claims "$1" "$2")" -ge "$3" ]; }

# --- Phase 1: both alive ------------------------------------------------
T0=$(date +%s)
NB1=6
SZ1=150
NL1=10
start_a
start_b "$TRASH/b.log"
# Half of the drops while A is frozen: B must find them by rescans.
freeze_a
drop_batches p1 1 3 $SZ1
drop_loose p1 1 4
check "phase 1: B (sshfs) claims the drops it finds by rescans" \
    wait_for 15 b_claimed "$TRASH/b.log" p1 3
thaw_a
# The other half with both competing.
drop_batches p1 4 $NB1 $SZ1
drop_loose p1 5 $NL1
check "phase 1: both instances finish everything" \
    wait_for 60 all_done p1 $NB1 $NL1
ca=$(claims "$TRASH/a.log" p1)
cb=$(claims "$TRASH/b.log" p1)
diag "phase 1 ($(($(date +%s) - T0)) s): batches claimed by A: $ca," \
    "by B (sshfs): $cb; loose batches opened by A:" \
    "$(grep -c 'opened for loose' "$TRASH/a.log"), by B:" \
    "$(grep -c 'opened for loose' "$TRASH/b.log")"
check "phase 1: each batch claimed once ($ca + $cb = $NB1)" \
    test $((ca + cb)) = $NB1
check "phase 1: the mock saw each custom_id exactly once" \
    sent_once p1 $((NB1 * SZ1 + NL1))
check "phase 1: each request once in the results" results_once p1
check "phase 1: each loose request once in the results" loose_once p1 $NL1
check "phase 1: manifests agree with the results" manifests_agree p1-b
kill -TERM "$B_PID"
timeout 30 sh -c "while kill -0 $B_PID 2>/dev/null; do sleep 0.1; done"
wait "$B_PID"
rc=$?
forget_pid "$B_PID"
B_PID=""
check "phase 1: B stops on TERM (rc=$rc)" test $rc = 0

# --- Phase 2: B killed -9 holding batches ----------------------------------
T1=$(date +%s)
NB2=4
SZ2=300
NL2=6
start_b "$TRASH/b2.log"
nta=$(grep -c 'took over' "$TRASH/a.log")
freeze_a
drop_batches p2 1 2 $SZ2
drop_loose p2 1 3
sent_some() { [ "$(grep -c "^$bid-" "$TRASH/mock.log")" -ge 20 ]; }
if wait_for 15 b_claimed "$TRASH/b2.log" p2 1; then
	thaw_a
	ok "phase 2: B claims a batch"
	bid=$(sed -n 's/.*batch=\(p2-b[0-9]*\) claimed.*/\1/p' \
	    "$TRASH/b2.log" | head -n 1)
	# Requests of it are in flight: kill it while it works.
	drop_batches p2 3 $NB2 $SZ2
	drop_loose p2 4 $NL2
	check "phase 2: B sends requests of $bid" wait_for 30 sent_some
else
	thaw_a
	not_ok "phase 2: B claims a batch"
	bid=none
	drop_batches p2 3 $NB2 $SZ2
	drop_loose p2 4 $NL2
	not_ok "phase 2: B sends requests (it claimed nothing)"
fi
# Freeze B so that it forks nothing between listing children and dying.
kids=""
if kill -STOP "$B_PID" 2>/dev/null && wait_for 10 stopped "$B_PID"; then
	kids=$(pgrep -P "$B_PID" 2>/dev/null)
fi
kill -KILL "$B_PID"
TK=$(date +%s%3N)
wait "$B_PID" 2>/dev/null
rc=$?
forget_pid "$B_PID"
B_PID=""
check "phase 2: B killed -9 (rc=$rc)" test $rc = 137
# Its workers exit when their channel closes, a finisher when done.
check "phase 2: B's children exit${kids:+ ($(echo $kids | tr ' ' ,))}" \
    wait_for 30 all_gone $kids
b_owned=$(grep -c "batch=p2-b[0-9]* claimed" "$TRASH/b2.log")
diag "phase 2: B was killed $(($(date +%s) - T1)) s in, owning" \
    "$b_owned batch(es) and $(grep -c 'opened for loose' "$TRASH/b2.log")" \
    "loose batch(es); requests of $bid sent:" \
    "$(grep -c "^$bid-" "$TRASH/mock.log")"
took_over() { [ "$(grep -c 'took over' "$TRASH/a.log")" -gt "$nta" ]; }
if wait_for 20 took_over; then
	ok "phase 2: A takes over B's inputs"
	delay=$(($(date +%s%3N) - TK))
	if [ -n "$B_HOST" ]; then
		# B renewed at most lease/3 (+ a tick) before it was frozen.
		check "phase 2: A waited for B's lease ($delay ms)" \
		    test "$delay" -ge 2000
	else
		check "phase 2: A saw B's pid gone ($delay ms)" \
		    test "$delay" -lt 5000
	fi
else
	not_ok "phase 2: A takes over B's inputs"
	not_ok "phase 2: A takes over in time (it did not)"
fi
diag "A: $(grep 'took over' "$TRASH/a.log" | tail -n +$((nta + 1)) |
    sed 's/.*took over //' | tr '\n' ';')"
check "phase 2: A finishes everything" wait_for 60 all_done p2 $NB2 $NL2
diag "phase 2 ($(($(date +%s) - T1)) s): batches claimed by A:" \
    "$(claims "$TRASH/a.log" p2), by B before the kill: $b_owned"
check "phase 2: each request once in the results" results_once p2
check "phase 2: each loose request once in the results" loose_once p2 $NL2
check "phase 2: manifests agree with the results" manifests_agree p2-b
sent_counts p2
doubles=$(awk '$2 == 2' "$TRASH/p2.sent" | wc -l | tr -d ' ')
more=$(awk '$2 > 2' "$TRASH/p2.sent" | wc -l | tr -d ' ')
diag "phase 2: custom_ids sent twice (in flight at the kill): $doubles;" \
    "more than twice: $more"
check "phase 2: the mock saw every custom_id" \
    test "$(wc -l < "$TRASH/p2.sent")" = $((NB2 * SZ2 + NL2))
check "phase 2: no custom_id sent more than twice" test "$more" = 0
check "phase 2: re-sends at most B's inflight slots ($doubles <= 8)" \
    test "$doubles" -le 8

# --- The spool in the end ------------------------------------------------
empty_processing() { [ -z "$(ls -A "$SPOOL/processing")" ]; }
wait_for 20 empty_processing
left=$(ls -A "$SPOOL/processing" | tr '\n' ' ')
check "processing/ is empty${left:+ (left: }${left}${left:+)}" test -z "$left"
check "nothing held in new/" test -z "$(ls -A "$SPOOL/new")"
check "loose batches: manifests agree with the results" \
    manifests_agree loose-
hidden=$(find "$SPOOL" -name '.fuse_hidden*' | wc -l | tr -d ' ')
check "no .fuse_hidden files left in the spool ($hidden)" test "$hidden" = 0
check "no lost lease or failed journal write" test -z "$(cat "$TRASH"/a.log \
    "$TRASH"/b.log "$TRASH"/b2.log | grep -e 'lease lost' \
    -e 'journal write failed')"
# Log lines of priority warning (<4>) or worse, for the record.
diag "warnings: A $(grep -c '^<[0-4]>' "$TRASH/a.log"), B $(cat \
    "$TRASH/b.log" "$TRASH/b2.log" | grep -c '^<[0-4]>');" \
    "total $(($(date +%s) - T0)) s"
cat "$TRASH/a.log" "$TRASH/b.log" "$TRASH/b2.log" | grep '^<[0-4]>' |
    head -n 5 | sed 's/^/#   /'
done_testing
