#!/bin/sh
# Cost accounting: a price table prices every result by the model its
# response names; the batch's cost (manifest.json, status.json) is the
# sum over output.jsonl, also after kill -9 and a restart; batch.budget
# stops a batch once spent (the rest batch_cancelled); `spoolctl submit
# --estimate` prices a batch without submitting it.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 18
install_prefix
start_mock --latency 100
spoolctl -d "$SPOOL" init >/dev/null
P=$TRASH/prices.conf
cat > "$P" <<'PRICES'
# test prices: large, so that a few requests make a visible sum
currency = EUR
mock-*   = 900 1800
mock-1   = 1000 2000
PRICES
printf '[workers]\ninflight = 2\n[batch]\nprices = %s\n' "$P" > "$TRASH/cost.conf"

# The cost the test expects: usage x price, from output.jsonl alone.
expected_cost() {
	/usr/bin/python3 - "$1" <<'PY'
import json, sys
price = {"mock-1": (1000, 2000)}
total, unpriced = 0.0, 0
for line in open(sys.argv[1]):
    body = json.loads(line)["response"]["body"]
    u = body["usage"]
    m = body["model"]
    if m in price:
        p = price[m]
    elif m.startswith("mock-"):
        p = (900, 1800)
    else:
        unpriced += 1
        continue
    total += (u["prompt_tokens"] * p[0] + u["completion_tokens"] * p[1]) / 1e6
print("%.9f %d" % (total, unpriced))
PY
}
# manifest or status cost as "TOTAL UNPRICED CURRENCY"
cost_of() {
	json "$1" '"%.9f %d %s" % (d["cost"]["total"], d["cost"]["unpriced_requests"], d["cost"]["currency"])'
}

# 1. 60 priced requests (two models, one by prefix), 5 of a model with no
# price; kill -9 in the middle, then a restart recomputes the spend.
make_batch 40 "$TRASH/priced.jsonl"
make_batch 20 "$TRASH/p2.jsonl" mock-2
sed 's/req-/two-/' "$TRASH/p2.jsonl" >> "$TRASH/priced.jsonl"
make_batch 5 "$TRASH/p3.jsonl" free-model
sed 's/req-/free-/' "$TRASH/p3.jsonl" >> "$TRASH/priced.jsonl"
start_spoold -w 1 -c "$TRASH/cost.conf"
drop "$TRASH/priced.jsonl"
R=$SPOOL/results/priced
some_out() { [ "$(lines "$R/output.jsonl" 2>/dev/null || echo 0)" -ge 15 ]; }
check "results come in" wait_for 60 some_out
kill -KILL "$SPOOLD_PID"
wait "$SPOOLD_PID" 2>/dev/null
wait_for 10 sh -c "! pgrep -f 'spoold --worker' >/dev/null"
check "status.json carries the cost so far" \
    grep -q '"currency":[[:space:]]*"EUR"' "$R/status.json"
n=$(lines "$R/output.jsonl")
diag "$n results before the kill"
check "the batch was unfinished at the kill" test ! -f "$R/manifest.json" -a "$n" -lt 65
timeout 60 spoold -c "$TRASH/cost.conf" -d "$SPOOL" -e "$MOCK_URL" --once \
    2>>"$TRASH/spoold.log"
check "restart finishes the batch" test $? = 0 -a -f "$R/manifest.json"
check "65 results" test "$(lines "$R/output.jsonl")" = 65
want=$(expected_cost "$R/output.jsonl")
got=$(cost_of "$R/manifest.json")
diag "expected $want EUR, manifest says $got"
check "manifest cost = usage x prices over output.jsonl" test "$got" = "$want EUR"
check "five results unpriced" test "${want#* }" = 5
check "status.json has the same cost" test "$(cost_of "$R/status.json")" = "$got"
check "status.json still passes batch-nullable" validate batch-nullable "$R/status.json"
check "manifest: completed, not stopped, no budget" test "$(json "$R/manifest.json" \
    '"%s %s %s" % (d["status"], d["stopped"], d["cost"]["budget"])')" = "completed None None"

# 2. A budget: the batch stops once it has spent it.
make_batch 300 "$TRASH/capped.jsonl"
printf '[workers]\ninflight = 2\n[batch]\nprices = %s\nbudget = 1.5\n' "$P" \
    > "$TRASH/budget.conf"
: > "$TRASH/mock.log"
drop "$TRASH/capped.jsonl"
timeout 120 spoold -c "$TRASH/budget.conf" -d "$SPOOL" -e "$MOCK_URL" \
    -w 1 --once 2>>"$TRASH/spoold.log"
check "the capped batch finishes" test $? = 0 -a -f "$SPOOL/results/capped/manifest.json"
R=$SPOOL/results/capped
check "manifest: cancelled, stopped for the budget" test "$(json "$R/manifest.json" \
    '"%s %s %s" % (d["status"], d["stopped"]["reason"], d["stopped"]["budget"])')" = "cancelled budget 1.5"
ok_n=$(lines "$R/output.jsonl")
err_n=$(lines "$R/errors.jsonl")
diag "$ok_n sent and answered, $err_n cancelled"
check "every request once: answered or batch_cancelled" test \
    "$((ok_n + err_n))" = 300 -a "$(grep -c '"code":"batch_cancelled"' "$R/errors.jsonl")" = "$err_n" -a \
    "$(cat "$R/output.jsonl" "$R/errors.jsonl" | cut -d'"' -f8 | sort -u | wc -l)" = 300
check "the mock saw only the answered requests" test "$(grep -c '^req-' "$TRASH/mock.log")" = "$ok_n"
# Spent reaches the budget, and without the requests in flight when it
# did (2 per worker) it would not have: no more was sent than needed.
fits() {
	/usr/bin/python3 - "$R/output.jsonl" "$R/manifest.json" <<'PY'
import json, sys
costs = []
for line in open(sys.argv[1]):
    u = json.loads(line)["response"]["body"]["usage"]
    costs.append((u["prompt_tokens"] * 1000 + u["completion_tokens"] * 2000) / 1e6)
m = json.load(open(sys.argv[2]))
spent = m["stopped"]["spent"]
ok = (abs(spent - sum(costs)) < 1e-9 and spent >= 1.5
      and spent - sum(sorted(costs)[-3:]) < 1.5 and len(costs) < 300)
print("spent %.4f over %d requests, max %.4f each" % (spent, len(costs), max(costs)))
sys.exit(0 if ok else 1)
PY
}
check "spent >= budget, and only the in-flight requests beyond it" fits

# 3. An estimate: nothing submitted, tokens as spoold estimates them.
awk 'BEGIN { for (i = 1; i <= 10; i++)
    printf "{\"custom_id\":\"e%d\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"mock-1\",\"max_tokens\":50,\"messages\":[{\"role\":\"user\",\"content\":\"estimate %d\"}]}}\n", i, i }' > "$TRASH/est.jsonl"
echo 'not json' >> "$TRASH/est.jsonl"
spoolctl -d "$SPOOL" submit --estimate --json --prices "$P" "$TRASH/est.jsonl" > "$TRASH/est.out"
check "--estimate submits nothing" test -z "$(ls "$SPOOL/new")"
est_ok() {
	/usr/bin/python3 - "$TRASH/est.jsonl" "$TRASH/est.out" <<'PY'
import json, sys
tin = 0
for line in open(sys.argv[1]):
    try:
        body = json.loads(line)["body"]
    except ValueError:
        continue
    tin += len(json.dumps(body, separators=(",", ":"))) // 4 + 1
e = json.load(open(sys.argv[2]))
want = {"requests": 10, "invalid": 1, "input_tokens": tin,
        "output_tokens_max": 500, "unbounded_requests": 0,
        "currency": "EUR", "unpriced_requests": 0}
bad = [k for k in want if e[k] != want[k]]
lo = tin * 1000 / 1e6
hi = lo + 500 * 2000 / 1e6
if abs(e["cost_min"] - lo) > 1e-9 or abs(e["cost_max"] - hi) > 1e-9:
    bad.append("cost")
print(e, bad)
sys.exit(1 if bad else 0)
PY
}
check "--estimate --json: requests, tokens, cost range" est_ok
spoolctl -d "$SPOOL" submit --estimate "$TRASH/capped.jsonl" > "$TRASH/est2.out"
check "--estimate text: no price table, no upper bound on output" \
    grep -q 'requests without max_tokens' "$TRASH/est2.out"
done_testing
