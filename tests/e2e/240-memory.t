#!/bin/sh
# Memory is flat in batch size: a 200,000-request batch runs with the
# supervisor and each worker under a fixed peak RSS (VmHWM in /proc).
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 4
install_prefix
start_mock
spoolctl -d "$SPOOL" init >/dev/null
N=${MEMORY_REQUESTS:-200000}
make_batch "$N" "$TRASH/huge.jsonl"
start_spoold -w 2
drop "$TRASH/huge.jsonl"
R=$SPOOL/results/huge
peak() { awk '/VmHWM/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# Sample the workers' peaks while they run (they exit with the daemon).
: > "$TRASH/peaks"
sample() {
	for w in $(pgrep -P "$SPOOLD_PID"); do
		echo "$w $(peak "$w")" >> "$TRASH/peaks"
	done
	test -f "$R/manifest.json"
}
t0=$(date +%s)
check "the batch finishes" wait_for 600 sample
t1=$(date +%s)
sup_kb=$(peak "$SPOOLD_PID")
wk_kb=$(sort -k2 -n "$TRASH/peaks" | tail -1 | cut -d' ' -f2)
diag "$N requests in $((t1 - t0)) s; peak RSS: supervisor ${sup_kb} kB, largest worker ${wk_kb:-0} kB"
check "every request done" test "$(lines "$R/output.jsonl")" = "$N"
# AddressSanitizer's shadow memory and quarantine say nothing about ours.
if ldd "$PREFIX/bin/spoold" | grep -q libasan; then
	ok "# SKIP supervisor RSS bound: sanitizer build"
	ok "# SKIP worker RSS bound: sanitizer build"
else
	check "supervisor peak RSS under 64 MB" test "$sup_kb" -lt 65536
	check "worker peak RSS under 64 MB" test "${wk_kb:-0}" -lt 65536
fi
done_testing
