#!/bin/sh
# Archives (.tar, .tar.gz, .tgz, .tar.zst, .zip) and directory batches
# (renamed in whole, sealed by _READY, sealed by batch.settle), and the
# archives that must be refused: "..", absolute paths, links, bombs.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 19
install_prefix
start_mock
spoolctl -d "$SPOOL" init >/dev/null
N=$SPOOL/new
R=$SPOOL/results
S=$TRASH/src
mkdir -p "$S/sub"

# k members: a JSONL of 3, a pretty-printed bare body, a request .json,
# and a README that is reported, not fatal.  Each archive gets its own
# custom_ids (the idempotency index would otherwise see one content).
members() {
	rm -rf "$S" && mkdir -p "$S/sub"
	for i in 1 2 3; do
		printf '{"custom_id":"%s-l%s","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"%s %s"}]}}\n' "$1" $i "$1" $i
	done > "$S/a.jsonl"
	printf '{\n  "model": "m",\n  "messages": [{"role": "user", "content": "%s bare"}]\n}\n' "$1" > "$S/sub/bare.json"
	printf '{"custom_id":"%s-req","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"req"}]}}' "$1" > "$S/req.json"
	echo "not a request" > "$S/README.txt"
}
members tar;  (cd "$S" && tar cf "$TRASH/t-tar.tar" a.jsonl sub req.json README.txt)
members tgz;  (cd "$S" && tar czf "$TRASH/t-tgz.tgz" a.jsonl sub req.json README.txt)
members gz;   (cd "$S" && tar czf "$TRASH/t-gz.tar.gz" a.jsonl sub req.json README.txt)
members zst;  (cd "$S" && tar cf - a.jsonl sub req.json README.txt | zstd -q > "$TRASH/t-zst.tar.zst")
members zip;  (cd "$S" && zip -qr "$TRASH/t-zip.zip" a.jsonl sub req.json README.txt)
members dmv;  cp -r "$S" "$TRASH/dmv"
members drdy; cp -r "$S" "$TRASH/drdy"
members dset; cp -r "$S" "$TRASH/dset"

# Hostile archives.
members evil
(cd "$S" && tar czf "$TRASH/e-dotdot.tar.gz" --transform 's,^,../,' a.jsonl)
(cd "$S" && tar czf "$TRASH/e-abs.tar.gz" -P --transform 's,^,/tmp/,' a.jsonl)
ln -s /etc/passwd "$S/link.jsonl"
(cd "$S" && tar czf "$TRASH/e-link.tar.gz" a.jsonl link.jsonl)
head -c 100000000 /dev/zero | tr '\0' 'a' > "$TRASH/big.jsonl"
(cd "$TRASH" && tar cf - big.jsonl | gzip -9 > "$TRASH/e-bomb.tar.gz")
rm -f "$TRASH/big.jsonl"
printf 'this is not an archive' > "$TRASH/e-junk.tar.gz"
canary=$TRASH/canary
echo canary > "$canary"

cat > "$TRASH/spoold.conf" <<EOC
[spool]
settle = 300ms
[batch]
settle = 4s
EOC
start_spoold -c "$TRASH/spoold.conf"
for f in t-tar.tar t-tgz.tgz t-gz.tar.gz t-zst.tar.zst t-zip.zip \
    e-dotdot.tar.gz e-abs.tar.gz e-link.tar.gz e-bomb.tar.gz e-junk.tar.gz; do
	drop "$TRASH/$f"
done
mv "$TRASH/dmv" "$N/dmv"
# Copied in place, file by file, like scp -r: sealed by the marker.
mkdir "$N/drdy" && cp -r "$TRASH/drdy/." "$N/drdy/"
sleep 1.5
check "a directory without its marker is not taken" test -d "$N/drdy"
touch "$N/drdy/_READY"
# Copied in place without a marker: sealed by batch.settle (4 s).
mkdir "$N/dset" && cp -r "$TRASH/dset/." "$N/dset/"

done_all() {
	for b in t-tar t-tgz t-gz t-zst t-zip dmv drdy dset; do
		[ -f "$R/$b/manifest.json" ] || return 1
	done
	for e in dotdot abs link bomb junk; do
		[ -f "$SPOOL/failed/e-$e.tar.gz.error.json" ] || return 1
	done
}
wait_for 60 done_all
# Archives: every member; directories: the files at the top level only
# (sub/ is reported and left out, like the README).
for b in t-tar t-tgz t-gz t-zst t-zip dmv drdy dset; do
	case $b in t-*) n=5 ;; *) n=4 ;; esac
	check "$b: $n requests, all succeeded" test "$(json "$R/$b/manifest.json" \
	    "d['request_counts']['completed']")" = $n -a \
	    "$(lines "$R/$b/output.jsonl")" = $n
done
check "a bare body member is named after its path" \
    grep -q '"custom_id":"sub-bare"' "$R/t-zip/output.jsonl"
all_valid() {
	for f in "$R"/t-*/output.jsonl "$R"/d*/output.jsonl; do
		validate output-strict "$f" || return 1
	done
}
check "outputs pass the OpenAI batch schema" all_valid
check "the README member is reported, not fatal" \
    grep -q 'left out: README.txt' "$TRASH/spoold.log"
for e in dotdot abs link; do
	check "e-$e refused as unsafe_archive" test "$(json \
	    "$SPOOL/failed/e-$e.tar.gz.error.json" "d['code']")" = unsafe_archive
done
check "the bomb refused as archive_too_large" test "$(json \
    "$SPOOL/failed/e-bomb.tar.gz.error.json" "d['code']")" = archive_too_large
check "junk refused as invalid_archive" test "$(json \
    "$SPOOL/failed/e-junk.tar.gz.error.json" "d['code']")" = invalid_archive
check "nothing written outside the spool" test ! -e /tmp/a.jsonl -a \
    ! -e "$SPOOL/a.jsonl" -a "$(cat "$canary")" = canary
check "originals kept in done/" test -f "$SPOOL/done/t-zip.zip" -a \
    -d "$SPOOL/done/drdy"
done_testing
