#!/bin/sh
# log.format = json gives one JSON object per line; SIGUSR1 logs a
# status summary; SIGTERM drains, and a drain longer than
# workers.drain_timeout hands the requests in flight back, which the
# next start sends again: nothing lost, nothing twice in the results.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 7
install_prefix
start_mock
spoolctl -d "$SPOOL" init >/dev/null
cat > "$TRASH/spoold.conf" <<EOC
[workers]
drain_timeout = 2s
[log]
format = json
EOC
# Two quick requests and three that take 15 s each.
make_batch 2 "$TRASH/b.jsonl"
for i in 1 2 3; do
	printf '{"custom_id":"slow-%s","method":"POST","url":"/v1/chat/completions","body":{"model":"slow-15000","messages":[{"role":"user","content":"s%s"}]}}\n' $i $i
done >> "$TRASH/b.jsonl"
export OPENAI_API_KEY=sk-log-test-secret-42
start_spoold -c "$TRASH/spoold.conf"
drop "$TRASH/b.jsonl"
two() { [ "$(lines "$SPOOL/results/b/output.jsonl" 2>/dev/null)" = 2 ]; }
wait_for 20 two
kill -USR1 "$SPOOLD_PID"
summary() { grep -q 'batch=b 2/5 done' "$TRASH/spoold.log"; }
check "SIGUSR1 logs each batch's progress" wait_for 10 summary
t0=$(date +%s)
kill -TERM "$SPOOLD_PID"
gone() { ! kill -0 "$SPOOLD_PID" 2>/dev/null; }
wait_for 20 gone
t1=$(date +%s)
wait "$SPOOLD_PID" 2>/dev/null
check "a drain stops at workers.drain_timeout, not after 15 s" \
    test $((t1 - t0)) -le 8
check "the hand-back is logged" grep -q 'drain timeout: handing back 3' \
    "$TRASH/spoold.log"
check "every log line is a JSON object with level and message" python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    d = json.loads(line)
    assert isinstance(d, dict) and d.get("msg") and d.get("level"), d
    n += 1
assert n >= 5, n' "$TRASH/spoold.log"
check "the key is not in the log" sh -c '! grep -q -F "$1" "$2"' sh \
    "$OPENAI_API_KEY" "$TRASH/spoold.log"
# The next start sends the three again; the results hold each once.
printf '[workers]\ndrain_timeout = 2s\n' > "$TRASH/spoold.conf"
timeout 120 spoold -c "$TRASH/spoold.conf" -d "$SPOOL" -e "$MOCK_URL" \
    --once 2>>"$TRASH/spoold2.log"
check "the next start finishes the batch" test $? = 0 -a \
    -f "$SPOOL/results/b/manifest.json"
check "each request once in the results" test "$(python3 -c '
import json, sys
ids = [json.loads(l)["custom_id"] for l in open(sys.argv[1])]
print(sorted(ids) == sorted(set(ids)) and len(ids) == 5)' \
    "$SPOOL/results/b/output.jsonl")" = True
done_testing
