# lib.sh - TAP helpers for the end-to-end tests (POSIX sh).
#
# Each script gets a fresh $TRASH, the binaries installed by
# `make install` into $TRASH/prefix, and a cleanup trap that stops only
# the processes it started (by pid): TERM, a grace period, then KILL.

set -u
: "${SPOOLD_BUILD:?run through make e2e}"
: "${SPOOLD_SRC:?run through make e2e}"
TRASH=$(mktemp -d "${TMPDIR:-/tmp}/spoold-e2e.XXXXXX")
PREFIX=$TRASH/prefix
PATH=$PREFIX/bin:$PATH
SPOOL=$TRASH/spool
export PATH TRASH SPOOL
_n=0
_failed=0
_pids=""
VALGRIND=""
if [ "${SPOOLD_VALGRIND:-}" = 1 ]; then
	VALGRIND="valgrind -q --error-exitcode=99 --leak-check=full \
--errors-for-leak-kinds=definite --trace-children=yes"
fi

plan() { echo "1..$1"; }
ok() { _n=$((_n + 1)); echo "ok $_n - $*"; }
not_ok() {
	_n=$((_n + 1)); _failed=$((_failed + 1)); echo "not ok $_n - $*"
	# make e2e repeats these after prove's summary, where CI logs show it.
	[ -n "${SPOOLD_E2E_FAILLOG:-}" ] &&
	    echo "$(basename "$0"): not ok $_n - $*" >> "$SPOOLD_E2E_FAILLOG"
	return 0
}
diag() { echo "# $*"; }
# check DESC CMD...: ok if CMD succeeds.
check() {
	_d=$1; shift
	if "$@"; then ok "$_d"; else not_ok "$_d"; fi
}

cleanup() {
	for p in $_pids; do kill -TERM "$p" 2>/dev/null; done
	_t=0
	for p in $_pids; do
		while kill -0 "$p" 2>/dev/null && [ $_t -lt 50 ]; do
			sleep 0.1; _t=$((_t + 1))
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ "$_failed" -eq 0 ] && [ -z "${KEEP_TRASH:-}" ]; then
		rm -rf "$TRASH"
	else
		echo "# trash kept: $TRASH" >&2
		[ -n "${SPOOLD_E2E_FAILLOG:-}" ] && _fail_context
	fi
}

# The warnings of the logs in $TRASH and what is left in processing/,
# for the failure log.
_fail_context() {
	{
		for _l in "$TRASH"/*.log; do
			[ -f "$_l" ] || continue
			grep '^<[0-4]>' "$_l" | tail -n 5 |
			    sed "s|^|    $(basename "$_l"): |"
		done
		[ -d "$SPOOL/processing" ] &&
		    echo "    processing/: $(ls -A "$SPOOL/processing" |
		    tr '\n' ' ')"
	} >> "$SPOOLD_E2E_FAILLOG" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# start_bg CMD...: run in the background, remember the pid in $LAST_PID.
start_bg() {
	"$@" &
	LAST_PID=$!
	_pids="$_pids $LAST_PID"
}

# wait_for SECONDS CMD...: poll every 0.1 s until CMD succeeds.
wait_for() {
	_lim=$(($1 * 10)); shift
	_i=0
	while ! "$@" 2>/dev/null; do
		_i=$((_i + 1))
		[ $_i -ge $_lim ] && return 1
		sleep 0.1
	done
	return 0
}

install_prefix() {
	if ! make -s -C "$SPOOLD_SRC" install BUILD="$SPOOLD_BUILD" \
	    PREFIX="$PREFIX" >/dev/null; then
		echo "Bail out! make install failed"
		exit 1
	fi
}

# start_mock [OPTIONS]: spool-mockllm on 127.0.0.1, sets MOCK_URL.
start_mock() {
	rm -f "$TRASH/mock.port"
	start_bg spool-mockllm -q --port 0 --portfile "$TRASH/mock.port" \
	    --log "$TRASH/mock.log" "$@"
	MOCK_PID=$LAST_PID
	if ! wait_for 10 test -s "$TRASH/mock.port"; then
		echo "Bail out! spool-mockllm did not start"
		exit 1
	fi
	MOCK_URL="http://127.0.0.1:$(cat "$TRASH/mock.port")"
}

# start_spoold [OPTIONS]: the daemon on $SPOOL against the mock.
start_spoold() {
	start_bg $VALGRIND spoold -d "$SPOOL" -e "$MOCK_URL" "$@" \
	    2>>"$TRASH/spoold.log"
	SPOOLD_PID=$LAST_PID
}

# drop FILE [NAME]: the recommended way: write to a dot name, rename.
drop() {
	_name=${2:-$(basename "$1")}
	cp "$1" "$SPOOL/new/.$_name.tmp" && mv "$SPOOL/new/.$_name.tmp" \
	    "$SPOOL/new/$_name"
}

# make_batch N FILE [MODEL]: N chat requests with custom_ids req-1..N.
make_batch() {
	awk -v n="$1" -v m="${3:-mock-1}" 'BEGIN { for (i = 1; i <= n; i++)
	    printf "{\"custom_id\":\"req-%d\",\"method\":\"POST\",\"url\":" \
	    "\"/v1/chat/completions\",\"body\":{\"model\":\"%s\"," \
	    "\"messages\":[{\"role\":\"user\",\"content\":\"hello %d\"}]}}\n",
	    i, m, i }' > "$2"
}

lines() { wc -l < "$1" | tr -d ' '; }

validate() { /usr/bin/python3 "$SPOOLD_SRC/tests/validate.py" "$@" >/dev/null; }

# json FILE EXPR: print a field with python (EXPR uses d).
json() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

done_testing() {
	[ "$_failed" -eq 0 ]
}
