#!/bin/sh
# tests/bench/run.sh BUILD_DIR - the spoold benchmark (see README.md).
#
# Runs every scenario on this machine, in one go, for spoold and for the
# tools a user would pick instead (curl --parallel, GNU parallel + curl,
# xargs -P + curl), against the same spool-mockllm, with the same input
# and concurrency, and prints one table; the table is also saved to
# BUILD_DIR/bench/latest.md.
#
# Environment (all optional):
#   BENCH_QUICK=1        every size about 10x smaller (a smoke run)
#   BENCH_ONLY="1 4"     run only these scenarios
#   BENCH_KEEP=1         keep the work directory (spools, logs, inputs)
#   BENCH_TMPDIR=DIR     where the work directory goes (default BUILD_DIR/bench)
#   BENCH_S1_N BENCH_S1_INFLIGHT BENCH_S1_FORK_N BENCH_WRK_SECS
#   BENCH_S2_N BENCH_S2_INFLIGHT BENCH_S2_LATENCY BENCH_S2_RUNS
#   BENCH_S3_N BENCH_S3_PROCESSES BENCH_S3_INFLIGHT
#   BENCH_S4_N BENCH_S4_GAP_MS
#   BENCH_S5_N BENCH_S5_RPM
#   BENCH_S6_N
#   BENCH_MOCK_THREADS   spool-mockllm --threads (default: its own, = cores)
set -u

BUILD=${1:-$(pwd)/build}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$BUILD/bin
PY="python3 -B"
BENCHPY="$HERE/bench.py"

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	d_s1=2000 d_s2=4000 d_s3=100000 d_s4=100 d_s5=1000 d_s6=10000 d_wrk=3
else
	d_s1=20000 d_s2=20000 d_s3=1000000 d_s4=1000 d_s5=8000 d_s6=100000
	d_wrk=10
fi
S1_N=${BENCH_S1_N:-$d_s1}
S1_INFLIGHT=${BENCH_S1_INFLIGHT:-64}
S1_FORK_N=${BENCH_S1_FORK_N:-$S1_N}
WRK_SECS=${BENCH_WRK_SECS:-$d_wrk}
S2_N=${BENCH_S2_N:-$d_s2}
S2_INFLIGHT=${BENCH_S2_INFLIGHT:-2000}
S2_LATENCY=${BENCH_S2_LATENCY:-200}
S2_RUNS=${BENCH_S2_RUNS:-3}
S3_N=${BENCH_S3_N:-$d_s3}
S3_PROCESSES=${BENCH_S3_PROCESSES:-2}
S3_INFLIGHT=${BENCH_S3_INFLIGHT:-32}
S4_N=${BENCH_S4_N:-$d_s4}
S4_GAP_MS=${BENCH_S4_GAP_MS:-5}
S5_N=${BENCH_S5_N:-$d_s5}
S5_RPM=${BENCH_S5_RPM:-6000}
S6_N=${BENCH_S6_N:-$d_s6}
ONLY=${BENCH_ONLY:-1 2 3 4 5 6}

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }
have() { command -v "$1" >/dev/null 2>&1; }

for b in spoold spoolctl spool-mockllm; do
	[ -x "$BIN/$b" ] || die "$BIN/$b missing: run make first"
done
have python3 || die "python3 is needed (apt-get install -y python3)"

# --- packages: curl, GNU parallel, wrk --------------------------------
missing=
have curl || missing="$missing curl"
have parallel || missing="$missing parallel"
have wrk || missing="$missing wrk"
if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ] && have apt-get; then
		say "installing:$missing"
		DEBIAN_FRONTEND=noninteractive apt-get install -y $missing >&2 ||
		    { apt-get update >&2 &&
		      DEBIAN_FRONTEND=noninteractive apt-get install -y $missing >&2; }
	else
		say "missing:$missing - install with: sudo apt-get install -y$missing"
		say "(the peers that need them are skipped)"
	fi
fi
# GNU parallel, not moreutils' parallel.
GNU_PARALLEL=no
if have parallel && parallel --version 2>/dev/null | grep -q 'GNU parallel'; then
	GNU_PARALLEL=yes
fi

# 2,000 connections need descriptors: raise the soft limit to the hard one.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --- work directory, cleanup ------------------------------------------
OUTDIR=$BUILD/bench
mkdir -p "$OUTDIR" || die "cannot create $OUTDIR"
W=$(mktemp -d "${BENCH_TMPDIR:-$OUTDIR}/work.XXXXXX") || die "mktemp failed"
RES=$W/results.jsonl
: > "$RES"
MOCK_PID=
BG_PIDS=

cleanup() {
	for p in $BG_PIDS $MOCK_PID; do
		kill "$p" 2>/dev/null
	done
	for p in $BG_PIDS $MOCK_PID; do
		wait "$p" 2>/dev/null
	done
	if [ -f "$W/daemon.pid" ]; then
		kill "$(cat "$W/daemon.pid")" 2>/dev/null
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		say "work directory kept: $W"
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rec() { $PY "$BENCHPY" record "$RES" "$@"; }
measure() { $PY "$BENCHPY" measure "$@"; }

# start_mock ARGS...: a fresh spool-mockllm; sets MOCK_PID and URL.
start_mock() {
	rm -f "$W/mock.port"
	set -- -q --port 0 --portfile "$W/mock.port" "$@"
	[ -n "${BENCH_MOCK_THREADS:-}" ] && set -- "$@" --threads "$BENCH_MOCK_THREADS"
	"$BIN/spool-mockllm" "$@" 2>>"$W/mock.err" &
	MOCK_PID=$!
	i=0
	while [ ! -s "$W/mock.port" ]; do
		i=$((i + 1))
		[ $i -gt 200 ] && die "spool-mockllm did not start"
		sleep 0.05
	done
	URL=http://127.0.0.1:$(cat "$W/mock.port")
}
stop_mock() {
	[ -n "$MOCK_PID" ] || return 0
	kill "$MOCK_PID" 2>/dev/null
	wait "$MOCK_PID" 2>/dev/null
	MOCK_PID=
}

# input N: a JSONL batch of N requests (cached).
input() {
	[ -f "$W/in.$1.jsonl" ] || $PY "$BENCHPY" gen-jsonl "$1" "$W/in.$1.jsonl"
	echo "$W/in.$1.jsonl"
}
bodies() {
	[ -f "$W/bodies.$1" ] || $PY "$BENCHPY" gen-bodies "$1" "$W/bodies.$1"
	echo "$W/bodies.$1"
}

# spoold_run SCN LABEL N CONF [KEY=VALUE...]: one N-request batch, timed
# from the drop (the rename of the written file into new/) to the
# appearance of manifest.json.  BENCH_SPOOLD_MODE=daemon (the default):
# spoold is started first and the drop happens once it runs; it gets
# SIGTERM when manifest.json appears.  BENCH_SPOOLD_MODE=once: the drop
# happens first, then `spoold --once` starts.  Only status_code 200 lines
# count as done.  CPU and RSS cover the whole life of spoold.
SPOOLD_MODE=${BENCH_SPOOLD_MODE:-daemon}
spoold_run() {
	scn=$1 label=$2 n=$3 conf=$4
	shift 4
	sp=$W/spool.$scn
	rm -rf "$sp"
	"$BIN/spoolctl" -d "$sp" init >/dev/null || die "spoolctl init failed"
	cp "$(input "$n")" "$sp/new/.b.tmp"
	sync
	say "scenario $scn: spoold ($SPOOLD_MODE), $n requests"
	man=$sp/results/b/manifest.json
	log=$W/spoold.$scn.log
	: > "$log"
	if [ "$SPOOLD_MODE" = once ]; then
		set -- --drop "$sp/new/.b.tmp" "$sp/new/b.jsonl" -- \
		    "$BIN/spoold" -d "$sp" -e "$URL" -c "$conf" --once "$@"
	else
		set -- --ready "$log" "spoold started" \
		    --drop "$sp/new/.b.tmp" "$sp/new/b.jsonl" --term-on "$man" -- \
		    "$BIN/spoold" -d "$sp" -e "$URL" -c "$conf" "$@"
		# SPOOLD_WARM=N: a batch of N first, whose connections the
		# measured batch then reuses (a daemon that has been running).
		if [ -n "${SPOOLD_WARM:-}" ]; then
			sed 's/"custom_id":"/"custom_id":"w/' "$(input "$SPOOLD_WARM")" \
			    > "$sp/new/.w.tmp"
			set -- --warm "$sp/new/.w.tmp" "$sp/new/w.jsonl" \
			    "$sp/results/w/manifest.json" "$@"
		fi
	fi
	# (the KEY=VALUE arguments were saved in $extra by the caller)
	measure --out "$W/m.$scn.spoold" --until "$man" --also-pid "$MOCK_PID" \
	    --timeout 1500 "$@" 2>"$log"
	ok=$(grep -c '"status_code":200' "$sp/results/b/output.jsonl" 2>/dev/null)
	rec scn="$scn" label="$label" tool=spoold n="$n" ok="${ok:-0}" \
	    m@="$W/m.$scn.spoold" mode="$SPOOLD_MODE" $extra
	cp "$W/spoold.$scn.log" "$OUTDIR/spoold.$scn.log" 2>/dev/null
	rm -rf "$sp"
}

# curl_parallel SCN LABEL N INFLIGHT: curl's multi-transfer mode, split
# over as many curl processes as --parallel-max (<= 300) requires.
curl_parallel() {
	scn=$1 label=$2 n=$3 inf=$4
	if ! have curl; then
		rec scn="$scn" label="$label" tool="curl --parallel" n="$n" skipped='"curl missing"'
		return
	fi
	k=$(( (inf + 299) / 300 ))
	per=$(( (inf + k - 1) / k ))
	rm -f "$W"/curlcfg.*
	$PY "$BENCHPY" gen-curlcfg "$n" "$URL" "$k" "$W/curlcfg"
	say "scenario $scn: curl --parallel, $n requests, $k x $per in flight"
	measure --out "$W/m.$scn.curl" --also-pid "$MOCK_PID" -- sh -c '
		for f in "$1"/curlcfg.*; do
			curl -s --parallel --parallel-max "$2" -K "$f" > "$f.out" 2>"$f.err" &
		done
		wait' sh "$W" "$per"
	ok=$(cat "$W"/curlcfg.*.out | grep -c '^200$')
	note='""'
	[ "$k" -gt 1 ] && note="\"$k curl processes × $per\""
	rec scn="$scn" label="$label" tool="curl --parallel" n="$n" ok="$ok" \
	    m@="$W/m.$scn.curl" note="$note"
	rm -f "$W"/curlcfg.*
}

# ------------------------------------------------------------- scenario 1
if want 1; then
	start_mock --latency 0
	conf=$W/s1.conf
	half=$(( S1_INFLIGHT / 2 ))
	printf '[workers]\nprocesses = 2\ninflight = %d\n[endpoint default]\nmax_inflight = %d\n' \
	    "$half" "$S1_INFLIGHT" > "$conf"
	L1="1. 0 ms, $S1_INFLIGHT in flight"
	extra= spoold_run 1 "$L1" "$S1_N" "$conf"
	curl_parallel 1 "$L1" "$S1_N" "$S1_INFLIGHT"
	B=$(bodies "$S1_FORK_N")
	if [ "$GNU_PARALLEL" = yes ]; then
		say "scenario 1: GNU parallel + curl, $S1_FORK_N requests"
		# -q: parallel quotes every argument (and {}) for the shell.
		measure --out "$W/m.1.par" --also-pid "$MOCK_PID" -- sh -c '
			parallel -q --will-cite -j "$2" curl -s -o /dev/null \
			    -w "%{http_code}\\n" -X POST \
			    -H Content-Type:application/json -d {} \
			    "$3/v1/chat/completions" :::: "$1" > "$4" 2>"$4.err"' \
		    sh "$B" "$S1_INFLIGHT" "$URL" "$W/par.out"
		ok=$(grep -c '^200$' "$W/par.out")
		rec scn=1 label="$L1" tool="GNU parallel + curl" n="$S1_FORK_N" \
		    ok="$ok" m@="$W/m.1.par"
	else
		rec scn=1 label="$L1" tool="GNU parallel + curl" n="$S1_FORK_N" \
		    skipped='"GNU parallel missing"'
	fi
	say "scenario 1: xargs -P + curl, $S1_FORK_N requests"
	measure --out "$W/m.1.xargs" --also-pid "$MOCK_PID" -- sh -c '
		xargs -d "\n" -P "$2" -n 1 curl -s -o /dev/null \
		    -w "%{http_code}\\n" -X POST \
		    -H Content-Type:application/json \
		    "$3/v1/chat/completions" -d < "$1" > "$4" 2>"$4.err"' \
	    sh "$B" "$S1_INFLIGHT" "$URL" "$W/xargs.out"
	ok=$(grep -c '^200$' "$W/xargs.out")
	rec scn=1 label="$L1" tool="xargs -P + curl" n="$S1_FORK_N" ok="$ok" \
	    m@="$W/m.1.xargs"
	if have wrk; then
		say "scenario 1: wrk, ${WRK_SECS}s, $S1_INFLIGHT connections"
		$PY "$BENCHPY" gen-wrk-lua "$W/post.lua"
		measure --out "$W/m.1.wrk" --also-pid "$MOCK_PID" -- sh -c \
		    'wrk -t 2 -c "$1" -d "$2"s -s "$3" "$4/v1/chat/completions" > "$5"' \
		    sh "$S1_INFLIGHT" "$WRK_SECS" "$W/post.lua" "$URL" "$W/wrk.out"
		# "  123456 requests in 10.00s, 48.12MB read"
		wn=$(awk '/requests in/ { print $1 }' "$W/wrk.out")
		ws=$(awk '/requests in/ { sub(/s,$/, "", $4); print $4 }' "$W/wrk.out")
		bad=$(awk '/Non-2xx/ { print $NF }' "$W/wrk.out")
		rec scn=1 label="$L1" tool="wrk (mock ceiling)" n="${wn:-0}" \
		    ok="$(( ${wn:-0} - ${bad:-0} ))" m@="$W/m.1.wrk" wall="${ws:-0}" \
		    note="\"keep-alive, $S1_INFLIGHT connections, ${WRK_SECS} s\""
	else
		rec scn=1 label="$L1" tool="wrk (mock ceiling)" n=0 skipped='"wrk missing"'
	fi
	stop_mock
fi

# ------------------------------------------------------------- scenario 2
if want 2; then
	start_mock --latency "$S2_LATENCY"
	conf=$W/s2.conf
	half=$(( S2_INFLIGHT / 2 ))
	printf '[workers]\nprocesses = 2\ninflight = %d\n[endpoint default]\nmax_inflight = %d\n' \
	    "$half" "$S2_INFLIGHT" > "$conf"
	theo=$(( S2_INFLIGHT * 1000 / S2_LATENCY ))
	L2="2. $S2_LATENCY ms, $S2_INFLIGHT in flight"
	# Two seconds on two shared cores vary by a few per cent from run
	# to run: the median of S2_RUNS stands (the report merges them).
	i=0
	while [ $i -lt "$S2_RUNS" ]; do
		extra="theoretical=$theo" spoold_run 2 "$L2" "$S2_N" "$conf"
		curl_parallel 2 "$L2" "$S2_N" "$S2_INFLIGHT"
		i=$((i + 1))
	done
	SPOOLD_WARM=$S2_INFLIGHT
	extra="theoretical=$theo" spoold_run 2w "$L2, warm" "$S2_N" "$conf"
	SPOOLD_WARM=
	stop_mock
fi

# ------------------------------------------------------------- scenario 3
if want 3; then
	start_mock --latency 0
	conf=$W/s3.conf
	printf '[workers]\nprocesses = %d\ninflight = %d\n' \
	    "$S3_PROCESSES" "$S3_INFLIGHT" > "$conf"
	say "scenario 3: generating $S3_N requests"
	extra= spoold_run 3 "3. one $S3_N-request batch, ${S3_PROCESSES}×$S3_INFLIGHT" "$S3_N" "$conf"
	rm -f "$W/in.$S3_N.jsonl"
	stop_mock
fi

# ------------------------------------------------------------- scenario 4
if want 4; then
	start_mock --latency 0
	sp=$W/spool.4
	"$BIN/spoolctl" -d "$sp" init >/dev/null || die "spoolctl init failed"
	conf=$W/s4.conf
	printf '[batch]\nmax_age = 1s\n' > "$conf"
	rm -f "$W/s4.stop" "$W/daemon.pid"
	say "scenario 4: $S4_N single-file drops into a running spoold"
	measure --out "$W/m.4" --term-on "$W/s4.stop" -- \
	    "$BIN/spoold" -d "$sp" -e "$URL" -c "$conf" 2>"$W/spoold.4.log" &
	BG_PIDS=$!
	$PY "$BENCHPY" drops --spool "$sp" --n "$S4_N" --gap-ms "$S4_GAP_MS" \
	    --out "$W/drops.4" --stop-file "$W/s4.stop"
	touch "$W/s4.stop"
	wait "$BG_PIDS"
	BG_PIDS=
	# The wall column is the drop phase (drops are spaced by the claim
	# plus BENCH_S4_GAP_MS); the CPU and RSS are the daemon's lifetime.
	rec scn=4 label="4. $S4_N single-file drops (daemon)" tool=spoold \
	    m@="$W/m.4" d@="$W/drops.4" norate=true
	python3 -B - "$W/drops.4" "$RES" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
lines = open(sys.argv[2]).read().splitlines()
r = json.loads(lines[-1])
r["wall"] = d["drop_wall"]
lines[-1] = json.dumps(r)
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
EOF
	cp "$W/spoold.4.log" "$OUTDIR/spoold.4.log" 2>/dev/null
	rm -rf "$sp"
	stop_mock
fi

# ------------------------------------------------------------- scenario 5
if want 5; then
	: > "$W/mock.5.log"
	start_mock --latency 0 --rpm "$S5_RPM" --log "$W/mock.5.log"
	conf=$W/s5.conf
	printf '[workers]\nprocesses = 2\n[endpoint default]\nrpm = %d\n' "$S5_RPM" > "$conf"
	extra="limit_rpm=$S5_RPM" spoold_run 5 "5. mock --rpm $S5_RPM" "$S5_N" "$conf"
	stop_mock
	n429=$(grep -c ' 429$' "$W/mock.5.log")
	sent=$(wc -l < "$W/mock.5.log")
	python3 -B - "$RES" "$n429" "$sent" <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
r = json.loads(lines[-1])
r["n429"] = int(sys.argv[2])
r["note"] = "mock saw %s requests" % sys.argv[3]
lines[-1] = json.dumps(r)
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
EOF
fi

# ------------------------------------------------------------- scenario 6
# A spool left full of loose requests (say, by a legacy system while
# spoold was down): `spoold --once` takes them all, in rolling batches.
if want 6; then
	start_mock --latency 0
	sp=$W/spool.6
	"$BIN/spoolctl" -d "$sp" init >/dev/null || die "spoolctl init failed"
	say "scenario 6: writing $S6_N loose files"
	$PY "$BENCHPY" gen-loose "$S6_N" "$sp/new"
	sync
	conf=$W/s6.conf
	printf '[workers]\nprocesses = 2\ninflight = 32\n' > "$conf"
	say "scenario 6: spoold --once on $S6_N loose files"
	measure --out "$W/m.6" --also-pid "$MOCK_PID" \
	    --first "$sp/results/loose-*/q*.json" --interval 0.2 -- \
	    "$BIN/spoold" -d "$sp" -e "$URL" -c "$conf" --once \
	    2>"$W/spoold.6.log"
	ok=$(cat "$sp"/results/loose-*/output.jsonl 2>/dev/null |
	    grep -c '"status_code":200')
	rec scn=6 label="6. $S6_N loose files at start (--once)" tool=spoold \
	    n="$S6_N" ok="${ok:-0}" m@="$W/m.6"
	cp "$W/spoold.6.log" "$OUTDIR/spoold.6.log" 2>/dev/null
	rm -rf "$sp"
	stop_mock
fi

# ----------------------------------------------------------------- table
ver=$("$BIN/spoold" --version 2>&1 | head -1)
rec meta="\"spoold benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -sr), $ver; $([ "${BENCH_QUICK:-0}" = 1 ] && echo 'QUICK (sizes /10)' || echo 'full sizes'); durability on (spoold defaults: fdatasync group commit)\""
echo
$PY "$BENCHPY" report "$RES" "$OUTDIR/latest.md"
cp "$RES" "$OUTDIR/latest.jsonl"
say "table saved to $OUTDIR/latest.md"
