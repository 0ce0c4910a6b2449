#!/bin/sh
# exec endpoints: a command per request, the request line on stdin, the
# body from stdout.  Exit 0 succeeds, 75 is retried, other exits and
# signals fail with stderr's tail, a timeout kills the whole process
# group; the command sees no inherited environment or descriptors, and
# runs no more at once than max_inflight.  A command that cannot be run
# pauses its endpoint until it can.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 32
install_prefix
spoolctl -d "$SPOOL" init >/dev/null
M=$TRASH/marks
mkdir "$M"

# The command: what it does depends on the custom_id it is given.
cat > "$TRASH/tool.sh" <<'EOF'
#!/bin/sh
marks=$1
id=$SPOOLD_CUSTOM_ID
echo "$id" >> "$marks/runs.log"
case $id in
ok-*)
	# How many run at once: each marks itself while it runs.
	touch "$marks/running.$id"
	ls "$marks" | grep -c '^running\.' >> "$marks/concurrency.log"
	line=$(cat)
	sleep 0.2
	rm -f "$marks/running.$id"
	printf '{"input":%s,"usage":{"prompt_tokens":1,"completion_tokens":2}}\n' "$line"
	;;
text-*)
	# A classic tool: its output is text, not JSON.
	tr -cs 'A-Za-z' '\n' | tr A-Z a-z | sort | uniq -c | sort -rn | head -3
	;;
temp-*)
	# Busy the first time, fine the second.
	if [ -e "$marks/$id" ]; then
		cat
	else
		touch "$marks/$id"
		echo "$id: busy, try later" >&2
		exit 75
	fi
	;;
fail-*)
	cat >/dev/null
	i=0
	while [ $i -lt 40 ]; do
		echo "EARLY noise line $i of a chatty log"
		i=$((i + 1))
	done >&2
	echo "the real reason: bad input" >&2
	exit 3
	;;
slow-*)
	# A grandchild in the background, then a wait past the timeout.
	sleep 1000 &
	echo $! > "$marks/slow.pid"
	sleep 1000
	;;
sig-*)
	kill -9 $$
	;;
big-*)
	head -c 100000 /dev/zero | tr '\0' a
	;;
esac
EOF
chmod +x "$TRASH/tool.sh"

cat > "$TRASH/exec.conf" <<EOF
[spool]
max_response_size = 64k
[endpoint default]
type = exec
command = "$TRASH/tool.sh" '$M'
max_inflight = 2
timeout_s = 20s
[endpoint env]
type = exec
command = env
[endpoint fds]
type = exec
command = /bin/ls -l /proc/self/fd
[retry]
max_attempts = 3
backoff_base = 20ms
backoff_max = 100ms
EOF

B='"body":{"model":"legacy","messages":[{"role":"user","content":"Hello, hello, HELLO world"}]}'
L="\"method\":\"POST\",\"url\":\"/v1/chat/completions\",$B"
{
	for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
		echo "{\"custom_id\":\"ok-$i\",$L}"
	done
	echo '{"custom_id":"ok-anthropic","params":{"model":"legacy","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}}'
	echo "{\"custom_id\":\"text-1\",$L}"
	for i in 1 2 3; do echo "{\"custom_id\":\"temp-$i\",$L}"; done
	echo "{\"custom_id\":\"fail-1\",$L}"
	echo "{\"custom_id\":\"slow-1\",\"timeout_s\":1,\"max_attempts\":1,$L}"
	echo "{\"custom_id\":\"sig-1\",$L}"
	echo "{\"custom_id\":\"big-1\",$L}"
	echo "{\"custom_id\":\"env-1\",\"endpoint\":\"env\",$L}"
	echo "{\"custom_id\":\"fds-1\",\"endpoint\":\"fds\",$L}"
} > "$TRASH/legacy.jsonl"
drop "$TRASH/legacy.jsonl"

# A secret in spoold's environment, a descriptor it inherits.
echo canary > "$TRASH/leak-canary"
OPENAI_API_KEY=sk-test-secret timeout 120 spoold -c "$TRASH/exec.conf" \
    -d "$SPOOL" -w 2 --once 2>"$TRASH/spoold.log" 9<"$TRASH/leak-canary"
check "--once exits 0" test $? = 0
R=$SPOOL/results/legacy
O=$R/output.jsonl
E=$R/errors.jsonl

# field FILE CUSTOM_ID EXPR: EXPR of the result line (r) of CUSTOM_ID.
field() {
	/usr/bin/python3 - "$@" <<'EOF'
import json, sys
for l in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(l)
    if r["custom_id"] == sys.argv[2]:
        print(eval(sys.argv[3]))
        break
else:
    print("NO SUCH LINE")
EOF
}
runs() { grep -c "^$1\$" "$M/runs.log"; }

check "19 successes, 4 failures" test "$(lines "$O")" = 19 -a "$(lines "$E")" = 4
check "output passes output-strict" validate output-strict "$O"
check "errors pass output-strict" validate output-strict "$E"
check "exit 0: status 200, the JSON object on stdout is the body" \
    test "$(field "$O" ok-1 'r["response"]["status_code"], r["response"]["body"]["usage"]["completion_tokens"]')" = "(200, 2)"
check "stdin is the request line" test "$(field "$O" ok-1 \
    'r["response"]["body"]["input"] == {"custom_id": "ok-1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "legacy", "messages": [{"role": "user", "content": "Hello, hello, HELLO world"}]}}')" = True
check "an Anthropic line arrives as url /v1/messages, body its params" \
    test "$(field "$O" ok-anthropic 'r["response"]["body"]["input"]["url"], r["response"]["body"]["input"]["body"]["max_tokens"]')" = "('/v1/messages', 10)"
check "usage reported on stdout is summed" test "$(json "$R/manifest.json" 'd["usage"]["total_tokens"]')" = 39
check "text on stdout is wrapped as {\"output\": ...}" \
    test "$(field "$O" text-1 'r["response"]["body"]["output"].split()[:2]')" = "['3', 'hello']"
check "exit 75 is retried, then succeeds" \
    test "$(runs temp-1)$(runs temp-2)$(runs temp-3)" = 222 -a "$(field "$O" temp-2 'r["response"]["body"]["custom_id"]')" = temp-2
check "exit 3 fails at once, not retried" test "$(runs fail-1)" = 1 -a "$(field "$E" fail-1 'r["error"]["code"]')" = exec_exit
msg=$(field "$E" fail-1 'r["error"]["message"]')
diag "fail-1: $(echo "$msg" | tr '\n' '|')"
check "its message: the exit status and stderr's tail" \
    test "${msg#exec: exit 3: ...}" != "$msg" -a "${msg%the real reason: bad input}" != "$msg"
check "only the tail: the start of stderr is not in it" test "${msg#*EARLY noise line 0 }" = "$msg"
check "a timeout fails as request_timeout, after 1 s" \
    test "$(field "$E" slow-1 'r["error"]["code"], r["error"]["message"]')" = "('request_timeout', 'exec: timed out after 1 s')"
pid_gone() {
	! [ -e "/proc/$1/stat" ] || [ "$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat")" = Z ]
}
bg=$(cat "$M/slow.pid")
check "the timeout killed the whole process group (grandchild $bg)" wait_for 5 pid_gone "$bg"
check "a signal fails with its name" \
    test "$(field "$E" sig-1 'r["error"]["code"], r["error"]["message"]')" = "('exec_signal', 'exec: killed by signal 9 (Killed)')"
check "stdout over max_response_size fails" test "$(field "$E" big-1 'r["error"]["code"]')" = response_too_large
envout=$(field "$O" env-1 'r["response"]["body"]["output"]')
diag "env-1: $(echo "$envout" | tr '\n' ' ')"
check "a line picks its exec endpoint by name" test -n "$envout"
check "the environment is PATH, LANG and the two SPOOLD_ variables only" \
    test "$(echo "$envout" | sort | tr '\n' ' ')" = "LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin SPOOLD_CUSTOM_ID=env-1 SPOOLD_ENDPOINT=env "
check "no API key from spoold's environment" test "${envout#*sk-test}" = "$envout"
fdout=$(field "$O" fds-1 'r["response"]["body"]["output"]')
diag "fds-1: $(echo "$fdout" | tr '\n' ' ')"
# ls itself opens 3 to read the directory.
check "descriptors: 0, 1, 2 (pipes) and ls's own 3, nothing else" \
    test "$(echo "$fdout" | awk '$9 ~ /^[0-9]+$/ { printf "%s:%s ", $9, substr($11, 1, 5) }')" = "0:pipe: 1:pipe: 2:pipe: 3:/proc "
max=$(sort -n "$M/concurrency.log" | tail -1)
diag "most runs at once: $max"
check "max_inflight = 2 bounds the runs at once (and both are used)" test "$max" = 2

# A command that cannot be run pauses its endpoint; nothing is failed,
# and all completes once it can be run.
cat > "$TRASH/later.conf" <<EOF
[endpoint default]
type = exec
command = $TRASH/later.sh
EOF
for i in 1 2 3; do echo "{\"custom_id\":\"w-$i\",$L}"; done > "$TRASH/wait.jsonl"
start_bg spoold -c "$TRASH/later.conf" -d "$SPOOL" -w 1 2>"$TRASH/spoold2.log"
LATER_PID=$LAST_PID
drop "$TRASH/wait.jsonl"
check "cannot run: the endpoint is paused, and the log says why" \
    wait_for 20 grep -q 'endpoint default paused.*cannot run its command' "$TRASH/spoold2.log"
sleep 2	# a pause period or two: nothing may be failed meanwhile
W=$SPOOL/results/wait
check "nothing failed while it cannot run" test ! -s "$W/errors.jsonl" -a ! -s "$W/output.jsonl"
printf '#!/bin/sh\nexec cat\n' > "$TRASH/later.sh.tmp"
chmod +x "$TRASH/later.sh.tmp"
mv "$TRASH/later.sh.tmp" "$TRASH/later.sh"
check "all completes when the command is there" wait_for 60 test -f "$W/manifest.json"
check "3 successes" test "$(lines "$W/output.jsonl")" = 3 -a "$(lines "$W/errors.jsonl")" = 0
kill -TERM "$LATER_PID"
wait "$LATER_PID"

# The example in examples/legacy runs as its README says.
EX=$SPOOLD_SRC/examples/legacy
sed "s|@HERE@|$EX|" "$EX/legacy.conf" > "$TRASH/legacy.conf"
spoolctl -d "$SPOOL" submit "$EX/sample.jsonl" >/dev/null
timeout 60 spoold -c "$TRASH/legacy.conf" -d "$SPOOL" --once 2>"$TRASH/spoold3.log"
S=$SPOOL/results/sample
check "examples/legacy: --once exits 0, 5 done, 1 failed" \
    test $? = 0 -a "$(lines "$S/output.jsonl")" = 5 -a "$(lines "$S/errors.jsonl")" = 1
check "examples/legacy: word counts in the body" \
    test "$(field "$S/output.jsonl" two-cities 'r["response"]["body"]["words"], r["response"]["body"]["top"][0]')" = "(36, {'word': 'it', 'count': 6})"
check "examples/legacy: a request without text fails with the script's reason" \
    test "$(field "$S/errors.jsonl" no-text 'r["error"]["message"]')" = "exec: exit 65: wordfreq: no message content in request no-text"

# Bad quoting is caught by --check-config, with the line.
printf '[endpoint default]\ntype = exec\ncommand = tr "a-z A-Z\n' > "$TRASH/bad.conf"
spoold -c "$TRASH/bad.conf" --check-config 2>"$TRASH/bad.out"
st=$?
diag "$(cat "$TRASH/bad.out")"
check "--check-config rejects an unterminated quote" test $st = 78 -a -n "$(grep ':3: .*unterminated "' "$TRASH/bad.out")"
# The daemon dies (kill -9): its workers see the channel close, exit,
# and take the commands they run with them, whole process groups.
SP2=$TRASH/spool2
spoolctl -d "$SP2" init >/dev/null
rm -f "$M/slow.pid"
echo "{\"custom_id\":\"slow-2\",$L}" > "$TRASH/orphan.jsonl"
start_bg spoold -c "$TRASH/exec.conf" -d "$SP2" -w 1 2>"$TRASH/spoold4.log"
KILL_PID=$LAST_PID
spoolctl -d "$SP2" submit "$TRASH/orphan.jsonl" >/dev/null
check "a slow command is running" wait_for 20 test -s "$M/slow.pid"
bg=$(cat "$M/slow.pid")
kill -KILL "$KILL_PID"
wait "$KILL_PID" 2>/dev/null
check "kill -9 of spoold: the worker kills the command's group (grandchild $bg)" \
    wait_for 10 pid_gone "$bg"
done_testing
