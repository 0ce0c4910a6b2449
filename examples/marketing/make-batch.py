#!/usr/bin/env python3
# make-batch.py - turn a customer CSV into a batch of personalised email
# requests (OpenAI Batch input, one line per customer) for spoold.
#
# Input: a CSV file with a header row. Required columns: id, first_name.
# Used when present: segment, city, last_purchase, preferred_tone; any other
# column is passed to the model as well, as "Column name: value". Empty
# fields are left out. The file may start with a UTF-8 byte order mark
# (spreadsheet exports).
#
# Output: one request per row, custom_id "email-<id>", asking the model for a
# short email. The system message carries the brand guidelines of Fernhill
# Goods (an invented shop); the user message carries the row's fields. The
# reply is plain text: "Subject: ..." on the first line, a blank line, then
# the body. render.py turns the results into one .txt file per customer.
#
# The batch is written to a hidden temporary file beside the target, then
# renamed, so -o SPOOL/new/NAME.jsonl is safe (spoold ignores dot files).
# Exit status: 0 on success, 1 on bad input, 2 on usage errors.
# Standard library only.

import argparse
import csv
import json
import os
import signal
import sys
import tempfile

BRAND_GUIDELINES = """\
You write short marketing emails for Fernhill Goods, an independent shop \
(online and three city stores) that sells outdoor, kitchen, garden, travel \
and everyday gear built to last.

Brand guidelines:
- Voice: warm, plain and honest, like a knowledgeable shop assistant, not an \
advertiser. Adapt it to the customer's preferred tone.
- Length: a subject line of at most 60 characters, and a body of 60 to 120 \
words.
- Personal: greet the customer by first name. Refer to their last purchase \
and their interests naturally, for example with a care or usage tip, and \
suggest at most one related kind of product.
- Truthful: never invent prices, discounts, codes, deadlines, stock levels, \
product names, events or weather. Mention the city only in general terms, \
if at all.
- No pressure: no false urgency, no capitals for emphasis, at most one \
exclamation mark, no emoji.
- Respect: say nothing about the customer beyond the data you are given.
- End with the sign-off "- The Fernhill team" and nothing after it (the mail \
system adds the unsubscribe footer).
- Format: the first line is "Subject: " followed by the subject, then one \
blank line, then the body as plain text (no Markdown, no HTML)."""

KNOWN = [  # column -> label in the user message, in this order
    ("first_name", "First name"),
    ("segment", "Segment"),
    ("city", "City"),
    ("last_purchase", "Last purchase"),
    ("preferred_tone", "Preferred tone"),
]
REQUIRED = ("id", "first_name")


def user_message(row, extra_cols):
    lines = ["Write the email for this customer."]
    for col, label in KNOWN:
        if row.get(col):
            lines.append(f"{label}: {row[col]}")
    for col in extra_cols:
        if row.get(col):
            label = col.replace("_", " ").strip().capitalize()
            lines.append(f"{label}: {row[col]}")
    return "\n".join(lines)


def read_rows(path):
    """Return (rows, extra columns); exit 1 with a message on bad input."""
    try:
        f = sys.stdin if path == "-" else \
            open(path, encoding="utf-8-sig", newline="")
    except OSError as e:
        sys.exit(f"make-batch.py: {path}: {e.strerror}")
    with f:
        try:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                sys.exit(f"make-batch.py: {path}: missing column(s): "
                         + ", ".join(missing))
            if len(set(header)) != len(header):
                sys.exit(f"make-batch.py: {path}: repeated column name")
            rows, seen = [], {}
            for row in reader:
                line = reader.line_num
                if None in row:
                    sys.exit(f"make-batch.py: {path}:{line}: "
                             "more fields than columns")
                row = {k: (v or "").strip() for k, v in row.items()}
                if not any(row.values()):
                    continue  # a blank line
                for c in REQUIRED:
                    if not row[c]:
                        sys.exit(f"make-batch.py: {path}:{line}: empty {c}")
                if row["id"] in seen:
                    sys.exit(f"make-batch.py: {path}:{line}: id "
                             f"{row['id']!r} already used on line "
                             f"{seen[row['id']]}")
                seen[row["id"]] = line
                rows.append(row)
        except (csv.Error, UnicodeDecodeError) as e:
            sys.exit(f"make-batch.py: {path}: {e}")
    known = {c for c, _ in KNOWN} | {"id"}
    return rows, [c for c in header if c not in known]


def request_line(row, extra_cols, model):
    req = {
        "custom_id": f"email-{row['id']}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": model,
            "temperature": 0.7,
            "messages": [
                {"role": "system", "content": BRAND_GUIDELINES},
                {"role": "user", "content": user_message(row, extra_cols)},
            ],
        },
    }
    return json.dumps(req, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_atomic(path, data):
    """Write data to a hidden temporary file beside path, fsync, rename."""
    if path == "-":
        sys.stdout.write(data)
        return
    d, base = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under | head
    p = argparse.ArgumentParser(
        prog="make-batch.py",
        usage="%(prog)s CSV [-o FILE] [--model MODEL]",
        description="Turn a customer CSV into an OpenAI Batch file asking "
                    "for one short personalised email per customer.",
        epilog="Example: %(prog)s customers.csv -o emails.jsonl && "
               "spoolctl submit emails.jsonl")
    p.add_argument("csv", metavar="CSV",
                   help="customer file with a header row (id, first_name, "
                        "segment, city, last_purchase, preferred_tone); "
                        "'-' reads standard input")
    p.add_argument("-o", default="emails.jsonl", metavar="FILE",
                   help="output file, '-' for stdout (default emails.jsonl); "
                        "the batch id is its name without .jsonl")
    p.add_argument("--model", default="gpt-4o-mini",
                   help="model name (default gpt-4o-mini)")
    a = p.parse_args()

    rows, extra = read_rows(a.csv)
    if not rows:
        sys.exit(f"make-batch.py: {a.csv}: no customers")
    write_atomic(a.o, "".join(request_line(r, extra, a.model) for r in rows))
    if a.o != "-":
        n = len(rows)
        print(f"make-batch.py: wrote {n} request{'s' if n != 1 else ''}"
              f" to {a.o}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
