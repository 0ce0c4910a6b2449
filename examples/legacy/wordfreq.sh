#!/bin/sh
# wordfreq.sh - an exec endpoint for spoold made of classic Unix text
# tools: counts the lines, words and characters of a request's messages
# and lists its most frequent words.
#
# spoold runs it once per request, without a shell of its own:
#   stdin   the request as one JSON line:
#           {"custom_id":...,"method":"POST","url":...,"body":{...}}
#   stdout  the response body; here a JSON object
#   exit    0 done, 75 try again later, anything else failed (stderr's
#           last lines become the error message)
# The environment holds only PATH, LANG, SPOOLD_CUSTOM_ID and
# SPOOLD_ENDPOINT.
#
# No jq: the message texts are picked out of the line with grep and sed,
# which is enough for the "content" strings of a chat request (\uXXXX
# escapes are left as they are).
set -u
TOP=${1:-5}

line=$(cat)
# Every "content":"..." string of the request, one per line, unescaped.
text=$(printf '%s\n' "$line" |
    grep -oE '"content":"([^"\\]|\\.)*"' |
    sed -e 's/^"content":"//' -e 's/"$//' \
	-e 's/\\n/\n/g' -e 's/\\t/\t/g' -e 's/\\"/"/g' -e 's/\\\\/\\/g')
if [ -z "$text" ]; then
	echo "wordfreq: no message content in request $SPOOLD_CUSTOM_ID" >&2
	exit 65	# EX_DATAERR: the request is wrong, retrying will not help
fi

set -- $(printf '%s\n' "$text" | wc -l -w -m)
lines=$1 words=$2 chars=$3

# The classic pipeline: one word a line, folded, counted, ranked.
top=$(printf '%s\n' "$text" |
    tr -cs '[:alpha:]' '\n' | tr '[:upper:]' '[:lower:]' | grep . |
    sort | uniq -c | sort -k1,1nr -k2,2 | head -n "$TOP" |
    awk '{ printf "%s{\"word\":\"%s\",\"count\":%d}", (NR > 1 ? "," : ""),
	$2, $1 }')

printf '{"object":"wordfreq","lines":%d,"words":%d,"chars":%d,"top":[%s]}\n' \
    "$lines" "$words" "$chars" "$top"
