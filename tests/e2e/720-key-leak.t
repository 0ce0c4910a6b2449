#!/bin/sh
# The API key is written nowhere: every file spoold wrote (results,
# status, manifest, archives unpacked, dead letters, the debug log, the
# metrics textfile and endpoint) is searched for it, with the key given
# by api_key_env and by api_key_file, and requests that fail too.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 5
install_prefix
start_mock
spoolctl -d "$SPOOL" init >/dev/null
KEY_ENV=sk-env-$(date +%s%N)-leakcheck
KEY_FILE=sk-file-$(date +%s%N)-leakcheck
printf '%s\n' "$KEY_FILE" > "$TRASH/key"
chmod 600 "$TRASH/key"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$TRASH/spoold.conf" <<EOC
[endpoint default]
api_key_env = SPOOLD_TEST_KEY
[endpoint claude]
type = anthropic
base_url = $MOCK_URL
api_key_file = $TRASH/key
[retry]
max_attempts = 2
backoff_base = 50ms
backoff_max = 100ms
[batch]
archive_input = yes
[metrics]
listen = 127.0.0.1:$PORT
textfile = $TRASH/spoold.prom
EOC
B=$TRASH/b.jsonl
make_batch 5 "$B"
printf '{"custom_id":"bad","method":"POST","url":"/v1/chat/completions","body":{"model":"fail-500","messages":[{"role":"user","content":"x"}]}}\n' >> "$B"
printf '{"custom_id":"ant","params":{"model":"c","max_tokens":8,"messages":[{"role":"user","content":"y"}]}}\n' >> "$B"
printf 'not json\n' >> "$B"
drop "$B"
SPOOLD_TEST_KEY=$KEY_ENV
export SPOOLD_TEST_KEY
start_spoold -c "$TRASH/spoold.conf" -v
finished() { [ -f "$SPOOL/results/b/manifest.json" ]; }
check "the batch finishes" wait_for 60 finished
curl -s "http://127.0.0.1:$PORT/metrics" > "$TRASH/metrics.txt"
kill "$SPOOLD_PID"
wait_for 10 sh -c "! kill -0 $SPOOLD_PID 2>/dev/null"
mkdir "$TRASH/unpacked"
tar xzf "$SPOOL/archive/b.tar.gz" -C "$TRASH/unpacked"
check "the archive was unpacked and holds the input" \
    test -n "$(find "$TRASH/unpacked" -name '*.jsonl' | head -1)"
check "the debug log and the metrics are there" test -s "$TRASH/spoold.log" \
    -a -s "$TRASH/metrics.txt" -a -s "$TRASH/spoold.prom"
leaks() {
	grep -r -l -a -F -e "$KEY_ENV" -e "$KEY_FILE" "$SPOOL" "$TRASH/unpacked" \
	    "$TRASH/spoold.log" "$TRASH/metrics.txt" "$TRASH/spoold.prom"
}
check "neither key is in any file spoold wrote" test -z "$(leaks)"
check "nor an Authorization or x-api-key header" test -z "$(grep -r -l -a \
    -i -e 'authorization:' -e 'x-api-key:' "$SPOOL" "$TRASH/unpacked" \
    "$TRASH/spoold.log")"
done_testing
