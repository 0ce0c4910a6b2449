#!/bin/sh
# Two and then four spoold instances on one spool: claims by rename and
# leases keep every request to one instance: the mock sees each
# custom_id exactly once, and each appears once in the results.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 8
install_prefix
start_mock --latency 20 --latency-jitter 20
spoolctl -d "$SPOOL" init >/dev/null
printf '[workers]\ninflight = 16\n[spool]\nrescan = 500ms\n[batch]\nmax_age = 1s\n' > "$TRASH/i.conf"

# round N_INSTANCES TAG: drop 6 batches and 30 loose files while
# N instances run; wait until all are finished; stop the instances.
round() {
	pids=""
	for i in $(seq "$1"); do
		start_spoold -c "$TRASH/i.conf" -w 1
		pids="$pids $SPOOLD_PID"
	done
	for b in 1 2 3 4 5 6; do
		make_batch 200 "$TRASH/b.jsonl"
		sed "s/\"req-/\"$2-b$b-/" "$TRASH/b.jsonl" > "$TRASH/$2-b$b.jsonl"
		drop "$TRASH/$2-b$b.jsonl"
	done
	for j in $(seq 30); do
		printf '{"model":"m","messages":[{"role":"user","content":"%s"}]}\n' "$j" > "$TRASH/$2-l$j.json"
		drop "$TRASH/$2-l$j.json"
	done
	wait_for 120 all_done "$2"
	r=$?
	for p in $pids; do kill -TERM "$p"; wait "$p"; done
	return $r
}
all_done() {
	[ "$(ls "$SPOOL"/results/"$1"-b*/manifest.json 2>/dev/null | wc -l)" = 6 ] &&
	    [ -z "$(ls "$SPOOL/new" | grep "^$1-")" ] &&
	    [ -z "$(ls "$SPOOL/processing")" ]
}
# Each sent custom_id once in the mock's log; once in the results.
sent_once() {
	grep "^$1-b" "$TRASH/mock.log" | cut -d' ' -f1 | sort | uniq -d > "$TRASH/dups"
	[ ! -s "$TRASH/dups" ] &&
	    [ "$(grep -c "^$1-b" "$TRASH/mock.log")" = 1200 ] &&
	    [ "$(grep "^$1-l" "$TRASH/mock.log" | cut -d" " -f1 | sort -u | wc -l)" = "$(grep -c "^$1-l" "$TRASH/mock.log")" ]
}
results_once() {
	cat "$SPOOL"/results/"$1"-b*/output.jsonl "$SPOOL"/results/"$1"-b*/errors.jsonl |
	    cut -d'"' -f8 | sort > "$TRASH/ids"
	[ "$(wc -l < "$TRASH/ids")" = 1200 ] && [ -z "$(uniq -d "$TRASH/ids")" ]
}
loose_once() {
	n=0
	for j in $(seq 30); do
		c=$(ls "$SPOOL"/results/loose-*/"$1-l$j.json" 2>/dev/null | wc -l)
		[ "$c" = 1 ] && n=$((n + 1))
	done
	[ "$n" = 30 ]
}
check "two instances finish everything" round 2 two
check "two: the mock saw each custom_id exactly once" sent_once two
check "two: each request once in the results" results_once two
check "two: each loose request once" loose_once two
check "four instances finish everything" round 4 four
check "four: the mock saw each custom_id exactly once" sent_once four
check "four: each request once in the results" results_once four
check "four: each loose request once" loose_once four
done_testing
