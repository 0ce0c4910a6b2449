#!/bin/sh
# Runs libFuzzer targets one after the other, each for SECONDS, on a copy
# of its seed corpus in a temporary directory: the committed corpus is
# never written.  Each first replays its regression inputs.  A crash
# fails the run; its input is kept in BUILD_DIR/crashes/.
#   sh tests/fuzz/run.sh SECONDS BUILD_DIR TARGET...
set -u
[ $# -ge 3 ] || { echo "usage: run.sh SECONDS BUILD_DIR TARGET..." >&2; exit 2; }
secs=$1 bdir=$(cd "$2" && pwd) || exit 2
shift 2
src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/spoold-fuzz.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$bdir/crashes"

# Inputs no bigger than the target needs: larger ones only run slower.
max_len() {
	case $1 in
	fuzz_unpack) echo 65536 ;;
	fuzz_config) echo 8192 ;;
	*) echo 16384 ;;
	esac
}

# The sanitizers stop at the first error; leaks count as errors.
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

fail=0
npass=0
nfail=0
for t in "$@"; do
	bin=$bdir/$t
	name=${t#fuzz_}
	work=$tmp/$t
	mkdir -p "$work/corpus"
	[ -d "$src/corpus/$name" ] && cp "$src/corpus/$name"/* "$work/corpus/"
	# Every crash found and fixed stays a test: replay them first.
	set --
	for f in "$src/regress/$name"-*; do
		[ -f "$f" ] && set -- "$@" "$f"
	done
	if [ $# -gt 0 ] && ! (cd "$work" && "$bin" "$@" \
	    >"$work/regress.log" 2>&1); then
		cat "$work/regress.log" >&2
		echo "fuzz: $t: a regression input fails" >&2
		nfail=$((nfail + 1))
		fail=1
		continue
	fi
	# The fuzzer's cwd is the temporary directory: anything it writes
	# stays there, crash inputs excepted.
	# A dictionary of the keywords the parser looks for, if any.
	dict=
	[ -f "$src/$name.dict" ] && dict=-dict=$src/$name.dict
	(cd "$work" && "$bin" $dict -max_total_time="$secs" \
	    -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$bdir/crashes/$t-" \
	    corpus >"$work/log" 2>&1)
	r=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' \
	    "$work/log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1)
	if [ $r != 0 ]; then
		nfail=$((nfail + 1))
		tail -60 "$work/log" >&2
		echo "fuzz: $t: FAILED (exit $r) after ${execs:-?} runs;" \
		    "input in $bdir/crashes/" >&2
		fail=1
	else
		npass=$((npass + 1))
		echo "fuzz: $t: ok, ${execs:-?} runs in ${secs}s, $cov," \
		    "corpus $(ls "$work/corpus" | wc -l) inputs"
	fi
done
# The runner's summary line, as make check's output must end with one.
echo "$npass passed, $nfail failed"
exit $fail
