#!/bin/sh
# make demo: spool-mockllm and spoold on a temporary spool, the examples
# dropped in, their results shown, both processes stopped by pid.
set -eu
BIN=$1/bin
DEMO=$(mktemp -d "${TMPDIR:-/tmp}/spoold-demo.XXXXXX")
SPOOL=$DEMO/spool
SRC=$(cd "$(dirname "$0")/.." && pwd)
mock_pid=""; spoold_pid=""
stop() {
	[ -n "$spoold_pid" ] && kill -TERM "$spoold_pid" 2>/dev/null && wait "$spoold_pid" 2>/dev/null
	[ -n "$mock_pid" ] && kill -TERM "$mock_pid" 2>/dev/null && wait "$mock_pid" 2>/dev/null
	return 0
}
trap stop EXIT

echo "== starting spool-mockllm (a stand-in for the LLM API) on 127.0.0.1"
"$BIN/spool-mockllm" -q --port 0 --portfile "$DEMO/mock.port" --latency 20 &
mock_pid=$!
i=0; while [ ! -s "$DEMO/mock.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
URL="http://127.0.0.1:$(cat "$DEMO/mock.port")"

echo "== starting spoold on $SPOOL"
"$BIN/spoolctl" -d "$SPOOL" init
printf '[batch]\nmax_age = 2s\n' > "$DEMO/spoold.conf"
"$BIN/spoold" -c "$DEMO/spoold.conf" -d "$SPOOL" -e "$URL" 2>"$DEMO/spoold.log" &
spoold_pid=$!

echo "== building the example batches from their data (spoolctl build) and dropping them"
"$BIN/spoolctl" -d "$SPOOL" build --submit --batch posts --key id \
    -t "$SRC/examples/sentiment/template.json" \
    "$SRC/examples/sentiment/fortune.jsonl"
"$BIN/spoolctl" -d "$SPOOL" build --submit --batch emails --key id \
    -t "$SRC/examples/marketing/email.json" \
    "$SRC/examples/marketing/customers.csv"
printf '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}\n' > "$DEMO/hello.json"
cp "$DEMO/hello.json" "$SPOOL/new/.hello.json.tmp" && mv "$SPOOL/new/.hello.json.tmp" "$SPOOL/new/hello.json"
"$BIN/spoolctl" -d "$SPOOL" status

echo "== waiting for the batches"
i=0
while [ $i -lt 600 ]; do
	[ -f "$SPOOL/results/posts/manifest.json" ] &&
	    [ -f "$SPOOL/results/emails/manifest.json" ] &&
	    ls "$SPOOL"/results/loose-*/manifest.json >/dev/null 2>&1 && break
	sleep 0.1; i=$((i+1))
done
"$BIN/spoolctl" -d "$SPOOL" status
echo
echo "== results"
for b in posts emails; do
	echo "$SPOOL/results/$b/: $(ls "$SPOOL/results/$b" | tr '\n' ' ')"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("  request_counts:", d["request_counts"], " archive:", d["archive"])' "$SPOOL/results/$b/manifest.json"
done
echo
echo "== a few lines of results/posts/output.jsonl"
head -3 "$SPOOL/results/posts/output.jsonl" | cut -c1-300
echo
echo "== sentiment tally"
python3 "$SRC/examples/sentiment/tally.py" "$SPOOL/results/posts/output.jsonl" || true
echo
echo "== one email per customer, joined back to the CSV rows (spoolctl collect)"
(cd "$DEMO" && "$BIN/spoolctl" -d "$SPOOL" collect emails) || true
ls "$DEMO/emails.collected" | head -3
echo "$DEMO/emails.collected/customers-1001.txt:"
cut -c1-200 "$DEMO/emails.collected/customers-1001.txt"
echo
echo "== archives"
ls -l "$SPOOL/archive"
tar tzf "$SPOOL/archive/posts.tar.gz"
echo
echo "== the loose request hello.json went into a rolling batch"
ls "$SPOOL"/results/loose-*/
echo "Demo spool kept at $DEMO (spoold log: $DEMO/spoold.log)"
