#!/bin/sh
# Completion: batch.on_complete (its environment, and not spoold's),
# batch.webhook (retried after a 500, the body is the manifest), each
# batch.archive format, batch.archive_input, batch.sort_output, and a
# crash between the manifest and the hook (the hook is not lost).
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 39
install_prefix
start_mock
spoolctl -d "$SPOOL" init >/dev/null
R=$SPOOL/results
A=$SPOOL/archive
H=$TRASH/hook
W=$TRASH/web
mkdir -p "$H" "$W"

# The hook records its arguments, environment and open fds.
cat > "$TRASH/hook.sh" <<'EOS'
#!/bin/sh
d=$1
{ echo "ARGS=$*"; env; } > "$d/$SPOOLD_BATCH.env.tmp"
ls /proc/self/fd > "$d/$SPOOLD_BATCH.fds"
mv "$d/$SPOOLD_BATCH.env.tmp" "$d/$SPOOLD_BATCH.env"
EOS
chmod +x "$TRASH/hook.sh"

# A webhook listener of our own: 500 to the first POST, 200 after.
cat > "$TRASH/listen.py" <<'EOS'
import http.server, os, sys
d = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    n = 0
    def do_POST(self):
        H.n += 1
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        with open(os.path.join(d, 'body.%d' % H.n), 'wb') as f:
            f.write(body)
        with open(os.path.join(d, 'type.%d' % H.n), 'w') as f:
            f.write(self.headers.get('Content-Type', ''))
        self.send_response(500 if H.n == 1 else 200)
        self.send_header('Content-Length', '0')
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
with open(os.path.join(d, 'port.tmp'), 'w') as f:
    f.write(str(s.server_address[1]))
os.rename(os.path.join(d, 'port.tmp'), os.path.join(d, 'port'))
s.serve_forever()
EOS
start_bg /usr/bin/python3 "$TRASH/listen.py" "$W"
wait_for 10 test -s "$W/port" || { echo "Bail out! no listener"; exit 1; }

# N requests that finish in reverse order: req-1 is the slowest.
slow_batch() {
	awk -v n="$1" -v p="$3" 'BEGIN { for (i = 1; i <= n; i++)
	    printf "{\"custom_id\":\"%s-%d\",\"method\":\"POST\",\"url\":" \
	    "\"/v1/chat/completions\",\"body\":{\"model\":\"slow-%d\"," \
	    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}\n",
	    p, i, (n - i + 1) * 400 }' > "$2"
}
ids() { /usr/bin/python3 -c 'import json,sys
for l in open(sys.argv[1]): print(json.loads(l)["custom_id"])' "$1" | tr '\n' ' '; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
mfile() { json "$R/$1/manifest.json" "[f['sha256'] for f in d['files'] if f['name'] == '$2'][0]"; }

# --- 1: tar.zst, the input archived, sorted, the hook and the webhook.
cat > "$TRASH/a.conf" <<EOC
[batch]
archive = tar.zst
archive_input = yes
sort_output = yes
on_complete = $TRASH/hook.sh "$H" second-arg
webhook = http://127.0.0.1:$(cat "$W/port")/done
EOC
slow_batch 5 "$TRASH/sorted.jsonl" s
OPENAI_API_KEY=sk-secret-540 SPOOLD_LEAK=leak \
    start_spoold -c "$TRASH/a.conf"
drop "$TRASH/sorted.jsonl"
wait_for 60 test -f "$H/sorted.env"
wait_for 30 test -f "$W/body.2"
check "sorted: manifest written" test -f "$R/sorted/manifest.json"
check "sorted: output.jsonl in input order" \
    test "$(ids "$R/sorted/output.jsonl")" = "s-1 s-2 s-3 s-4 s-5 "
check "sorted: the manifest's sha256 is the sorted file's" \
    test "$(mfile sorted output.jsonl)" = "$(sha "$R/sorted/output.jsonl")"
E=$H/sorted.env
check "hook: SPOOLD_BATCH" grep -qx "SPOOLD_BATCH=sorted" "$E"
check "hook: SPOOLD_STATUS" grep -qx "SPOOLD_STATUS=completed" "$E"
check "hook: SPOOLD_MANIFEST" \
    grep -qx "SPOOLD_MANIFEST=$SPOOL/results/sorted/manifest.json" "$E"
check "hook: SPOOLD_ARCHIVE" \
    grep -qx "SPOOLD_ARCHIVE=$SPOOL/archive/sorted.tar.zst" "$E"
check "hook: SPOOLD_RESULTS and SPOOLD_SPOOL" sh -c \
    "grep -qx 'SPOOLD_RESULTS=$SPOOL/results/sorted' '$E' &&
    grep -qx 'SPOOLD_SPOOL=$SPOOL' '$E'"
check "hook: argv split without a shell" grep -qx "ARGS=$H second-arg" "$E"
check "hook: spoold's API key is not visible" sh -c "! grep -q sk-secret '$E'"
check "hook: nothing else of spoold's environment" \
    sh -c "! grep -q -e SPOOLD_LEAK -e OPENAI_API_KEY -e '^HOME=' '$E'"
check "hook: only fds 0-2 (and ls's own)" \
    test "$(grep -cvx '[0-3]' "$H/sorted.fds")" = 0
check "webhook: retried after a 500" test -f "$W/body.2" -a ! -f "$W/body.3"
check "webhook: the body is the manifest" cmp -s "$W/body.2" \
    "$R/sorted/manifest.json"
check "webhook: Content-Type application/json" \
    test "$(cat "$W/type.2")" = application/json
check "webhook: the retry is logged" grep -q "webhook: attempt 1: HTTP 500" \
    "$TRASH/spoold.log"
tar --zstd -tf "$A/sorted.tar.zst" > "$TRASH/zst.list" 2>&1
check "tar.zst: listed by tar --zstd" grep -qx "sorted/output.jsonl" \
    "$TRASH/zst.list"
check "tar.zst: errors, manifest and the input" sh -c \
    "grep -qx sorted/errors.jsonl '$TRASH/zst.list' &&
    grep -qx sorted/manifest.json '$TRASH/zst.list' &&
    grep -qx sorted/input/sorted.jsonl '$TRASH/zst.list'"
tar --zstd -xOf "$A/sorted.tar.zst" sorted/input/sorted.jsonl \
    > "$TRASH/zst.input" 2>/dev/null
check "archive_input: the input as processed" cmp -s "$TRASH/zst.input" \
    "$SPOOL/done/sorted.jsonl"
check "markers of both steps" test -f "$R/sorted/.notified.on_complete" \
    -a -f "$R/sorted/.notified.webhook"
check "the lease is gone after notifying" \
    test ! -e "$SPOOL/processing/sorted.jsonl.lease"
kill "$SPOOLD_PID"
wait "$SPOOLD_PID"

# --- 2: zip, no sort (completion order shows), no input in the archive.
printf '[batch]\narchive = zip\n' > "$TRASH/b.conf"
slow_batch 5 "$TRASH/unsorted.jsonl" u
drop "$TRASH/unsorted.jsonl"
timeout 120 spoold -c "$TRASH/b.conf" -d "$SPOOL" -e "$MOCK_URL" --once \
    2>>"$TRASH/spoold.log"
check "--once with zip exits 0" test $? = 0
check "unsorted: output in completion order (the test can see order)" \
    test "$(ids "$R/unsorted/output.jsonl")" = "u-5 u-4 u-3 u-2 u-1 "
unzip -l "$A/unsorted.zip" > "$TRASH/zip.list" 2>&1
check "zip: listed by unzip -l" sh -c \
    "grep -q ' unsorted/output.jsonl\$' '$TRASH/zip.list' &&
    grep -q ' unsorted/errors.jsonl\$' '$TRASH/zip.list' &&
    grep -q ' unsorted/manifest.json\$' '$TRASH/zip.list'"
check "zip: no input without archive_input" sh -c \
    "! grep -q input/ '$TRASH/zip.list'"
check "zip: the manifest names it" \
    test "$(json "$R/unsorted/manifest.json" "d['archive']")" = \
    archive/unsorted.zip

# --- 3: none.
printf '[batch]\narchive = none\nsort_output = yes\n' > "$TRASH/c.conf"
# Errors too: the invalid line is journalled first, at validation.
line() {
	printf '{"custom_id":"%s","method":"POST","url":"/v1/chat/completions","body":{"model":"%s","messages":[{"role":"user","content":"x"}]}}\n' "$1" "$2"
}
{ line p-1 fail-400; echo '{"custom_id":"p-2", broken'; line p-3 mock-1
  line p-4 fail-400; line p-5 mock-1; } > "$TRASH/plain.jsonl"
drop "$TRASH/plain.jsonl"
timeout 120 spoold -c "$TRASH/c.conf" -d "$SPOOL" -e "$MOCK_URL" --once \
    2>>"$TRASH/spoold.log"
check "--once with none exits 0" test $? = 0
check "none: no archive file" sh -c "! ls '$A' | grep -q '^plain'"
check "none: the manifest's archive is null" \
    test "$(json "$R/plain/manifest.json" "d['archive']")" = None
check "sort_output: errors.jsonl in input order, the invalid line too" \
    test "$(ids "$R/plain/errors.jsonl")" = "p-1 p-2 p-4 "
check "sort_output: output.jsonl too" \
    test "$(ids "$R/plain/output.jsonl")" = "p-3 p-5 "
check "sort_output: the manifest's sha256 of errors.jsonl" \
    test "$(mfile plain errors.jsonl)" = "$(sha "$R/plain/errors.jsonl")"

# --- 4: a crash between the manifest and the hook loses no hook.
# The first run of the hook kill -9s its finisher and the supervisor.
cat > "$TRASH/crash.sh" <<'EOS'
#!/bin/sh
d=$1
echo run >> "$d/$SPOOLD_BATCH.runs"
if [ ! -f "$d/crashed" ]; then
	: > "$d/crashed"
	sup=$(ps -o ppid= -p "$PPID" | tr -d ' ')
	kill -9 "$sup" "$PPID"
	sleep 1
fi
EOS
chmod +x "$TRASH/crash.sh"
printf '[batch]\non_complete = %s %s\n' "$TRASH/crash.sh" "$H" \
    > "$TRASH/d.conf"
make_batch 4 "$TRASH/crash.jsonl" crash-model
start_spoold -c "$TRASH/d.conf"
drop "$TRASH/crash.jsonl"
wait_for 60 test -f "$H/crashed"
wait_for 10 sh -c "! kill -0 $SPOOLD_PID"
check "crash: the daemon died in the hook" \
    sh -c "! kill -0 $SPOOLD_PID 2>/dev/null"
check "crash: the manifest was in place before the hook" \
    test -f "$R/crash/manifest.json"
m1=$(sha "$R/crash/manifest.json")
check "crash: no marker yet" test ! -f "$R/crash/.notified.on_complete"
start_spoold -c "$TRASH/d.conf"
wait_for 60 test -f "$R/crash/.notified.on_complete"
check "crash: the hook ran again after the restart" \
    test "$(lines "$H/crash.runs")" = 2
check "crash: the manifest was kept, not rewritten" \
    test "$(sha "$R/crash/manifest.json")" = "$m1"
wait_for 10 test ! -e "$SPOOL/processing/crash.jsonl.lease"
check "crash: input in done/, lease gone" sh -c \
    "test -f '$SPOOL/done/crash.jsonl' &&
    test ! -e '$SPOOL/processing/crash.jsonl' &&
    test ! -e '$SPOOL/processing/crash.jsonl.lease'"
check "crash: status.json is final" \
    test "$(json "$R/crash/status.json" "d['status']")" = completed
done_testing
