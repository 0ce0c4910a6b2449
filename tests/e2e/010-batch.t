#!/bin/sh
# A 1,000-request JSONL batch end to end: every custom_id once, a correct
# manifest, a readable archive, files that pass OpenAI's schemas.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 14
install_prefix
start_mock --latency 5
spoolctl -d "$SPOOL" init >/dev/null
make_batch 1000 "$TRASH/big.jsonl"
start_spoold -w 2
spoolctl -d "$SPOOL" submit "$TRASH/big.jsonl" >/dev/null
R=$SPOOL/results/big
check "batch finishes (manifest.json appears)" wait_for 60 test -f "$R/manifest.json"
check "1000 output lines" test "$(lines "$R/output.jsonl")" = 1000
check "no error lines" test "$(lines "$R/errors.jsonl")" = 0
cut -d'"' -f8 "$R/output.jsonl" | sort > "$TRASH/got"
sed 's/.*"custom_id":"\([^"]*\)".*/\1/' "$TRASH/big.jsonl" | sort > "$TRASH/want"
check "output holds exactly the input's custom_ids" cmp -s "$TRASH/got" "$TRASH/want"
check "output lines pass output-strict" validate output-strict "$R/output.jsonl"
check "status.json passes batch-nullable" validate batch-nullable "$R/status.json"
check "manifest counts" test "$(json "$R/manifest.json" \
    '"%d %d %d %s" % (d["request_counts"]["total"], d["request_counts"]["completed"], d["request_counts"]["failed"], d["status"])')" = "1000 1000 0 completed"
check "manifest sha256 of output.jsonl" test "$(json "$R/manifest.json" \
    'd["files"][0]["sha256"]')" = "$(sha256sum < "$R/output.jsonl" | cut -d' ' -f1)"
check "manifest input_sha256" test "$(json "$R/manifest.json" \
    'd["input_sha256"]')" = "$(sha256sum < "$TRASH/big.jsonl" | cut -d' ' -f1)"
check "usage summed" test "$(json "$R/manifest.json" 'd["usage"]["total_tokens"] > 1000')" = True
check "archive lists output, errors, manifest" test "$(tar tzf "$SPOOL/archive/big.tar.gz" | sort | tr '\n' ' ')" = "big/errors.jsonl big/manifest.json big/output.jsonl "
check "input moved to done/" test -f "$SPOOL/done/big.jsonl" -a ! -e "$SPOOL/processing/big.jsonl"
check "mock saw each custom_id once" test "$(grep -c '^req-' "$TRASH/mock.log")" = 1000
spoolctl -d "$SPOOL" status > "$TRASH/status.out"
check "spoolctl status counts done" grep -q 'done 1' "$TRASH/status.out"
done_testing
