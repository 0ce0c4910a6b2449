#!/usr/bin/env python3
# to-issues.py - turn the results of a repo-review batch into one Markdown
# issue draft per commit.
#
# Reads SPOOL/results/BATCH/output.jsonl (OpenAI Batch output lines whose
# response.body is a chat.completion) and writes OUTDIR/commit-SHORT.md for
# each successful line:
#
#   # Review: <commit subject> (<short sha>)
#
#   Commit `<full sha>`, reviewed by <model> (spoold batch BATCH, request
#   commit-SHORT). An automated review: check each point before acting on it.
#
#   <the review text>
#
# The subject and full sha come from the sidecar BATCH.commits.tsv that
# make-batch.py wrote beside the batch. Without --commits it is looked for as
# BATCH.commits.tsv (BATCH = the results directory's name, or the file name
# without .jsonl; a ".2"-style suffix spoold adds to a reused name is also
# tried without it) in the current directory and beside OUTPUT_JSONL. If it
# is not found, titles fall back to the short sha.
#
# The first line of each draft is the issue title and the rest is the body,
# ready for e.g. `gh issue create --title ... --body-file ...` (README.md).
# Lines without a usable review are reported on stderr and skipped.
# Exit status: 0 if every line gave a draft, 1 if some did not or a file
# could not be read or written, 2 on usage errors. Standard library only.

import argparse
import json
import os
import re
import sys
import tempfile


def batch_id(output_path):
    path = os.path.abspath(output_path)
    base = os.path.basename(path)
    if base in ("output.jsonl", "errors.jsonl"):
        return os.path.basename(os.path.dirname(path))
    return base[:-len(".jsonl")] if base.endswith(".jsonl") else base


def find_sidecar(output_path, batch):
    names = [batch + ".commits.tsv"]
    m = re.fullmatch(r"(.+)\.\d+", batch)
    if m:
        names.append(m.group(1) + ".commits.tsv")
    dirs = ["."]
    if output_path != "-":
        dirs.append(os.path.dirname(os.path.abspath(output_path)))
    for d in dirs:
        for n in names:
            p = os.path.join(d, n)
            if os.path.isfile(p):
                return p
    return None


def read_sidecar(path):
    """Map custom_id -> (full sha, subject)."""
    commits = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 3 or fields[0] == "custom_id":
                continue
            commits[fields[0]] = (fields[1], "\t".join(fields[2:]))
    return commits


def review_text(rec):
    """Return (text, model, None) or (None, None, reason)."""
    resp = rec.get("response")
    if not isinstance(resp, dict) or resp.get("status_code") != 200:
        return None, None, "no successful response"
    try:
        body = resp["body"]
        msg = body["choices"][0]["message"]
        if msg.get("refusal"):
            return None, None, "refusal: " + str(msg["refusal"])[:60]
        content = msg.get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        return None, None, "no choices[0].message in the body"
    if not isinstance(content, str) or not content.strip():
        return None, None, "empty content"
    model = body.get("model") if isinstance(body.get("model"), str) else None
    return content.strip(), model, None


def safe_name(custom_id):
    name = re.sub(r"[^A-Za-z0-9._-]", "_", custom_id)[:200]
    if not name or name.startswith("."):
        name = "_" + name
    return name


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


def draft(cid, commits, batch, review, model):
    short = cid[len("commit-"):] if cid.startswith("commit-") else cid
    sha, subject = commits.get(cid, (None, None))
    title = f"Review: {subject} ({short})" if subject \
        else f"Review of commit {short}"
    title = " ".join(title.split())
    who = f"reviewed by {model}" if model else "reviewed by a model"
    ref = f"`{sha}`" if sha else f"`{short}`"
    return (f"# {title}\n\n"
            f"Commit {ref}, {who} (spoold batch `{batch}`, request "
            f"`{cid}`). An automated review: check each point before acting "
            f"on it.\n\n{review}\n")


def main():
    p = argparse.ArgumentParser(
        prog="to-issues.py",
        usage="%(prog)s [--commits TSV] [--batch ID] OUTPUT_JSONL OUTDIR",
        description="Write one Markdown issue draft per commit from the "
                    "output file of a repo-review batch.",
        epilog="Example: %(prog)s SPOOL/results/review-myproject/output.jsonl"
               " issues/")
    p.add_argument("output", metavar="OUTPUT_JSONL",
                   help="output.jsonl of the batch; '-' reads standard input")
    p.add_argument("outdir", metavar="OUTDIR",
                   help="directory for the .md drafts (created if missing)")
    p.add_argument("--commits", metavar="TSV",
                   help="the sidecar make-batch.py wrote (default: "
                        "BATCH.commits.tsv, see the header of this script)")
    p.add_argument("--batch", metavar="ID",
                   help="batch id to name in the drafts (default: taken "
                        "from the OUTPUT_JSONL path)")
    a = p.parse_args()

    batch = a.batch or (batch_id(a.output) if a.output != "-" else "stdin")
    sidecar = a.commits or find_sidecar(a.output, batch)
    commits = {}
    if sidecar:
        try:
            commits = read_sidecar(sidecar)
        except (OSError, UnicodeDecodeError) as e:
            print(f"to-issues.py: {sidecar}: {e}", file=sys.stderr)
            return 1
    else:
        print(f"to-issues.py: no {batch}.commits.tsv found (use --commits "
              "TSV): titles will use the short sha only", file=sys.stderr)

    try:
        f = sys.stdin if a.output == "-" else \
            open(a.output, encoding="utf-8")
        os.makedirs(a.outdir, exist_ok=True)
    except OSError as e:
        print(f"to-issues.py: {e.filename}: {e.strerror}", file=sys.stderr)
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
                print(f"to-issues.py: {where}: not an output record",
                      file=sys.stderr)
                skipped += 1
                continue
            review, model, why = review_text(rec)
            if review is None:
                print(f"to-issues.py: {where}: {cid}: {why}", file=sys.stderr)
                skipped += 1
                continue
            if commits and cid not in commits:
                print(f"to-issues.py: {where}: {cid} is not in {sidecar}",
                      file=sys.stderr)
            name = safe_name(cid)
            if name in names and names[name] != cid:
                print(f"to-issues.py: {where}: {cid}: file name {name}.md "
                      f"already used by {names[name]}", file=sys.stderr)
                skipped += 1
                continue
            names[name] = cid
            try:
                write_atomic(os.path.join(a.outdir, name + ".md"),
                             draft(cid, commits, batch, review, model))
            except OSError as e:
                print(f"to-issues.py: {e.filename or a.outdir}: "
                      f"{e.strerror}", file=sys.stderr)
                return 1
            written += 1

    print(f"to-issues.py: wrote {written} draft(s) to {a.outdir}"
          + (f", skipped {skipped} line(s)" if skipped else ""),
          file=sys.stderr)
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
