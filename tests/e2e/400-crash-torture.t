#!/bin/sh
# Crash torture: kill -9 the supervisor (even rounds) or a worker and
# then the supervisor (odd rounds) at random moments, restart each time;
# in the end every request is answered exactly once, nothing is left in
# processing/ and the manifests agree with the results.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 21
install_prefix
N=3000
ROUNDS=${TORTURE_ROUNDS:-20}
LOOSE_ROUNDS=8		# rounds that drop loose .json requests
LOOSE_PER_ROUND=5
W=2
INFLIGHT=32
start_mock --latency ${TORTURE_LATENCY:-300} \
    --latency-jitter ${TORTURE_JITTER:-300}
spoolctl -d "$SPOOL" init >/dev/null
make_batch $N "$TRASH/torture.jsonl"
cat > "$TRASH/torture.conf" <<EOC
[spool]
rescan = 1s
[workers]
processes = $W
inflight = $INFLIGHT
[retry]
backoff_base = 50ms
backoff_max = 500ms
[batch]
max_age = 1s
EOC
R=$SPOOL/results/torture
drop "$TRASH/torture.jsonl"

# A random delay of 0.2-1.5 s (awk's srand() has only a 1 s resolution).
rand_delay() {
	od -An -N2 -tu2 /dev/urandom |
	    awk '{ printf "%.2f\n", 0.2 + $1 / 65535 * 1.3 }'
}
# Process state letter from /proc (R, S, T, Z, ...); empty if gone.
pstate() { sed -n 's/^.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null; }
stopped() { [ "$(pstate "$1")" = T ]; }
# Gone, or a zombie (an orphan's new parent may be slow to reap it).
gone() { _s=$(pstate "$1"); [ -z "$_s" ] || [ "$_s" = Z ]; }
all_gone() { for _p in "$@"; do gone "$_p" || return 1; done; }
workers_of() { pgrep -P "$1" -f 'spoold --worker' 2>/dev/null; }
# A full set of workers that does not include pid $2.
replaced() {
	_w=$(workers_of "$SPOOLD_PID")
	[ "$(echo "$_w" | grep -c .)" -eq $W ] && ! echo "$_w" | grep -qx "$2"
}

sup_kills=0
worker_kills=0
worker_restarts=0
rounds=0
bad_exits=""
stray=""

# kill -9 the supervisor; first freeze it (SIGSTOP) so that it cannot
# fork a worker or a finisher between listing its children and dying.
# Then reap it (a zombie still "exists" for the lease check of the next
# instance) and wait until all its children are gone too.
kill_supervisor() {
	if ! kill -STOP "$SPOOLD_PID" 2>/dev/null; then
		wait "$SPOOLD_PID" 2>/dev/null
		bad_exits="$bad_exits round$rounds:rc=$?"
		_pids=$(echo " $_pids " | sed "s/ $SPOOLD_PID / /")
		return
	fi
	wait_for 10 stopped "$SPOOLD_PID"
	_kids=$(pgrep -P "$SPOOLD_PID" 2>/dev/null)
	kill -KILL "$SPOOLD_PID"
	wait "$SPOOLD_PID" 2>/dev/null
	_rc=$?
	# Reaped: drop it from cleanup's list so that a reused pid is safe.
	_pids=$(echo " $_pids " | sed "s/ $SPOOLD_PID / /")
	if [ $_rc -eq 137 ]; then
		sup_kills=$((sup_kills + 1))
	else
		bad_exits="$bad_exits round$rounds:rc=$_rc"
	fi
	# Workers exit when their channel closes, a finisher when done.
	if ! wait_for 30 all_gone $_kids; then
		stray="$stray round$rounds:$(echo $_kids | tr ' ' ,)"
		for _p in $_kids; do kill -KILL "$_p" 2>/dev/null; done
	fi
}

while [ $rounds -lt $ROUNDS ] && [ ! -f "$R/manifest.json" ]; do
	rounds=$((rounds + 1))
	start_spoold -c "$TRASH/torture.conf"
	if [ $rounds -le $LOOSE_ROUNDS ]; then
		i=1
		while [ $i -le $LOOSE_PER_ROUND ]; do
			printf '{"model":"mock-1","messages":[{"role":"user","content":"loose %s %s"}]}\n' \
			    $rounds $i > "$TRASH/lq-$rounds-$i.json"
			drop "$TRASH/lq-$rounds-$i.json"
			i=$((i + 1))
		done
	fi
	sleep "$(rand_delay)"	# the deliberate random moment
	if [ $((rounds % 2)) -eq 1 ]; then
		victim=$(workers_of "$SPOOLD_PID" | head -n $((rounds % 4 / 2 + 1)) | tail -n 1)
		if [ -n "$victim" ] && kill -KILL "$victim" 2>/dev/null; then
			worker_kills=$((worker_kills + 1))
			# The supervisor restarts it (after a short gap)
			# and re-queues what it had in flight.
			if wait_for 15 replaced "$SPOOLD_PID" "$victim"; then
				worker_restarts=$((worker_restarts + 1))
			fi
			sleep "$(rand_delay)"	# another random moment
		fi
	fi
	kill_supervisor
done
diag "rounds: $rounds, supervisor kills: $sup_kills, worker kills: $worker_kills, worker restarts seen: $worker_restarts"
check "supervisor killed in at least 3 rounds" test $sup_kills -ge 3
check "worker killed in at least 2 rounds" test $worker_kills -ge 2
check "every killed worker was replaced" test $worker_restarts -eq $worker_kills
check "no supervisor exited on its own${bad_exits}" test -z "$bad_exits"
check "children gone after each supervisor kill${stray}" test -z "$stray"

diag "before the final run: $(grep 'batch=torture resumed' "$TRASH/spoold.log" |
    tail -n 1 | sed 's/.*resumed: //')"
timeout 120 spoold -d "$SPOOL" -e "$MOCK_URL" -c "$TRASH/torture.conf" \
    --once 2>>"$TRASH/spoold.log"
rc=$?
check "final --once run exits 0 (rc=$rc)" test $rc = 0
check "manifest.json written" test -f "$R/manifest.json"

# Every custom_id exactly once across output and errors.
cut -d'"' -f4 "$TRASH/torture.jsonl" | sort > "$TRASH/want"
cat "$R/output.jsonl" "$R/errors.jsonl" 2>/dev/null |
    sed 's/.*"custom_id": *"\([^"]*\)".*/\1/' | sort > "$TRASH/got"
uniq -d "$TRASH/got" > "$TRASH/dups"
diag "result lines: $(lines "$TRASH/got"), duplicates: $(lines "$TRASH/dups")"
check "no custom_id twice" test ! -s "$TRASH/dups"
check "every custom_id answered" cmp -s "$TRASH/want" "$TRASH/got"
check "errors.jsonl is empty" test ! -s "$R/errors.jsonl"
check "output lines validate" validate output-strict "$R/output.jsonl"
tot=$(json "$R/manifest.json" 'd["request_counts"]["total"]' 2>/dev/null)
com=$(json "$R/manifest.json" 'd["request_counts"]["completed"]' 2>/dev/null)
fai=$(json "$R/manifest.json" 'd["request_counts"]["failed"]' 2>/dev/null)
diag "manifest request_counts: total=$tot completed=$com failed=$fai"
errs=0
[ -f "$R/errors.jsonl" ] && errs=$(lines "$R/errors.jsonl")
check "manifest counts agree with the results" test "$tot" = $N -a \
    "$com" = "$(lines "$R/output.jsonl")" -a "$fai" = "$errs"
check "input moved to done/" test -f "$SPOOL/done/torture.jsonl" -a \
    ! -e "$SPOOL/processing/torture.jsonl"

# The loose requests, spread over one or more rolling batches.
ls "$TRASH" | sed -n 's/^\(lq-.*\)\.json$/\1/p' | sort > "$TRASH/lwant"
: > "$TRASH/lgot"
lbad=""
nloose=0
for d in "$SPOOL"/results/loose-*; do
	[ -d "$d" ] || continue
	nloose=$((nloose + 1))
	b=$(basename "$d")
	cat "$d/output.jsonl" "$d/errors.jsonl" 2>/dev/null |
	    sed 's/.*"custom_id": *"\([^"]*\)".*/\1/' > "$TRASH/lone"
	cat "$TRASH/lone" >> "$TRASH/lgot"
	if [ ! -f "$d/manifest.json" ]; then
		lbad="$lbad $b:no-manifest"
		continue
	fi
	[ "$(json "$d/manifest.json" 'd["request_counts"]["total"]')" = \
	    "$(lines "$TRASH/lone")" ] || lbad="$lbad $b:total"
	[ "$(json "$d/manifest.json" 'd["request_counts"]["completed"]')" = \
	    "$(lines "$d/output.jsonl")" ] || lbad="$lbad $b:completed"
	[ -s "$d/errors.jsonl" ] && lbad="$lbad $b:errors"
	while read -r id; do
		[ -f "$d/$id.json" ] || lbad="$lbad $b:$id.json"
	done < "$TRASH/lone"
	[ -e "$SPOOL/done/$b" ] || lbad="$lbad $b:not-in-done"
done
sort "$TRASH/lgot" > "$TRASH/lgot.s"
diag "loose batches: $nloose, loose results: $(lines "$TRASH/lgot.s") of $(lines "$TRASH/lwant")"
check "every loose request answered exactly once" \
    cmp -s "$TRASH/lwant" "$TRASH/lgot.s"
check "loose batches complete and consistent${lbad}" test -z "$lbad"

left=$(ls -A "$SPOOL/processing" | tr '\n' ' ')
check "processing/ is empty${left:+ (left: }${left}${left:+)}" test -z "$left"
check "nothing held in new/" test -z "$(ls "$SPOOL/new")"

# Re-sends only for what was in flight at a kill (at most all slots of
# the killed processes), counting the loose requests too.
nl=$(lines "$TRASH/lwant")
sent=$(grep -c '^req-' "$TRASH/mock.log")
lsent=$(grep -c '^lq-' "$TRASH/mock.log")
distinct=$(grep -e '^req-' -e '^lq-' "$TRASH/mock.log" | cut -d' ' -f1 |
    sort -u | wc -l)
resent=$((sent + lsent - N - nl))
bound=$((sup_kills * W * INFLIGHT + worker_kills * INFLIGHT))
diag "requests sent: $sent of $N, loose $lsent of $nl; re-sent: $resent (bound $bound)"
check "every request reached the API" test "$distinct" -eq $((N + nl))
check "re-sends only for requests in flight at a kill" \
    test "$sent" -ge $N -a "$resent" -le $bound
check "no warnings about a failed journal or lost lease" \
    test -z "$(grep -e 'journal write failed' -e 'lease lost' "$TRASH/spoold.log")"
# Under SAN=1: memory errors are failures; leak reports are counted
# (workers orphaned by a kill -9 exit with their transfers in flight).
check "no AddressSanitizer or UBSan error" test -z "$(grep -e \
    'ERROR: AddressSanitizer' -e 'runtime error:' "$TRASH/spoold.log")"
diag "LeakSanitizer reports: $(grep -c 'ERROR: LeakSanitizer' "$TRASH/spoold.log")"
done_testing
