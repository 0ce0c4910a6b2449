#!/bin/sh
# I/O fault injection, the way SQLite tests I/O errors: the Nth write,
# fsync, rename, open, link, mkdir or ftruncate under the spool fails
# with EIO or ENOSPC (tests/fault/iofault.c, LD_PRELOAD), N swept over
# every call site a clean run makes.  spoold must report the error, lose
# nothing, and complete the work on a run after the fault has cleared.
#
# Knobs: SPOOLD_IOFAULT_MAX (points to run, default 260; 0: all),
# SPOOLD_IOFAULT_OPS (ops to sweep), SPOOLD_IOFAULT_PATIENT=1 (let a
# finisher failure be retried in-process, 10 s each, instead of stopping
# the faulted run with SIGTERM once it has reported the failure).
. "$SPOOLD_SRC/tests/e2e/lib.sh"

SHIM=$SPOOLD_BUILD/tests/iofault.so
if [ ! -f "$SHIM" ]; then
	echo "1..0 # SKIP $SHIM not built (make e2e builds it)"
	exit 0
fi
# Under ASan the runtime insists on coming first in the link order; the
# shim calls only libc, so the check may be turned off.
if ldd "$SPOOLD_BUILD/bin/spoold" 2>/dev/null | grep -q asan; then
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
	export ASAN_OPTIONS
fi
MAXPOINTS=${SPOOLD_IOFAULT_MAX:-260}
OPS=${SPOOLD_IOFAULT_OPS:-fsync rename link mkdir truncate write open}

install_prefix
start_mock
PRISTINE=$TRASH/pristine
LOG=$TRASH/spoold.log
spoolctl -d "$PRISTINE" init >/dev/null
make_batch 30 "$PRISTINE/new/b.jsonl"
for i in 1 2 3; do
	printf '{"model":"m","messages":[{"role":"user","content":"q%s"}]}\n' \
	    $i > "$PRISTINE/new/q$i.json"
done
# Files copied into new/ have a fresh ctime: take them without settling.
printf '[spool]\nsettle = 0s\n' > "$TRASH/spoold.conf"

# The invariants of a finished spool; prints what is wrong.
cat > "$TRASH/check.py" <<'EOF'
import glob, hashlib, json, os, sys, tarfile
sp = sys.argv[1]
bad = []
def ids(path):
    out = []
    for l in open(path):
        if l.strip():
            try:
                out.append(json.loads(l)["custom_id"])
            except Exception:
                bad.append("unparsable line in " + path)
    return out
def temps(d):
    if not os.path.isdir(d):
        return []
    return [n for n in os.listdir(d)
            if n.startswith(".") and n.endswith(".tmp")]
def batch(d, want, name):
    r = os.path.join(sp, "results", d)
    if not os.path.isfile(os.path.join(r, "manifest.json")):
        bad.append("no manifest.json for " + name)
    got = []
    for f in ("output.jsonl", "errors.jsonl"):
        if os.path.isfile(os.path.join(r, f)):
            got += ids(os.path.join(r, f))
        else:
            bad.append("no %s for %s" % (f, name))
    if os.path.isfile(os.path.join(r, "errors.jsonl")) and \
            os.path.getsize(os.path.join(r, "errors.jsonl")) > 0:
        bad.append("errors.jsonl of %s is not empty" % name)
    if temps(r):
        bad.append("temp files in results/%s: %s" % (d, " ".join(temps(r))))
    a = os.path.join(sp, "archive", d + ".tar.gz")
    try:
        with tarfile.open(a) as t:
            m = sorted(t.getnames())
        if m != sorted(d + "/" + f for f in
                ("output.jsonl", "errors.jsonl", "manifest.json")):
            bad.append("archive of %s lists %s" % (name, m))
    except Exception as e:
        bad.append("archive of %s: %s" % (name, e))
    return got
got = batch("b", 30, "b")
dup = sorted(set(i for i in got if got.count(i) > 1))
miss = sorted(set("req-%d" % i for i in range(1, 31)) - set(got))
if dup: bad.append("b: custom_ids more than once: " + " ".join(dup))
if miss: bad.append("b: custom_ids missing: " + " ".join(miss))
m = os.path.join(sp, "results", "b", "manifest.json")
if os.path.isfile(m):
    d = json.load(open(m))
    if d["request_counts"]["completed"] != 30 or d["request_counts"]["failed"]:
        bad.append("b: manifest counts %s" % d["request_counts"])
    inp = os.path.join(sp, "done", "b.jsonl")
    if not os.path.isfile(inp) or hashlib.sha256(open(inp, "rb").read()
            ).hexdigest() != d["input_sha256"]:
        bad.append("b: done/b.jsonl missing or not the input")
loose = sorted(os.path.basename(p) for p in
    glob.glob(os.path.join(sp, "results", "loose-*")))
if not loose:
    bad.append("no loose batch in results/")
got = []
for d in loose:
    these = batch(d, 0, d)
    for i in these:
        if not os.path.isfile(os.path.join(sp, "results", d, i + ".json")):
            bad.append("%s: no result file %s.json" % (d, i))
    got += these
dup = sorted(set(i for i in got if got.count(i) > 1))
miss = sorted({"q1", "q2", "q3"} - set(got))
if dup: bad.append("loose: custom_ids more than once: " + " ".join(dup))
if miss: bad.append("loose: custom_ids missing: " + " ".join(miss))
for d in ("new", "processing", "failed"):
    left = os.listdir(os.path.join(sp, d))
    if left:
        bad.append("%s/ not empty: %s" % (d, " ".join(sorted(left))))
for d in ("archive", "results", "tmp"):
    if temps(os.path.join(sp, d)):
        bad.append("temp files in %s/: %s" % (d,
            " ".join(temps(os.path.join(sp, d)))))
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
EOF

fresh_spool() {
	rm -rf "$SPOOL"
	cp -a "$PRISTINE" "$SPOOL"
}

# faulted_run SPEC: spoold --once with the shim; sets rc and stopped.
# A failed finisher is retried only after 10 s: unless patient, a run
# that has reported one is stopped with SIGTERM (it drains, exits 0),
# and the recovery run must complete the batch instead.
faulted_run() {
	: > "$LOG"
	LD_PRELOAD=$SHIM SPOOLD_IOFAULT=$1 SPOOLD_IOFAULT_PATH=$SPOOL \
	    SPOOLD_IOFAULT_COUNT=${2:-} spoold -c "$TRASH/spoold.conf" \
	    -d "$SPOOL" -e "$MOCK_URL" -w 1 --once 2>>"$LOG" &
	_pid=$!
	_t=0
	stopped=0
	while kill -0 $_pid 2>/dev/null; do
		if [ $stopped = 0 ] && [ "${SPOOLD_IOFAULT_PATIENT:-}" != 1 ] &&
		    grep -q 'finishing failed' "$LOG"; then
			kill -TERM $_pid
			stopped=1
		fi
		_t=$((_t + 1))
		if [ $_t = 1200 ]; then		# 60 s
			diag "$1: still running after 60 s; killed"
			kill -KILL $_pid
		fi
		sleep 0.05
	done
	wait $_pid
	rc=$?
}

recovery_run() {
	timeout 60 spoold -c "$TRASH/spoold.conf" -d "$SPOOL" -e "$MOCK_URL" \
	    -w 1 --once 2>>"$LOG"
	rc2=$?
}

log_tail() {
	tail -n "${1:-25}" "$LOG" | sed 's/^/#   /'
}

# --- the clean counting run ----------------------------------------
fresh_spool
rm -f "$TRASH/counts"
faulted_run "" "$TRASH/counts"
recovery_run
clean_ok=1
if [ $rc != 0 ] || ! /usr/bin/python3 "$TRASH/check.py" "$SPOOL" \
    > "$TRASH/why"; then
	clean_ok=0
fi
# Counts per op: the largest any process of the family saw (the
# counters are shared, so that is the supervisor's final tally).
count_of() {
	awk -v op="$1" '$1 == op && $2 > m { m = $2 } END { print m + 0 }' \
	    "$TRASH/counts" 2>/dev/null
}

# --- choose the points ---------------------------------------------
# fsync, rename, link, mkdir and truncate are swept completely; write
# and open share what is left of the budget, spread evenly.
: > "$TRASH/points"
total=0
dense=0
for op in $OPS; do
	c=$(count_of $op)
	eval "count_$op=$c"
	total=$((total + c))
	case $op in write|open) ;; *) dense=$((dense + c)) ;; esac
done
sparse=$((total - dense))
left=$((MAXPOINTS - dense))
[ $left -lt 0 ] && left=0
for op in $OPS; do
	eval "c=\$count_$op"
	step=1
	case $op in
	write|open)
		if [ "$MAXPOINTS" != 0 ] && [ $sparse -gt $left ]; then
			q=$((left * c / sparse))
			[ $q -lt 1 ] && q=1
			step=$(((c + q - 1) / q))
		fi
		;;
	esac
	n=1
	while [ $n -le "$c" ]; do
		echo "$op $n" >> "$TRASH/points"
		# The last call site is always interesting: include it.
		if [ $((n + step)) -gt "$c" ] && [ $n -lt "$c" ] &&
		    [ $step -gt 1 ]; then
			echo "$op $c" >> "$TRASH/points"
		fi
		n=$((n + step))
	done
	eval "step_$op=$step"
done
npoints=$(wc -l < "$TRASH/points" | tr -d ' ')
plan $((npoints + 1))
if [ $clean_ok = 1 ]; then
	ok "clean run completes and passes the invariants"
else
	not_ok "clean run completes and passes the invariants (rc=$rc)"
	sed 's/^/#   /' "$TRASH/why"
	log_tail
fi
for op in $OPS; do
	eval "c=\$count_$op step=\$step_$op"
	diag "$op: $c call sites under the spool, every $step run"
done
[ "$total" -gt "$npoints" ] && diag "$total call sites, $npoints run" \
    "(write and open sampled; SPOOLD_IOFAULT_MAX=0 runs all)"

# --- known bugs ----------------------------------------------------
# A failure matching a known, reported spoold bug may be marked TODO
# here (set $todo and return 0) so the suite stays green while it is
# open; anything else fails.  The sweep's first run found six (a loose
# claim lost after a failed directory fsync, transient open errors
# failing a batch for good, missing per-request result files, a
# half-finished batch no restart finished, "unknown" custom_ids for
# unreadable members, unreadable drops taken for gone); all are fixed,
# so none is excused now.
known_bug() {
	todo=""
	return 1
}

# --- the sweep -----------------------------------------------------
start=$(date +%s)
fired=0
nleft=0
nfail=0
ntodo=0
silent=""
while read -r op n; do
	if [ $((n % 2)) = 1 ]; then e=EIO; else e=ENOSPC; fi
	spec=$op:$n:$e
	fresh_spool
	faulted_run "$spec"
	what="not reached"
	if grep -q '^iofault\[' "$LOG"; then
		fired=$((fired + 1))
		what="fired"
		if grep -q '^iofault\[.*' "$LOG" &&
		    ! grep -q '^<[34]>' "$LOG"; then
			silent="$silent $spec"
		fi
	fi
	reported=1
	if [ $rc != 0 ] && ! grep -q '^<[34]>' "$LOG"; then
		reported=0
	fi
	# A drop whose claim failed with a warning stays in new/ for the
	# next run (with settle = 0 it is not retried within --once); one
	# left there without a word is a failure.
	left=""
	if [ $rc = 0 ] && [ $stopped = 0 ] && [ -n "$(ls "$SPOOL/new")" ]; then
		if grep -q '^<[34]>' "$LOG"; then
			nleft=$((nleft + 1))
		else
			left=$(ls "$SPOOL/new")
		fi
	fi
	recovery_run
	/usr/bin/python3 "$TRASH/check.py" "$SPOOL" > "$TRASH/why"
	inv=$?
	if [ -n "$left" ]; then
		echo "faulted run exited 0 leaving new/: $left" | tr '\n' ' ' \
		    >> "$TRASH/why"
		echo >> "$TRASH/why"
		inv=1
	fi
	todo=""
	desc="$spec $what, rc=$rc"
	[ $stopped = 1 ] && desc="$desc (stopped after the report)"
	desc="$desc, recovery rc=$rc2"
	if [ $reported = 1 ] && [ $rc2 = 0 ] && [ $inv = 0 ]; then
		ok "$desc"
		continue
	fi
	[ $reported = 0 ] && echo "exit $rc without a warning or error" \
	    >> "$TRASH/why"
	[ $rc2 != 0 ] && echo "recovery run exited $rc2" >> "$TRASH/why"
	if known_bug; then
		ntodo=$((ntodo + 1))
		_n=$((_n + 1))
		echo "not ok $_n - $desc # TODO $todo"
	else
		nfail=$((nfail + 1))
		not_ok "$desc"
	fi
	sed 's/^/#   /' "$TRASH/why"
	grep -v '^<6>' "$LOG" | head -n 12 | sed 's/^/#   log: /'
	[ -z "$todo" ] && log_tail 15
done < "$TRASH/points"
diag "$npoints fault points in $(($(date +%s) - start)) s: $fired fired," \
    "$nfail failed, $ntodo known bugs (TODO)"
diag "$nleft faulted runs reported a failed claim and left the drop in" \
    "new/ for the next run"
[ -n "$silent" ] && diag "fired but nothing logged:$silent"
done_testing
