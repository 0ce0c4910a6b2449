#!/usr/bin/env python3
# render.py - write one .txt email per customer from a spoold output file.
#
# Reads SPOOL/results/BATCH/output.jsonl of the marketing example (OpenAI
# Batch output lines whose response.body is a chat.completion) and writes
# choices[0].message.content of each line to OUTDIR/CUSTOM_ID.txt, e.g.
# OUTDIR/email-1001.txt. The file name is the custom_id with every character
# other than letters, digits, ".", "_" and "-" replaced by "_" (never a path,
# never a dot file). Lines without a successful reply (no 200 response, a
# refusal, empty content) are reported on stderr and skipped: the failed
# requests themselves are in errors.jsonl.
#
# Each file is written to a hidden temporary name and renamed, so a reader
# never sees half an email. Running it again overwrites the files.
# Exit status: 0 if every line gave an email, 1 if some did not or a file
# could not be read or written, 2 on usage errors. Standard library only.

import argparse
import json
import os
import re
import sys
import tempfile


def safe_name(custom_id):
    name = re.sub(r"[^A-Za-z0-9._-]", "_", custom_id)[:200]
    if not name or name.startswith("."):
        name = "_" + name
    return name


def email_text(rec):
    """Return (text, None) or (None, reason) for one output record."""
    resp = rec.get("response")
    if not isinstance(resp, dict) or resp.get("status_code") != 200:
        return None, "no successful response"
    try:
        msg = resp["body"]["choices"][0]["message"]
        if msg.get("refusal"):
            return None, "refusal: " + str(msg["refusal"])[:60]
        content = msg.get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        return None, "no choices[0].message in the body"
    if not isinstance(content, str) or not content.strip():
        return None, "empty content"
    return content.strip() + "\n", None


def write_atomic(path, text):
    d, base = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
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
    p = argparse.ArgumentParser(
        prog="render.py",
        usage="%(prog)s OUTPUT_JSONL OUTDIR",
        description="Write one .txt email per custom_id from the output "
                    "file of the marketing example's batch.",
        epilog="Example: %(prog)s SPOOL/results/emails/output.jsonl "
               "mail-out/")
    p.add_argument("output", metavar="OUTPUT_JSONL",
                   help="output.jsonl of the batch; '-' reads standard input")
    p.add_argument("outdir", metavar="OUTDIR",
                   help="directory for the .txt files (created if missing)")
    a = p.parse_args()

    try:
        f = sys.stdin if a.output == "-" else \
            open(a.output, encoding="utf-8")
        os.makedirs(a.outdir, exist_ok=True)
    except OSError as e:
        print(f"render.py: {e.filename}: {e.strerror}", file=sys.stderr)
        return 1

    written, skipped, names = 0, 0, {}
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{a.output}:{lineno}"
            try:
                rec = json.loads(line)
                cid = rec["custom_id"]
                if not isinstance(cid, str):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                print(f"render.py: {where}: not an output record",
                      file=sys.stderr)
                skipped += 1
                continue
            text, why = email_text(rec)
            if text is None:
                print(f"render.py: {where}: {cid}: {why}", file=sys.stderr)
                skipped += 1
                continue
            name = safe_name(cid)
            if name in names and names[name] != cid:
                print(f"render.py: {where}: {cid}: file name {name}.txt "
                      f"already used by {names[name]}", file=sys.stderr)
                skipped += 1
                continue
            names[name] = cid
            try:
                write_atomic(os.path.join(a.outdir, name + ".txt"), text)
            except OSError as e:
                print(f"render.py: {e.filename or a.outdir}: {e.strerror}",
                      file=sys.stderr)
                return 1
            written += 1

    print(f"render.py: wrote {written} email(s) to {a.outdir}"
          + (f", skipped {skipped} line(s)" if skipped else ""),
          file=sys.stderr)
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
