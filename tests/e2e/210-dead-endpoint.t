#!/bin/sh
# A dead endpoint (connection refused) or one that rejects our key is
# paused: nothing is spent or dead-lettered; everything completes when
# it comes back.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 7
install_prefix
spoolctl -d "$SPOOL" init >/dev/null
# A port with nobody listening: start a mock, note its port, stop it.
start_mock
PORT=$(cat "$TRASH/mock.port")
kill -TERM "$MOCK_PID"; wait "$MOCK_PID"
MOCK_URL=http://127.0.0.1:$PORT
make_batch 50 "$TRASH/wait.jsonl"
start_spoold -w 1
drop "$TRASH/wait.jsonl"
R=$SPOOL/results/wait
check "the endpoint is paused, and the log says why" wait_for 20 grep -q 'paused.*cannot connect' "$TRASH/spoold.log"
sleep 3	# a few pause periods: nothing may be spent meanwhile
check "nothing dead-lettered while it is down" test ! -s "$R/errors.jsonl" -a ! -s "$R/output.jsonl"
start_bg spool-mockllm -q --port "$PORT" --portfile "$TRASH/mock2.port" --log "$TRASH/mock.log"
check "everything completes when it comes back" wait_for 60 test -f "$R/manifest.json"
check "all 50 succeeded" test "$(lines "$R/output.jsonl")" = 50 -a "$(lines "$R/errors.jsonl")" = 0
check "the log says it is back" grep -q 'endpoint default is back' "$TRASH/spoold.log"
# Credentials rejected: 401 pauses instead of failing every request.
L='"method":"POST","url":"/v1/chat/completions","body":{"model":"fail-401","messages":[{"role":"user","content":"x"}]}'
for i in 1 2 3 4 5; do echo "{\"custom_id\":\"key-$i\",$L}"; done > "$TRASH/badkey.jsonl"
drop "$TRASH/badkey.jsonl"
check "a rejected key pauses the endpoint" wait_for 20 grep -q 'credentials rejected' "$TRASH/spoold.log"
sleep 2
check "and dead-letters nothing" test ! -s "$SPOOL/results/badkey/errors.jsonl"
done_testing
