#!/bin/sh
# make lint: the house rules that a compiler does not check (STYLE.md):
# trailing whitespace, lines over 80 columns, banned functions, and
# headers whose names would shadow system or library headers.
set -u
cd "$(dirname "$0")/.."
src=$(ls spoold/*.[ch] tools/*.[ch])
bad=0
if grep -nE '[[:space:]]+$' $src; then
	echo "lint: trailing whitespace" >&2; bad=1
fi
for f in $src; do
	expand -t8 "$f" | awk -v f="$f" 'length($0) > 80 {
	    print f ":" FNR ": " length($0) " columns"; e = 1 } END { exit e }' || bad=1
done
if grep -nE '(^|[^_a-z])(sprintf|vsprintf|strcpy|strcat|gets|atoi|atol|strtok|tmpnam|mktemp|system|popen|signal)\(' $src |
    grep -v '^\s*/\?\*'; then
	echo "lint: banned function (STYLE.md C.10)" >&2; bad=1
fi
for h in spoold/*.h tools/*.h; do
	n=$(basename "$h")
	if [ -e "/usr/include/$n" ]; then
		echo "lint: $h shadows /usr/include/$n" >&2; bad=1
	fi
done
[ $bad = 0 ] && echo "lint: ok"
exit $bad
