#!/bin/sh
# The hostile-drop catalogue (SPEC §7): links, FIFOs, devices, hard
# links, directories that point outside, names no batch id can carry,
# custom_ids that would climb out of results/, every configured limit,
# requests that name hosts, paths, methods or headers of their own, and
# a redirect.  Each ends in an error record; the daemon keeps serving;
# nothing outside the spool is read into a result, written or created.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 59
install_prefix
start_mock
spoolctl -d "$SPOOL" init >/dev/null
N=$SPOOL/new
R=$SPOOL/results
F=$SPOOL/failed
S=$TRASH/src
O=$TRASH/outside
mkdir -p "$S" "$O/cdir"

# line ID [MODEL [TEXT [EXTRA]]]: one chat request line.
line() {
	printf '{"custom_id":"%s","method":"POST","url":"/v1/chat/completions","body":{"model":"%s","messages":[{"role":"user","content":"%s"}]}%s}\n' \
	    "$1" "${2:-mock-1}" "${3:-hello}" "${4:-}"
}

# Canaries outside the spool: valid requests, so that reading one
# would show in the mock's log and in a result.
{ line canary-1 mock-1 CANARYTEXT; line canary-2 mock-1 CANARYTEXT; } \
    > "$O/canary.jsonl"
printf '{"model":"mock-1","messages":[{"role":"user","content":"CANARYTEXT"}]}\n' \
    > "$O/canary.json"
line canary-dir mock-1 CANARYTEXT > "$O/cdir/a.jsonl"
sum_outside() { (cd "$O" && find . -exec stat -c '%n %s %Y %F' {} + |
    sort && cat canary.jsonl canary.json cdir/a.jsonl | sha256sum); }
sum_outside > "$TRASH/outside.before"

# Sources for the drops, made before the stamp.
for i in 1 2 3; do line "big-$i" mock-1 "$(head -c 30000 /dev/zero |
    tr '\0' x)"; done > "$S/big.jsonl"			# 90 KB > 64k
{
	line lim-good
	line lim-long mock-1 "$(head -c 10000 /dev/zero | tr '\0' y)"
	printf '{"custom_id":"lim-deep","method":"POST","url":"/v1/chat/completions","body":{"model":"mock-1","messages":[{"role":"user","content":"x"}],"x":%s1%s}}\n' \
	    "$(printf '[%.0s' $(seq 20))" "$(printf ']%.0s' $(seq 20))"
	printf '{"custom_id":"lim-bigresp","method":"POST","url":"/v1/embeddings","body":{"model":"mock-1","input":[%s"a"]}}\n' \
	    "$(printf '"a",%.0s' $(seq 99))"
	line lim-slow slow-5000 slow ',"timeout_s":1,"max_attempts":1'
	line lim-redirect redirect
} > "$S/lim.jsonl"
for i in $(seq 21); do line "many-$i"; done > "$S/many.jsonl"
{
	line req-good
	printf '{"custom_id":"req-fullurl","method":"POST","url":"https://evil.example/v1/chat/completions","body":{"model":"mock-1","messages":[]}}\n'
	printf '{"custom_id":"req-dotdot","method":"POST","url":"/v1/../admin","body":{"model":"mock-1","messages":[]}}\n'
	printf '{"custom_id":"req-files","method":"POST","url":"/v1/files","body":{"model":"mock-1","messages":[]}}\n'
	printf '{"custom_id":"req-get","method":"GET","url":"/v1/chat/completions","body":{"model":"mock-1","messages":[]}}\n'
	line req-headers mock-1 hi ',"headers":{"Authorization":"Bearer stolen"}'
	line req-xheader mock-1 hi ',"X-Header":"stolen"'
	line "$(printf 'req-utf8\377')"
} > "$S/req.jsonl"
mkdir "$S/dsym"
line dsym-1 > "$S/dsym/a.jsonl"
ln -s "$O/canary.jsonl" "$S/dsym/b.jsonl"
long255=$(head -c 249 /dev/zero | tr '\0' a)	# + .jsonl = 255 bytes
long201=$(head -c 201 /dev/zero | tr '\0' b)	# a batch id over 200
json250=$(head -c 250 /dev/zero | tr '\0' c)	# + .json = 255 bytes
cid600=$(head -c 600 /dev/zero | tr '\0' i)
sleep 1.1
touch "$TRASH/stamp"

cat > "$TRASH/spoold.conf" <<EOC
[spool]
settle = 300ms
max_file_size = 64k
max_line_length = 8k
max_json_depth = 16
max_requests = 20
max_response_size = 4k
[retry]
backoff_base = 50ms
backoff_max = 200ms
[batch]
max_age = 4s
[log]
format = json
EOC
start_spoold -c "$TRASH/spoold.conf"
# Dropped once it watches new/: a directory found by the first scan,
# not renamed in under its eyes, would wait for its marker.
if ! wait_for 20 grep -q 'spoold started' "$TRASH/spoold.log"; then
	echo "Bail out! spoold did not start"
	exit 1
fi

# 1-4: links, special files, directories.
ln -s "$O/canary.jsonl" "$N/sym.jsonl"
ln -s "$O/canary.json" "$N/sym.json"
mkfifo "$N/x.jsonl"
have_dev=0
mknod "$N/d.jsonl" c 1 3 2>/dev/null && have_dev=1
ln "$O/canary.jsonl" "$N/h.jsonl"
mv "$S/dsym" "$N/dsym"
ln -s "$O/cdir" "$N/dlink"
# 5: names.
nl_name=$(printf 'nl\nname.jsonl')
ctl_name=$(printf 'ctl\001\033.jsonl')
bad_name=$(printf 'bad\377\376.jsonl')
line name-nl > "$N/.t" && mv "$N/.t" "$N/$nl_name"
line name-ctl > "$N/.t" && mv "$N/.t" "$N/$ctl_name"
line name-bad > "$N/.t" && mv "$N/.t" "$N/$bad_name"
line name-255 > "$N/.t" && mv "$N/.t" "$N/$long255.jsonl"
line name-201 > "$N/.t" && mv "$N/.t" "$N/$long201.jsonl"
printf '{"model":"mock-1","messages":[{"role":"user","content":"bare 255"}]}\n' \
    > "$N/.t" && mv "$N/.t" "$N/$json250.json"
# 6: custom_ids of loose requests.
loose() {
	printf '{"custom_id":"%s","method":"POST","url":"/v1/chat/completions","body":{"model":"mock-1","messages":[{"role":"user","content":"%s"}]}}\n' \
	    "$2" "$1" > "$N/.t" && mv "$N/.t" "$N/$1.json"
}
loose cid-dotdot '../../escape-dotdot'
loose cid-abs "/tmp/escape-abs-$$"
loose cid-nul 'nul\u0000../../escape-nul'
loose cid-uesc '\u002e\u002e/\u002e\u002e/escape-uesc'
loose cid-nl 'new\nline'
loose cid-600 "$cid600"
loose cid-dots '..'
# Two custom_ids that sanitise alike must not share a file.
loose cid-col1 'col/x'
loose cid-col2 'col_x'
# 7-9: limits, requests, redirect.
for f in big lim many req; do drop "$S/$f.jsonl"; done

failed_code() {
	json "$F/$1.error.json" "d['code']" 2>/dev/null
}
sidecars() { ls "$F"/*.error.json 2>/dev/null | wc -l; }
settled() {
	for f in sym.jsonl sym.json x.jsonl h.jsonl dsym dlink big.jsonl \
	    many.jsonl; do
		[ -f "$F/$f.error.json" ] || return 1
	done
	[ $have_dev = 0 ] || [ -f "$F/d.jsonl.error.json" ] || return 1
	[ -f "$R/lim/manifest.json" ] && [ -f "$R/req/manifest.json" ] &&
	    [ -z "$(ls "$N")" ] &&
	    [ -n "$(ls -d "$R"/loose-*/manifest.json 2>/dev/null)" ]
}
check "every hostile drop was dealt with (none left in new/)" \
    wait_for 60 settled
[ -z "$(ls "$N")" ] || diag "left in new/: $(ls "$N" | od -c | head -5)"
check "the daemon is alive" kill -0 "$SPOOLD_PID"

# 1. Symlinks: moved as links, their targets never opened.
check "symlink .jsonl in failed/ as the link itself" \
    test -L "$F/sym.jsonl" -a "$(readlink "$F/sym.jsonl")" = "$O/canary.jsonl"
check "symlink .json in failed/ as the link itself" \
    test -L "$F/sym.json" -a "$(readlink "$F/sym.json")" = "$O/canary.json"
check "symlinks refused as invalid_file" test "$(failed_code sym.jsonl)" = \
    invalid_file -a "$(failed_code sym.json)" = invalid_file
# 2. Special files.
check "FIFO in failed/ as a FIFO, invalid_file" \
    test -p "$F/x.jsonl" -a "$(failed_code x.jsonl)" = invalid_file
if [ $have_dev = 1 ]; then
	check "device node in failed/ as itself, invalid_file" \
	    test -c "$F/d.jsonl" -a "$(failed_code d.jsonl)" = invalid_file
else
	ok "device node # SKIP mknod not permitted here"
fi
# 3. A hard link to a file outside.
check "hard link refused as invalid_file" \
    test "$(failed_code h.jsonl)" = invalid_file
check "hard link's message says so" grep -q 'hard link' "$F/h.jsonl.error.json"
check "hard link never processed (no results/h)" test ! -e "$R/h"
check "hard link still the canary's inode" \
    test "$(stat -c %i "$F/h.jsonl")" = "$(stat -c %i "$O/canary.jsonl")"
# 4. Directories.
check "directory with a symlink member: unsafe_directory" \
    test "$(failed_code dsym)" = unsafe_directory -a -L "$F/dsym/b.jsonl"
check "directory that is a symlink: failed/ as the link" \
    test -L "$F/dlink" -a "$(failed_code dlink)" = invalid_file
check "nothing of the linked directory was processed" \
    test ! -e "$R/dlink" -a ! -e "$R/dsym" -a -f "$O/cdir/a.jsonl"

# 5. Names: each one processed or failed with a record.
cat > "$TRASH/names.py" <<'EOP'
import json, os, sys
F, R = sys.argv[1], sys.argv[2]
side = {}
for n in os.listdir(F):
    if n.endswith(b'.error.json'.decode()):
        d = json.load(open(os.path.join(F, n), encoding='utf-8'))
        side[d['input']] = d
def failed(name, code):
    d = side.get(name)
    return d is not None and d['code'] == code and \
        os.path.lexists(os.path.join(F, d['file'])) and \
        os.path.exists(os.path.join(F, d['file'] + '.error.json'))
want = sys.argv[3]
if want == 'nl':
    ok = failed('nl\nname.jsonl', 'invalid_name')
elif want == 'ctl':
    ok = failed('ctl\x01\x1b.jsonl', 'invalid_name')
elif want == 'bad':
    ok = failed('bad??.jsonl', 'invalid_name')
elif want == '255':
    ok = failed('a' * 249 + '.jsonl', 'invalid_name')
elif want == '201':
    ok = failed('b' * 201 + '.jsonl', 'invalid_name')
sys.exit(0 if ok else 1)
EOP
for w in nl ctl bad 255 201; do
	check "name $w: failed/ with invalid_name and its sidecar" \
	    /usr/bin/python3 "$TRASH/names.py" "$F" "$R" $w
done
check "a 255-byte .json name is processed (its task file shortened)" \
    sh -c 'grep -lq "bare 255" "$1"/loose-*/output.jsonl &&
    ls "$1"/loose-*/ccccc*.json >/dev/null' sh "$R"

# 6. custom_ids become sanitised names inside results/loose-*/ (one
# batch or, on a slow day, two: every check looks in all of them).
# $1 is a glob (sanitised names carry a hash of the custom_id).
in_loose() { ls "$R"/loose-*/$1 >/dev/null 2>&1; }
loose_err() { cat "$R"/loose-*/errors.jsonl | grep -q "$1"; }
check "../../escape-dotdot stays in the batch's directory" \
    in_loose '_._.._escape-dotdot.*.json'
check "/tmp/escape-abs stays in the batch's directory" \
    in_loose "_tmp_escape-abs-$$.*.json"
check "\\u002e escapes are sanitised like dots" in_loose '_._.._escape-uesc.*.json'
check "a custom_id of '..' becomes a plain file" in_loose '_..*.json'
check "col/x and col_x keep a file each" sh -c \
    'ls "$1"/loose-*/col_x.json "$1"/loose-*/col_x.*.json >/dev/null' \
    sh "$R"
check "a newline in a custom_id is refused" \
    loose_err '"custom_id":"cid-nl".*control character'
check "a 600-byte custom_id is refused" \
    loose_err '"custom_id":"cid-600".*custom_id must be 1 to 512'
check "nothing named escape-* outside results/loose-*/" test -z "$(find \
    "$TRASH" /tmp/escape-* -name '*escape-*' ! -path "$R/loose-*/*" \
    2>/dev/null)"
check "every loose result is a plain file directly in its directory" \
    test -z "$(find "$R"/loose-* -mindepth 1 \( ! -type f -o \
    -path "$R/loose-*/*/*" \))"

# 7. Limits.
check "file over max_file_size: file_too_large" \
    test "$(failed_code big.jsonl)" = file_too_large
check "more than max_requests: too_many_requests" \
    test "$(failed_code many.jsonl)" = too_many_requests
check "no result for the refused batches" test ! -e "$R/big" -a ! -e "$R/many"
E=$R/lim/errors.jsonl
check "the good line of lim succeeded" \
    grep -q '"custom_id":"lim-good"' "$R/lim/output.jsonl"
check "line over max_line_length: invalid_request, says so" \
    grep -q '"invalid_request","message":"line 2: line is over 8192 bytes' "$E"
check "JSON deeper than max_json_depth: invalid_json" \
    grep -q '"custom_id":"lim-deep".*"invalid_json".*deeper than 16' "$E"
check "response over max_response_size: response_too_large" \
    sh -c 'grep "\"custom_id\":\"lim-bigresp\"" "$1" |
    grep -q response_too_large' sh "$E"
check "request slower than timeout_s: request_timeout" \
    sh -c 'grep "\"custom_id\":\"lim-slow\"" "$1" | grep -q request_timeout' sh "$E"
# 9. The redirect.
check "a 302 to another host is not followed: the record says 302" \
    sh -c 'grep "\"custom_id\":\"lim-redirect\"" "$1" |
    grep -q "\"status_code\":302.*HTTP 302"' sh "$E"
check "the 302 was asked once (a permanent failure)" \
    test "$(grep -c '^lim-redirect ' "$TRASH/mock.log")" = 1
check "the deep and long lines were never sent" \
    test -z "$(grep -E '^lim-(long|deep) ' "$TRASH/mock.log")"

# 8. Requests that choose their own host, path, method or headers.
E=$R/req/errors.jsonl
check "req: the good line succeeded" \
    grep -q '"custom_id":"req-good"' "$R/req/output.jsonl"
check "req: a full URL is refused" \
    grep -q '"custom_id":"req-fullurl".*not an allowed API path' "$E"
check "req: /v1/../admin is refused" \
    grep -q '"custom_id":"req-dotdot".*not an allowed API path' "$E"
check "req: /v1/files (not on the allowlist) is refused" \
    grep -q '"custom_id":"req-files".*not an allowed API path' "$E"
check "req: GET is refused" \
    grep -q '"custom_id":"req-get".*method must be' "$E"
check "req: a headers field is refused" \
    grep -q '"custom_id":"req-headers".*unknown field' "$E"
check "req: an X-Header field is refused" \
    grep -q '"custom_id":"req-xheader".*unknown field' "$E"
check "req: none of the refused lines was sent" \
    test -z "$(grep -E '^req-(fullurl|dotdot|files|get|headers|xheader) ' \
    "$TRASH/mock.log")"
check "req: a line that is not UTF-8 is refused (and its record is)" \
    grep -q '"invalid_json","message":"line 8: request is not valid UTF-8' "$E"
check "req: 6 invalid_request records" \
    test "$(grep -c '"code":"invalid_request"' "$E")" = 6

# The daemon keeps serving: a normal batch after all of it.
line after-1 > "$S/after.jsonl"
line after-2 >> "$S/after.jsonl"
drop "$S/after.jsonl"
check "a normal batch afterwards completes" \
    wait_for 30 test -f "$R/after/manifest.json"
check "... with both requests" \
    test "$(json "$R/after/manifest.json" "d['request_counts']['completed']")" = 2

# Every record is valid JSON (names escaped), every log line too.
cat > "$TRASH/alljson.py" <<'EOP'
import json, os, sys
bad = []
for root, dirs, files in os.walk(sys.argv[1].encode()):
    for f in files:
        p = os.path.join(root, f)
        if f.endswith(b'.json') and not os.path.islink(p):
            try:
                json.loads(open(p, 'rb').read().decode('utf-8'))
            except Exception as e:
                bad.append((p, e))
        elif f.endswith(b'.jsonl') and b'/results/' in p:
            for l in open(p, 'rb'):
                try:
                    json.loads(l.decode('utf-8'))
                except Exception as e:
                    bad.append((p, e))
for l in open(sys.argv[2], 'rb'):
    try:
        json.loads(l.decode('utf-8'))
    except Exception as e:
        bad.append(('log', l[:200], e))
for b in bad:
    print('#', b)
sys.exit(1 if bad else 0)
EOP
check "every status, manifest, sidecar, result and log line is valid JSON" \
    /usr/bin/python3 "$TRASH/alljson.py" "$SPOOL" "$TRASH/spoold.log"
check "error records pass output-strict" \
    sh -c 'for f in "$1"/*/errors.jsonl; do
    /usr/bin/python3 "$2/tests/validate.py" output-strict "$f" >/dev/null ||
    exit 1; done' sh "$R" "$SPOOLD_SRC"

# Nothing outside the spool was read into a result, changed or created.
sum_outside > "$TRASH/outside.after"
check "the canaries and their directory are unchanged" \
    cmp -s "$TRASH/outside.before" "$TRASH/outside.after"
check "no canary request was sent" test -z "$(grep '^canary' "$TRASH/mock.log")"
check "no result holds canary text" \
    test -z "$(grep -rl CANARYTEXT "$R" "$SPOOL/archive" 2>/dev/null)"
check "nothing new outside the spool" test -z "$(find "$TRASH" -newer \
    "$TRASH/stamp" ! -path "$SPOOL" ! -path "$SPOOL/*" ! -path "$TRASH" \
    ! -path "$S" ! -path "$S/*" ! -name '*.log' ! -name 'mock.port' \
    ! -name '*.py' ! -name 'outside.*' ! -name spoold.conf)"
check "the daemon is still alive" kill -0 "$SPOOLD_PID"
done_testing
