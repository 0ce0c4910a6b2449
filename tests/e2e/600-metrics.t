#!/bin/sh
# Metrics: /metrics on 127.0.0.1 and the node_exporter textfile pass
# promtool, and their counters match what a batch did; the alert rules
# and the dashboard are valid and name only metrics that exist.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
if ! command -v promtool >/dev/null 2>&1; then
	echo "1..0 # SKIP promtool not installed (Debian package prometheus)"
	exit 0
fi
plan 25
install_prefix
start_mock
spoolctl -d "$SPOOL" init >/dev/null
PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket();
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT/metrics
mkdir "$TRASH/textfiles"
TF=$TRASH/textfiles/spoold.prom
cat > "$TRASH/m.conf" <<EOC
[retry]
max_attempts = 3
backoff_base = 10ms
backoff_max = 50ms
[metrics]
listen = $PORT
textfile = $TF
EOC
check "--check-config refuses a host name for metrics.listen" \
    sh -c "printf '[metrics]\nlisten = example.com:80\n' > '$TRASH/bad.conf';
    ! spoold -c '$TRASH/bad.conf' -d '$SPOOL' --check-config 2>/dev/null"

# 20 good, 2 flaky-1 (one 500 each, then 200), 3 fail-400, 1 invalid.
req() {
	printf '{"custom_id":"%s","method":"POST","url":"/v1/chat/completions","body":{"model":"%s","messages":[{"role":"user","content":"hi %s"}]}}\n' "$1" "$2" "$1"
}
{
	for i in $(seq 1 20); do req "ok-$i" mock-1; done
	req flaky-a flaky-1; req flaky-b flaky-1
	for i in 1 2 3; do req "perm-$i" fail-400; done
	echo 'not json'
} > "$TRASH/mixed.jsonl"

start_spoold -w 2 -c "$TRASH/m.conf"
check "/metrics answers on 127.0.0.1" wait_for 20 curl -sf -o /dev/null "$URL"
# The listening sockets on PORT, from /proc/net/tcp{,6}: only 127.0.0.1.
loopback_only() {
	/usr/bin/python3 -c 'import sys
port = "%04X" % int(sys.argv[1])
seen = []
for f in ("/proc/net/tcp", "/proc/net/tcp6"):
    for l in open(f).readlines()[1:]:
        local, st = l.split()[1], l.split()[3]
        if st == "0A" and local.endswith(":" + port):
            seen.append(local.split(":")[0])
sys.exit(0 if seen == ["0100007F"] else 1)' "$PORT"
}
check "the listener is bound to loopback only" loopback_only
drop "$TRASH/mixed.jsonl"
R=$SPOOL/results/mixed
check "the batch finishes" wait_for 60 test -f "$R/manifest.json"

scrape() { curl -sf "$URL" > "$TRASH/scrape.txt"; }
# value NAME{LABELS} [FILE]: the sample's value, as printed.
value() { awk -v k="$1" '$1 == k { print $2 }' "${2:-$TRASH/scrape.txt}"; }
finished() {
	scrape && test "$(value 'spoold_batches_total{status="completed"}')" = 1
}
check "spoold_batches_total counts the completed batch" wait_for 20 finished
check "promtool check metrics passes on /metrics" \
    sh -c "promtool check metrics < '$TRASH/scrape.txt' > '$TRASH/lint' 2>&1 && ! test -s '$TRASH/lint'"
ok_n=$(lines "$R/output.jsonl")
err_n=$(lines "$R/errors.jsonl")
diag "output $ok_n, errors $err_n"
check "succeeded equals output.jsonl (22)" test "$ok_n" = 22 -a \
    "$(value 'spoold_tasks_total{outcome="succeeded"}')" = "$ok_n"
check "failed equals errors.jsonl (3 fail-400 + 1 invalid)" \
    test "$err_n" = 4 -a "$(value 'spoold_tasks_total{outcome="failed"}')" = "$err_n"
check "one retry per flaky request" \
    test "$(value 'spoold_retries_total{endpoint="default"}')" = 2
check "HTTP 200s by endpoint and code" \
    test "$(value 'spoold_http_responses_total{endpoint="default",code="200"}')" = 22
check "HTTP 500s and 400s" \
    test "$(value 'spoold_http_responses_total{endpoint="default",code="500"}')" = 2 -a \
    "$(value 'spoold_http_responses_total{endpoint="default",code="400"}')" = 3
check "the latency histogram counted every attempt (27)" \
    test "$(value 'spoold_request_duration_seconds_count{endpoint="default"}')" = 27 -a \
    "$(value 'spoold_request_duration_seconds_bucket{endpoint="default",le="+Inf"}')" = 27
usage() {
	/usr/bin/python3 -c 'import json, sys
n = 0
for l in open(sys.argv[1]):
    n += json.loads(l)["response"]["body"]["usage"][sys.argv[2]]
print(n)' "$R/output.jsonl" "$1"
}
tin=$(usage prompt_tokens)
check "input tokens match the usage in output.jsonl ($tin)" test "$tin" -gt 0 -a \
    "$(value 'spoold_tokens_total{endpoint="default",kind="input"}')" = "$tin"
check "output tokens match the usage in output.jsonl" test \
    "$(value 'spoold_tokens_total{endpoint="default",kind="output"}')" = "$(usage completion_tokens)"
idle() {
	scrape && test "$(value 'spoold_spool_files{state="done"}')" = 1 -a \
	    "$(value 'spoold_spool_files{state="new"}')" = 0 -a \
	    "$(value 'spoold_requests{state="queued"}')" = 0 -a \
	    -z "$(value spoold_oldest_pending_age_seconds)"
}
check "queue gauges: nothing waits, the input is in done/" wait_for 20 idle
check "gauges per endpoint" test \
    "$(value 'spoold_endpoint_paused{endpoint="default"}')" = 0 -a \
    "$(value 'spoold_endpoint_in_flight{endpoint="default"}')" = 0

# A worker killed is restarted and counted.
w=$(pgrep -P "$SPOOLD_PID" | head -n 1)
kill -KILL "$w"
restarted() {
	scrape && test "$(value spoold_worker_restarts_total)" = 1 -a \
	    "$(value spoold_workers)" = 2
}
check "a killed worker counts in spoold_worker_restarts_total" \
    wait_for 20 restarted
check "other paths are 404" test "$(curl -s -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$PORT/")" = 404
check "POST is refused" test "$(curl -s -o /dev/null -w '%{http_code}' \
    -d x "$URL")" = 405

check "the textfile is written" wait_for 20 test -s "$TF"
kill -TERM "$SPOOLD_PID"
wait "$SPOOLD_PID"
check "the textfile passes promtool and has the last figures" \
    sh -c "promtool check metrics < '$TF' > '$TRASH/lint' 2>&1 && ! test -s '$TRASH/lint' &&
    grep -qx 'spoold_tasks_total{outcome=\"succeeded\"} 22' '$TF'"
check "no temporary file is left beside it" \
    test "$(ls -A "$TRASH/textfiles")" = spoold.prom

SHARE=$PREFIX/share/spoold
rules_ok() { promtool check rules "$SHARE/spoold-alerts.yml" >/dev/null; }
check "the alert rules pass promtool check rules" rules_ok
# Every spoold_ name the rules and the dashboard use exists.
grep -o '^# TYPE spoold_[a-z_]*' "$TRASH/scrape.txt" | cut -d' ' -f3 \
    > "$TRASH/families"
names() {
	grep -o 'spoold_[a-z_]*' "$1" | sed -E 's/_(bucket|sum|count)$//' |
	    sort -u > "$TRASH/used"
	diag "$(basename "$1"): $(wc -l < "$TRASH/used") metric names"
	test -s "$TRASH/used" && ! grep -vxF -f "$TRASH/families" "$TRASH/used"
}
check "the alert rules name only exported metrics" \
    names "$SHARE/spoold-alerts.yml"
dashboard_ok() {
	/usr/bin/python3 -m json.tool "$SHARE/spoold-dashboard.json" \
	    >/dev/null && names "$SHARE/spoold-dashboard.json"
}
check "the dashboard is JSON and names only exported metrics" dashboard_ok
done_testing
