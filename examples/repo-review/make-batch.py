#!/usr/bin/env python3
# make-batch.py - turn the last N commits of a git repository into a batch of
# code-review requests (OpenAI Batch input, one line per commit) for spoold.
#
# For each of the last N commits reachable from REV (default HEAD; merge
# commits are skipped, as their combined diff is usually empty), the request
# holds the full commit message and the output of
#   git show --stat --patch --format= --no-color --no-ext-diff --no-textconv
# cut to --max-bytes (default 12000) at a line boundary, with a note saying
# how much was left out. The system prompt asks for a review in Markdown
# with three sections: bugs, risks, suggestions. custom_id is
# "commit-<12-digit abbreviated sha>".
#
# Beside the batch FILE.jsonl it writes the sidecar FILE.commits.tsv
# (custom_id, full sha, subject; tab-separated, with a header row), which
# to-issues.py uses to title its issue drafts. The sidecar is written first,
# then the batch; each goes to a hidden temporary name and is renamed. Do
# not write the sidecar into a spool's new/ directory: spoold would reject it
# as an unknown drop. Write both elsewhere and submit the .jsonl (the script
# refuses a new/ directory unless --tsv puts the sidecar somewhere else).
#
# git runs with --no-ext-diff and --no-textconv, so a repository's own
# configuration cannot make this script run its diff drivers. No shell is
# involved. Exit status: 0 on success, 1 on errors (not a repository, no
# commits, unwritable output), 2 on usage errors. Standard library only.

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile

SYSTEM_PROMPT = """\
You are a senior software engineer reviewing one commit. You get the commit \
message and its diff (git show --stat --patch), possibly truncated.

Write the review in Markdown with exactly these three sections:

## Bugs
Definite defects the commit introduces or leaves in the changed code: wrong \
logic, off-by-one errors, unhandled errors, resource leaks, races.

## Risks
Things that may go wrong: security, performance, compatibility, missing \
tests, unclear behaviour, a commit message that does not match the change.

## Suggestions
Concrete improvements, most important first.

Rules: cite the file and, where you can, the line or hunk for every point. \
Do not repeat the diff back. Do not invent code you cannot see. Write "None \
found." in a section with nothing to report. If the diff was truncated, say \
which files you could not review."""


class GitError(Exception):
    pass


def git(repo, *args):
    """Run git in repo and return its stdout as bytes."""
    cmd = ["git", "-C", repo, "-c", "core.quotepath=off", *args]
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise GitError("git is not installed")
    if r.returncode != 0:
        msg = r.stderr.decode("utf-8", "replace").strip()
        raise GitError(msg or f"git {args[0]} failed")
    return r.stdout


def truncate(raw, limit):
    """Cut raw (bytes) to at most limit bytes, at a line end when one is in
    the second half; return (text, bytes kept)."""
    if len(raw) <= limit:
        return raw.decode("utf-8", "replace"), len(raw)
    cut = raw[:limit]
    nl = cut.rfind(b"\n")
    if nl >= limit // 2:
        cut = cut[:nl + 1]
    # "ignore" drops a multibyte character the cut split in two.
    return cut.decode("utf-8", "ignore"), len(cut)


def fence_for(text):
    """A Markdown code fence longer than any backtick run in text."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def commit_info(repo, sha, max_bytes):
    meta = git(repo, "show", "-s", "--abbrev=12",
               "--format=%H%x00%h%x00%s%x00%B", sha)
    full, short, subject, message = \
        meta.decode("utf-8", "replace").split("\0", 3)
    raw = git(repo, "show", "--stat", "--patch", "--format=", "--no-color",
              "--no-ext-diff", "--no-textconv", "-M", sha).lstrip(b"\n")
    diff, kept = truncate(raw, max_bytes)
    if kept < len(raw):
        diff += (f"\n[diff truncated: {kept} of {len(raw)} bytes shown; "
                 "the rest of the change is not included]\n")
    if not raw.strip():
        diff = "(no changes: empty commit)\n"
    return {"sha": full, "short": short, "subject": subject.strip(),
            "message": message.strip(), "diff": diff}


def user_message(repo_name, c):
    fence = fence_for(c["diff"])
    return (f"Review this commit of the repository {repo_name}.\n\n"
            f"Commit: {c['sha']}\n\n"
            f"Commit message:\n{c['message'] or '(empty)'}\n\n"
            f"Changes (git show --stat --patch):\n"
            f"{fence}diff\n{c['diff'].rstrip(chr(10))}\n{fence}\n")


def request_line(repo_name, c, model):
    req = {
        "custom_id": f"commit-{c['short']}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": model,
            "temperature": 0.2,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": user_message(repo_name, c)},
            ],
        },
    }
    return json.dumps(req, ensure_ascii=False, separators=(",", ":")) + "\n"


def tsv_field(s):
    return re.sub(r"[\t\r\n]+", " ", s).strip()


def write_atomic(path, data):
    """Write data to a hidden temporary file beside path, fsync, rename."""
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


def looks_like_spool_new(directory):
    d = os.path.abspath(directory)
    parent = os.path.dirname(d)
    return os.path.basename(d) == "new" and any(
        os.path.isdir(os.path.join(parent, s))
        for s in ("processing", "results", "done"))


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under | head
    p = argparse.ArgumentParser(
        prog="make-batch.py",
        usage="%(prog)s REPO [-n N] [-o FILE] [--rev REV] [--max-bytes B] "
              "[--model MODEL] [--tsv FILE]",
        description="Turn the last N commits of a git repository into an "
                    "OpenAI Batch file of code-review requests, plus a "
                    "sidecar FILE.commits.tsv for to-issues.py.",
        epilog="Example: %(prog)s ~/src/project -n 20 -o review.jsonl && "
               "spoolctl submit review.jsonl")
    p.add_argument("repo", metavar="REPO", help="path of a git repository")
    p.add_argument("-n", type=int, default=10, metavar="N",
                   help="number of commits (default 10)")
    p.add_argument("-o", metavar="FILE",
                   help="output file, '-' for stdout (default "
                        "review-REPONAME.jsonl); the batch id is its name "
                        "without .jsonl")
    p.add_argument("--rev", default="HEAD",
                   help="start from this revision (default HEAD)")
    p.add_argument("--max-bytes", type=int, default=12000, metavar="B",
                   help="largest diff per commit, in bytes (default 12000)")
    p.add_argument("--model", default="gpt-4o-mini",
                   help="model name (default gpt-4o-mini)")
    p.add_argument("--tsv", metavar="FILE",
                   help="where to write the sidecar (default: the output "
                        "name with .jsonl replaced by .commits.tsv)")
    a = p.parse_args()
    if a.n < 1:
        p.error("-n must be at least 1")
    if a.max_bytes < 1000:
        p.error("--max-bytes must be at least 1000")
    if a.rev.startswith("-"):
        p.error("--rev must not start with '-'")

    try:
        top = git(a.repo, "rev-parse", "--show-toplevel") \
            .decode("utf-8", "replace").strip()
        repo_name = os.path.basename(top) or "repo"
        if a.rev == "HEAD" and subprocess.run(
                ["git", "-C", a.repo, "rev-parse", "--verify", "-q", "HEAD"],
                stdout=subprocess.DEVNULL).returncode != 0:
            raise GitError("the repository has no commits yet")
        shas = git(a.repo, "rev-list", "--no-merges", f"--max-count={a.n}",
                   a.rev, "--").decode().split()
        if not shas:
            raise GitError(f"no non-merge commits reachable from {a.rev}")
        commits = [commit_info(a.repo, s, a.max_bytes) for s in shas]
    except GitError as e:
        print(f"make-batch.py: {a.repo}: {e}", file=sys.stderr)
        return 1

    out = a.o or "review-" + re.sub(r"[^A-Za-z0-9._-]", "_",
                                     repo_name).lstrip(".") + ".jsonl"
    if a.tsv:
        tsv = a.tsv
    elif out == "-":
        tsv = None
        print("make-batch.py: writing to stdout: no sidecar (use --tsv FILE "
              "to get one)", file=sys.stderr)
    else:
        tsv = (out[:-len(".jsonl")] if out.endswith(".jsonl") else out) \
            + ".commits.tsv"
    if tsv and looks_like_spool_new(os.path.dirname(os.path.abspath(tsv))):
        print(f"make-batch.py: {tsv}: spoold would reject the sidecar in a "
              "spool's new/ directory; write the batch elsewhere and submit "
              "it, or put the sidecar elsewhere with --tsv FILE",
              file=sys.stderr)
        return 1

    lines = [request_line(repo_name, c, a.model) for c in commits]
    rows = ["custom_id\tcommit\tsubject\n"] + [
        f"commit-{c['short']}\t{c['sha']}\t{tsv_field(c['subject'])}\n"
        for c in commits]
    try:
        if tsv:
            write_atomic(tsv, "".join(rows))
        if out == "-":
            sys.stdout.write("".join(lines))
        else:
            write_atomic(out, "".join(lines))
    except OSError as e:
        print(f"make-batch.py: {e.filename}: {e.strerror}", file=sys.stderr)
        return 1
    if out != "-":
        n = len(lines)
        print(f"make-batch.py: wrote {n} request{'s' if n != 1 else ''}"
              f" to {out}"
              + (f" and the commit list to {tsv}" if tsv else ""),
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
