#!/usr/bin/env python3
# tally.py - count the sentiment labels in a spoold (OpenAI Batch) output file.
#
# Reads SPOOL/results/BATCH/output.jsonl as written for the sentiment example
# (posts.jsonl): each line's response.body is a chat.completion whose
# choices[0].message.content should be the JSON object
# {"sentiment": "positive"|"neutral"|"negative", "confidence": 0..1}.
# Prints, per label, the count, its share of the parsed replies and the mean
# confidence, then the number of unparsable replies: a refusal, no content,
# content that is not JSON, or JSON that does not match the schema. Lines
# that carry no successful response (e.g. an errors.jsonl given by mistake)
# are counted apart. With -v, also prints one line per request: custom_id,
# label, confidence (or "unparsable" and why).
#
# Exit status: 0 on success, 1 if a file cannot be read, 2 on usage errors.
# Standard library only.

import argparse
import json
import signal
import sys

LABELS = ("positive", "neutral", "negative")


def classify(line):
    """Return (custom_id, label, confidence, problem) for one output line.
    label is None when the reply is unusable; problem says why."""
    try:
        rec = json.loads(line)
    except ValueError:
        return None, None, None, "line is not JSON"
    if not isinstance(rec, dict):
        return None, None, None, "line is not a JSON object"
    cid = rec.get("custom_id")
    resp = rec.get("response")
    if not isinstance(resp, dict) or resp.get("status_code") != 200:
        return cid, None, None, "failed"
    try:
        msg = resp["body"]["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        return cid, None, None, "no choices[0].message in the body"
    if not isinstance(msg, dict):
        return cid, None, None, "no choices[0].message in the body"
    if msg.get("refusal"):
        return cid, None, None, "refusal: " + str(msg["refusal"])[:60]
    content = msg.get("content")
    if not isinstance(content, str) or not content.strip():
        return cid, None, None, "empty content"
    try:
        obj = json.loads(content)
    except ValueError:
        return cid, None, None, "content is not JSON: " + content[:40]
    if not isinstance(obj, dict):
        return cid, None, None, "content is not a JSON object"
    label, conf = obj.get("sentiment"), obj.get("confidence")
    if label not in LABELS:
        return cid, None, None, f"unknown sentiment {label!r}"
    if isinstance(conf, bool) or not isinstance(conf, (int, float)) \
            or not 0 <= conf <= 1:
        return cid, None, None, f"bad confidence {conf!r}"
    return cid, label, float(conf), None


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under | head
    p = argparse.ArgumentParser(
        prog="tally.py",
        usage="%(prog)s [-v] OUTPUT_JSONL...",
        description="Count the sentiment labels in spoold output files of "
                    "the sentiment example.",
        epilog="Example: %(prog)s SPOOL/results/posts/output.jsonl")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also print one line per request")
    p.add_argument("files", nargs="+", metavar="OUTPUT_JSONL",
                   help="output.jsonl of a finished (or running) batch; "
                        "'-' reads standard input")
    a = p.parse_args()

    counts = {l: 0 for l in LABELS}
    conf_sum = {l: 0.0 for l in LABELS}
    unparsable = failed = bad_lines = 0
    for name in a.files:
        try:
            f = sys.stdin if name == "-" else open(name, encoding="utf-8")
        except OSError as e:
            print(f"tally.py: {name}: {e.strerror}", file=sys.stderr)
            return 1
        with f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                cid, label, conf, problem = classify(line)
                if label:
                    counts[label] += 1
                    conf_sum[label] += conf
                    if a.verbose:
                        print(f"{cid}\t{label}\t{conf:.2f}")
                    continue
                if problem == "failed":
                    failed += 1
                elif cid is None:
                    bad_lines += 1
                    print(f"tally.py: {name}:{lineno}: {problem}",
                          file=sys.stderr)
                    continue
                else:
                    unparsable += 1
                if a.verbose:
                    what = "failed" if problem == "failed" else \
                        "unparsable\t" + problem
                    print(f"{cid}\t{what}")

    total = sum(counts.values())
    if a.verbose:
        print()
    for l in LABELS:
        share = 100.0 * counts[l] / total if total else 0.0
        mean = f"mean confidence {conf_sum[l] / counts[l]:.2f}" \
            if counts[l] else ""
        print(f"{l:<12}{counts[l]:>6}  {share:5.1f}%  {mean}".rstrip())
    print(f"{'unparsable':<12}{unparsable:>6}")
    if failed:
        print(f"{'failed':<12}{failed:>6}  (no successful response: "
              "see errors.jsonl)")
    if bad_lines:
        print(f"{'bad lines':<12}{bad_lines:>6}  (not output records)")
    print(f"{'total':<12}{total + unparsable + failed:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
