#!/usr/bin/env python3
# pick-fortunes.py - choose the texts of the sentiment example (fortune.jsonl)
# from the fortune databases of the Debian packages fortunes / fortunes-min.
#
# Each selected fortune becomes one JSON record {"id": "CATEGORY-NNNN",
# "text": "..."}. `spoolctl build` then turns the records into the batch,
# with template.json (the request: gpt-4o-mini, a strict json_schema
# response_format) and the record's text in place of {{text}}:
#
#   spoolctl build -t template.json --key id -o posts.jsonl fortune.jsonl
#
# The output is deterministic (same fortune files in, same bytes out):
#   1. Read the category files (default: CATEGORIES below) in sorted order and
#      split them into entries at lines holding only "%".
#   2. Clean each entry: undo overstriking (x BS x, _ BS x), collapse all
#      whitespace to single spaces. Keep it only if it is 20..MAX characters
#      long, reads as prose, matches no word of BLOCKLIST, and is not a
#      duplicate of an entry already kept.
#   3. Order each category's entries by the SHA-256 of their text (a stable
#      shuffle: the files themselves are often alphabetical), then take one
#      entry per category in turn (round robin, categories in sorted order)
#      until N are taken. A smaller -n thus picks a subset of a larger one.
#   4. Write them sorted by category and entry number.
# The id is CATEGORY-NNNN, NNNN the entry's position in its file counting
# from 0 (the order of strfile's .dat index), so every id is unique and
# leads back to its text; build makes it the custom_id fortune-ID#1/1.
#
# The file is written to a hidden temporary name beside the target and then
# renamed. Standard library only.

import argparse
import hashlib
import json
import os
import re
import signal
import sys
import tempfile

FORTUNE_DIR = "/usr/share/games/fortunes"

# Topic files of the inoffensive collection. The offensive ones live in off/
# (package fortunes-off) and are never read; of the rest we skip the files
# that are mostly ASCII art, jokes about groups of people (ethnic,
# men-women), politics, drugs or religion, and the ones that are not prose.
CATEGORIES = [
    "computers", "education", "food", "fortunes", "love", "people",
    "pets", "science", "sports", "wisdom", "work",
]

# A second net over the chosen files: an entry containing any of these words
# (case-insensitive, word prefix match) is left out. Debian already moved what
# its maintainers judged offensive to off/; this removes sex, violence,
# religion, politics, drink and drugs, and insults, which make poor demo data.
BLOCKLIST = [
    # words ending in "*" match as a prefix, the others as whole words (with
    # an optional plural "s")
    "sex*", "naked", "nude*", "breast*", "bosom*", "orgasm*", "virgin*",
    "prostitut*", "whore*", "harlot", "mistress*", "adulter*", "seduc*",
    "lust", "lusty", "kiss*", "erotic*", "porn*", "homosexual*", "gay",
    "lesbian*", "bitch*", "bastard*", "damn*", "shit*", "fuck*", "crap*",
    "ass", "asses", "arse", "piss*", "hell", "idiot*", "moron*", "ugly",
    "fat", "kill*", "murder*", "suicid*", "rape*", "raping", "gun",
    "shoot*", "shot", "bomb*", "war", "wars", "weapon*", "blood*", "die",
    "died", "dying", "dead", "death*", "corpse*", "grave", "hanged",
    "tortur*", "violen*", "beat", "beaten", "beating",
    "punch*", "slap*", "god*", "jesus", "christ*", "church*", "bible*",
    "religio*", "pope*", "priest*", "pray*", "allah", "muslim*", "islam*",
    "jew*", "catholic*", "protestant*", "atheis*", "satan*", "devil*", "sin",
    "sinner*", "sinful", "heaven*", "nazi*", "hitler*", "republican*",
    "democrat*", "president*", "congress*", "senat*", "politic*",
    "communis*", "socialis*", "government*", "nixon", "reagan", "drunk*",
    "whisk*", "vodka", "gin", "booze*", "alcohol*", "liquor*", "beer*",
    "wine*", "drug*", "marijuana", "cocaine", "heroin", "stoned", "wife",
    "wives", "husband*", "women", "woman", "girl*", "blonde*", "negro*",
    "indian*", "chinese", "japanese", "mexican*", "polish", "irish*",
    "french*", "german*", "russian*", "italian*", "arab*", "ethnic*",
    "mexic*", "rice burner*", "orgy", "orgies", "chastity", "filth*",
    "cheerleader*", "hail mary", "hail marys", "eichmann",
    "concentration camp*", "end it all",
]
BLOCK_RE = re.compile(
    r"\b(?:" + "|".join(re.escape(w[:-1]) + r"\w*" if w.endswith("*")
                        else re.escape(w) + r"s?\b" for w in BLOCKLIST) + ")",
    re.IGNORECASE)

def overstrike(line):
    """Render a line that uses backspace overstriking (bold, underline) as the
    characters a terminal would show: each BS moves back one column and the
    next character overwrites it, a letter winning over "_"."""
    cells, col = [], 0
    for ch in line:
        if ch == "\b":
            col = max(col - 1, 0)
            continue
        if col < len(cells):
            if cells[col] in ("_", " ") or ch not in ("_", " "):
                cells[col] = ch
        else:
            cells.append(ch)
        col += 1
    return "".join(cells)


def clean(entry):
    text = " ".join(overstrike(l) for l in entry)
    return " ".join(text.split())


def prose_like(text):
    """Reject ASCII art, tables, code and similar: prose is mostly letters and
    spaces, and has no long runs of punctuation."""
    if re.search(r"[_=*#|/\\~^<>-]{4,}", text):
        return False
    if not re.match(r"[\w\"'(]", text):
        return False
    letters = sum(c.isalpha() or c.isspace() for c in text)
    return letters >= 0.85 * len(text)


def read_entries(path):
    """Yield (index, lines) for every entry of a fortune file."""
    with open(path, encoding="utf-8", errors="strict") as f:
        lines = f.read().split("\n")
    entry, index = [], 0
    for line in lines:
        if line == "%":
            yield index, entry
            entry, index = [], index + 1
        else:
            entry.append(line)
    if any(l.strip() for l in entry):
        yield index, entry


def candidates(fortune_dir, categories, max_chars):
    seen = set()
    per_cat = {}
    for cat in sorted(categories):
        path = os.path.join(fortune_dir, cat)
        kept = []
        try:
            entries = list(read_entries(path))
        except (OSError, UnicodeDecodeError) as e:
            sys.exit(f"pick-fortunes.py: cannot read {path}: {e}")
        for index, entry in entries:
            text = clean(entry)
            if not 20 <= len(text) <= max_chars:
                continue
            if not prose_like(text) or BLOCK_RE.search(text):
                continue
            key = re.sub(r"\W+", " ", text.lower()).strip()
            if key in seen:
                continue
            seen.add(key)
            digest = hashlib.sha256(f"{cat}\0{text}".encode()).hexdigest()
            kept.append((digest, cat, index, text))
        kept.sort()
        per_cat[cat] = kept
    return per_cat


def select(per_cat, n):
    chosen, round_no = [], 0
    cats = sorted(per_cat)
    while len(chosen) < n:
        progressed = False
        for cat in cats:
            if round_no < len(per_cat[cat]) and len(chosen) < n:
                chosen.append(per_cat[cat][round_no])
                progressed = True
        if not progressed:
            break
        round_no += 1
    return sorted(chosen, key=lambda c: (c[1], c[2]))


def record_line(cat, index, text):
    rec = {"id": f"{cat}-{index:04d}", "text": text}
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n"


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
        prog="pick-fortunes.py",
        usage="%(prog)s [-n N] [-o FILE] [-d DIR] [--max-chars M] "
              "[--categories LIST]",
        description="Choose short texts from the fortune databases for "
                    "the sentiment example, as JSON records "
                    "(default: 300 into fortune.jsonl).",
        epilog="Example: %(prog)s -n 300 && spoolctl build -t "
               "template.json --key id -o posts.jsonl fortune.jsonl")
    p.add_argument("-n", type=int, default=300, metavar="N",
                   help="number of texts (default 300)")
    p.add_argument("-o", default="fortune.jsonl", metavar="FILE",
                   help="output file, '-' for stdout (default "
                        "fortune.jsonl)")
    p.add_argument("-d", default=FORTUNE_DIR, metavar="DIR",
                   help=f"fortune directory (default {FORTUNE_DIR})")
    p.add_argument("--max-chars", type=int, default=280, metavar="M",
                   help="longest text kept, after collapsing whitespace "
                        "(default 280)")
    p.add_argument("--categories", metavar="LIST",
                   default=",".join(CATEGORIES),
                   help="comma-separated fortune files to read "
                        "(default %(default)s)")
    a = p.parse_args()
    if a.n < 1:
        p.error("-n must be at least 1")
    cats = [c for c in a.categories.split(",") if c]
    for c in cats:
        if "/" in c or c.startswith(".") or c == "off":
            p.error(f"not a fortune category: {c!r}")

    per_cat = candidates(a.d, cats, a.max_chars)
    chosen = select(per_cat, a.n)
    if len(chosen) < a.n:
        print(f"pick-fortunes.py: only {len(chosen)} usable fortunes, "
              f"wanted {a.n}", file=sys.stderr)
    data = "".join(record_line(c, i, t) for _, c, i, t in chosen)
    write_atomic(a.o, data)
    if a.o != "-":
        n = len(chosen)
        print(f"pick-fortunes.py: wrote {n} text{'s' if n != 1 else ''}"
              f" to {a.o}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
