#!/bin/sh
# A flaky endpoint: 30 % 500s, 20 % 429s with Retry-After, connection
# resets, bodies cut off, hangs past the timeout.  Every request succeeds
# within its attempts; a permanent 4xx is sent once and not retried.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 7
install_prefix
start_mock --fail-rate 0.3 --rate-429 0.2 --reset-rate 0.03 \
    --truncate-rate 0.03 --hang-rate 0.01 --seed 7
spoolctl -d "$SPOOL" init >/dev/null
cat > "$TRASH/flaky.conf" <<EOC
[endpoint default]
timeout_s = 2s
[retry]
max_attempts = 25
backoff_base = 20ms
backoff_max = 300ms
EOC
make_batch 300 "$TRASH/flaky.jsonl"
L='"method":"POST","url":"/v1/chat/completions","body":{"model":"fail-400","messages":[{"role":"user","content":"x"}]}'
for i in 1 2 3; do echo "{\"custom_id\":\"perm-$i\",$L}"; done >> "$TRASH/flaky.jsonl"
drop "$TRASH/flaky.jsonl"
timeout 300 spoold -c "$TRASH/flaky.conf" -d "$SPOOL" -e "$MOCK_URL" --once 2>"$TRASH/spoold.log"
check "--once exits 0" test $? = 0
R=$SPOOL/results/flaky
check "all 300 good requests succeeded" test "$(lines "$R/output.jsonl")" = 300
check "only the 3 permanent failures in errors" test "$(lines "$R/errors.jsonl")" = 3 -a "$(grep -c '"custom_id":"perm-' "$R/errors.jsonl")" = 3
check "a permanent 4xx was sent once each" test "$(grep -c '^perm-' "$TRASH/mock.log")" = 3
sent=$(grep -c '^req-' "$TRASH/mock.log")
diag "requests sent for 300 good ones: $sent"
check "faults really happened (retries were needed)" test "$sent" -gt 400
check "every fault kind was met" test -n "$(grep ' 0$' "$TRASH/mock.log")" -a -n "$(grep ' 200-cut$' "$TRASH/mock.log")" -a -n "$(grep ' 429$' "$TRASH/mock.log")" -a -n "$(grep ' 500$' "$TRASH/mock.log")"
check "output passes output-strict" validate output-strict "$R/output.jsonl"
done_testing
