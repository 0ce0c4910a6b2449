#!/usr/bin/env python3
"""Helpers for tests/bench/run.sh (Python 3 standard library only).

  gen-jsonl N FILE            N OpenAI Batch request lines (custom_id rN)
  gen-bodies N FILE           N request bodies, one JSON object a line
  gen-curlcfg N URL K PREFIX  N transfers for `curl --parallel -K`, split
                              into K files PREFIX.0 .. PREFIX.K-1
  gen-wrk-lua FILE            a wrk script that POSTs one request body
  measure [opts] -- CMD...    run CMD, measure it, write a JSON record
  drops [opts]                scenario 4: single-file drops, rename->claim
  record [k=v ...]            append one result record (JSON) to a file
  report RESULTS OUT.md       the final table and the PASS/MISS lines

measure samples, every --interval seconds, the sum of the resident set
sizes (/proc/PID/statm) of CMD and all its descendants and keeps the
largest sum ("peak RSS of the whole process tree"; shared pages such as
libc are counted once per process, as ps would).  CPU seconds are the
user+sys of CMD and every descendant it waited for (wait4 rusage), i.e.
what /usr/bin/time -f '%U %S' prints.
"""

import ctypes
import glob
import json
import os
import select
import signal
import struct
import sys
import time

PAGE = os.sysconf("SC_PAGE_SIZE")
CLK = os.sysconf("SC_CLK_TCK")
URL_PATH = "/v1/chat/completions"


def body(i):
    return {"model": "m",
            "messages": [{"role": "user", "content": "hi %d" % i}]}


def dumps(o):
    return json.dumps(o, separators=(",", ":"))


def gen_jsonl(n, path, prefix="r"):
    tmp = path + ".gen"
    with open(tmp, "w") as f:
        chunk = []
        for i in range(n):
            chunk.append(dumps({"custom_id": "%s%d" % (prefix, i),
                                "method": "POST", "url": URL_PATH,
                                "body": body(i)}))
            if len(chunk) == 10000:
                f.write("\n".join(chunk) + "\n")
                chunk = []
        if chunk:
            f.write("\n".join(chunk) + "\n")
    os.rename(tmp, path)


def gen_loose(n, dirpath):
    """n loose request files (bare bodies), as a spool left full."""
    for i in range(n):
        with open(os.path.join(dirpath, "q%07d.json" % i), "w") as f:
            f.write(dumps(body(i)) + "\n")


def gen_bodies(n, path):
    with open(path, "w") as f:
        for i in range(n):
            f.write(dumps(body(i)) + "\n")


def cfg_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def gen_curlcfg(n, url, k, prefix):
    files = [open("%s.%d" % (prefix, j), "w") for j in range(k)]
    u = cfg_quote(url + URL_PATH)
    first = [True] * k
    for i in range(n):
        j = i * k // n            # contiguous slices
        f = files[j]
        # "next" only between transfers: a trailing one is an empty
        # transfer, a "no URL" error that aborts the others.
        f.write("%surl = %s\nheader = \"Content-Type: application/json\"\n"
                "data = %s\noutput = \"/dev/null\"\nsilent\n"
                "write-out = \"%%{http_code}\\n\"\n"
                % ("" if first[j] else "next\n", u,
                   cfg_quote(dumps(body(i)))))
        first[j] = False
    for f in files:
        f.close()


def gen_wrk_lua(path):
    b = dumps(body(0))
    with open(path, "w") as f:
        f.write('wrk.method = "POST"\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
                "wrk.body = %s\n" % json.dumps(b))


# ---------------------------------------------------------------- measure

def children(pid):
    out = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for t in tids:
        try:
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out.extend(int(x) for x in f.read().split())
        except (OSError, ValueError):
            pass
    return out


def tree(pid):
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(children(p))
    return seen


def rss_kb(pid):
    try:
        with open("/proc/%d/statm" % pid) as f:
            return int(f.read().split()[1]) * PAGE // 1024
    except (OSError, ValueError, IndexError):
        return 0


def cpu_s(pid):
    """utime+stime of one process (self only), seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except (OSError, ValueError, IndexError):
        return 0.0


def is_ready(ready):
    try:
        with open(ready[0], errors="replace") as f:
            return ready[1] in f.read()
    except OSError:
        return False


def measure(argv):
    out, until, term_on, drop, also = None, None, None, None, None
    ready, timeout, warm = None, 3600.0, None
    first, t_first = None, None
    interval = 0.05
    while argv and argv[0] != "--":
        a = argv.pop(0)
        if a == "--out":
            out = argv.pop(0)
        elif a == "--until":        # wall time = until this file appears
            until = argv.pop(0)
        elif a == "--term-on":      # SIGTERM the command when this appears
            term_on = argv.pop(0)
        elif a == "--drop":         # rename SRC DST just before the start
            drop = (argv.pop(0), argv.pop(0))
        elif a == "--ready":        # drop only once FILE contains STRING
            ready = (argv.pop(0), argv.pop(0))
        elif a == "--warm":         # once ready, rename SRC DST first and
            # wait for FILE (a batch that opens the connections)
            warm = (argv.pop(0), argv.pop(0), argv.pop(0))
        elif a == "--also-pid":     # report this process's CPU delta too
            also = int(argv.pop(0))
        elif a == "--timeout":      # SIGTERM, then SIGKILL, after this
            timeout = float(argv.pop(0))
        elif a == "--interval":
            interval = float(argv.pop(0))
        elif a == "--first":        # note when this glob first matches
            first = argv.pop(0)
        else:
            sys.exit("measure: unknown option " + a)
    cmd = argv[1:]
    also0 = cpu_s(also) if also else 0.0
    t0 = time.monotonic()
    if drop and not ready:
        os.rename(drop[0], drop[1])
        drop = None
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    peak, t_until, termed, t_kill = 0, None, False, None
    t_start = t0
    tick, last_sample = 0.005, 0.0
    status = ru = None
    while True:
        r = os.wait4(pid, os.WNOHANG)
        if r[0] == pid:
            t_end = time.monotonic()
            status, ru = r[1], r[2]
            break
        now = time.monotonic()
        if now - t0 > timeout and not termed:
            print("measure: timeout, stopping %s" % cmd[0], file=sys.stderr)
            os.kill(pid, signal.SIGTERM)
            termed = True
            t_kill = now + 10
        if termed and t_kill and now > t_kill:
            os.kill(pid, signal.SIGKILL)
            t_kill = None
        if drop and warm and (is_ready(ready) or now - t0 > 30):
            os.rename(warm[0], warm[1])
            while not os.path.exists(warm[2]) and now - t0 < timeout:
                time.sleep(tick)
                now = time.monotonic()
            warm = None
            continue
        if drop and (is_ready(ready) or now - t0 > 30):
            time.sleep(0.2)         # let it settle into its loop
            t0 = time.monotonic()
            os.rename(drop[0], drop[1])
            drop = None
            t_start = t0
            continue
        if now - last_sample >= interval:
            last_sample = now
            s = sum(rss_kb(p) for p in tree(pid))
            if s > peak:
                peak = s
        if until and t_until is None and os.path.exists(until):
            t_until = time.monotonic()
        if first and t_first is None and glob.glob(first):
            t_first = time.monotonic()
        if term_on and not termed and os.path.exists(term_on):
            os.kill(pid, signal.SIGTERM)
            termed = True
        time.sleep(tick)
    if until and t_until is None and os.path.exists(until):
        t_until = t_end
    rc = os.waitstatus_to_exitcode(status)
    rec = {
        "rc": rc,
        "wall_exit": round(t_end - t_start, 4),
        "wall": round((t_until if t_until else t_end) - t0, 4),
        "until_seen": bool(t_until) if until else None,
        "user": round(ru.ru_utime, 3),
        "sys": round(ru.ru_stime, 3),
        "cpu": round(ru.ru_utime + ru.ru_stime, 3),
        "maxrss_single_kb": ru.ru_maxrss,
        "peak_tree_kb": peak,
    }
    if t_first is not None:
        rec["first_s"] = round(t_first - t0, 3)
    if also:
        rec["also_cpu"] = round(cpu_s(also) - also0, 3)
    with open(out, "w") as f:
        json.dump(rec, f)
    return 0


# ------------------------------------------------------------ scenario 4

IN_MOVED_FROM = 0x40
IN_DELETE = 0x200


class Inotify:
    def __init__(self, path):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        wd = self.libc.inotify_add_watch(self.fd, path.encode(),
                                         IN_MOVED_FROM | IN_DELETE)
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch")
        self.gone = set()

    def wait_gone(self, name, timeout):
        """Wait until NAME leaves the directory; its time or None."""
        end = time.monotonic() + timeout
        while name not in self.gone:
            left = end - time.monotonic()
            if left <= 0:
                return None
            select.select([self.fd], [], [], left)
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                continue
            now = time.monotonic()
            off = 0
            while off < len(buf):
                _, mask, _, ln = struct.unpack_from("iIII", buf, off)
                nm = buf[off + 16:off + 16 + ln].rstrip(b"\0").decode()
                off += 16 + ln
                if nm == name:
                    self.gone.add(nm)
                    self.t = now
        self.gone.discard(name)
        return self.t


def count_results(spool, prefix, n):
    res = os.path.join(spool, "results")
    c = 0
    try:
        for b in os.listdir(res):
            if not b.startswith("loose-"):
                continue
            for f in os.listdir(os.path.join(res, b)):
                if f.startswith(prefix) and f.endswith(".json"):
                    c += 1
    except OSError:
        pass
    return c


def drops(argv):
    opt = {"--n": "1000", "--gap-ms": "5", "--timeout": "10",
           "--wait": "120"}
    while argv:
        a = argv.pop(0)
        opt[a] = argv.pop(0)
    spool, n = opt["--spool"], int(opt["--n"])
    gap = float(opt["--gap-ms"]) / 1000
    new = os.path.join(spool, "new")
    ino = Inotify(new)

    def drop(name, i):
        tmp = os.path.join(new, ".%s.tmp" % name)
        with open(tmp, "w") as f:
            f.write(dumps({"custom_id": name, "method": "POST",
                           "url": URL_PATH, "body": body(i)}) + "\n")
        t = time.monotonic()
        os.rename(tmp, os.path.join(new, name + ".json"))
        return t

    # Warm-up: wait until the daemon claims at all (it may still start).
    t = drop("warmup", 0)
    if ino.wait_gone("warmup.json", 30) is None:
        print("drops: the daemon claimed nothing in 30 s", file=sys.stderr)
    time.sleep(0.2)
    lat, missed = [], 0
    t_start = time.monotonic()
    for i in range(n):
        name = "d%d" % i
        t = drop(name, i)
        tc = ino.wait_gone(name + ".json", float(opt["--timeout"]))
        if tc is None:
            missed += 1
            lat.append(float(opt["--timeout"]))
        else:
            lat.append(tc - t)
        if gap:
            time.sleep(gap)
    t_drops = time.monotonic() - t_start
    # Every drop must come back as a result before the numbers count.
    end = time.monotonic() + float(opt["--wait"])
    ok = count_results(spool, "d", n)
    while ok < n and time.monotonic() < end:
        time.sleep(0.2)
        ok = count_results(spool, "d", n)
    t_results = time.monotonic() - t_start
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(round(p / 100 * len(lat))) - 1)] \
            if lat else 0

    rec = {"n": n, "ok": ok, "missed": missed, "drop_wall": round(t_drops, 3),
           "results_wall": round(t_results, 3),
           "p50_ms": round(pct(50) * 1000, 3),
           "p99_ms": round(pct(99) * 1000, 3),
           "max_ms": round(lat[-1] * 1000, 3) if lat else 0}
    with open(opt["--out"], "w") as f:
        json.dump(rec, f)
    if "--stop-file" in opt:
        open(opt["--stop-file"], "w").close()
    return 0


# ----------------------------------------------------------------- report

def record(argv):
    path = argv.pop(0)
    rec = {}
    for a in argv:
        k, v = a.split("=", 1)
        if k.endswith("@"):           # k@=FILE: merge a JSON file
            try:
                with open(v) as f:
                    rec.update(json.load(f))
            except (OSError, ValueError):
                rec["error"] = "no measurement " + v
            continue
        try:
            v = json.loads(v)
        except ValueError:
            pass
        rec[k] = v
    with open(path, "a") as f:
        f.write(dumps(rec) + "\n")
    return 0


def fnum(x, d=2):
    if x is None:
        return "-"
    if isinstance(x, float) and x != x:
        return "-"
    return "%.*f" % (d, x)


def report(argv):
    path, out = argv[0], argv[1]
    recs = []
    with open(path) as f:
        for line in f:
            if line.strip():
                recs.append(json.loads(line))
    meta = [r for r in recs if r.get("meta")]
    recs = [r for r in recs if not r.get("meta")]

    def rate(r):
        if not r or r.get("skipped") or not r.get("wall"):
            return None
        if r.get("ok", 0) != r.get("n"):
            return None              # incomplete: no rate is reported
        return r["n"] / r["wall"]

    # Repeated runs of one scenario and tool: the run of median rate
    # stands for them all, its note giving their range.
    groups = {}
    for r in recs:
        groups.setdefault((str(r.get("scn")), r.get("tool")), []).append(r)
    merged = []
    for r in recs:
        g = groups.get((str(r.get("scn")), r.get("tool")))
        if g is None:
            continue                 # this group is merged already
        del groups[(str(r.get("scn")), r.get("tool"))]
        if len(g) > 1:
            g = sorted(g, key=lambda x: rate(x) or 0)
            m = dict(g[(len(g) - 1) // 2])
            rates = [rate(x) for x in g if rate(x)]
            if rates:
                m["note"] = ((m.get("note") + "; ") if m.get("note")
                             else "") + "median of %d runs (%.0f–%.0f " \
                    "req/s)" % (len(g), min(rates), max(rates))
            merged.append(m)
        else:
            merged.append(g[0])
    recs = merged

    def find(scn, tool):
        for r in recs:
            if str(r.get("scn")) == scn and r.get("tool") == tool:
                return r
        return None

    rows, verdicts = [], []

    def verdict(ok, text):
        if ok is None:
            verdicts.append("MISS  %s (not measured)" % text)
        else:
            verdicts.append("%s  %s" % ("PASS" if ok else "MISS", text))

    for r in recs:
        rt = rate(r)
        cpu = r.get("cpu")
        ok = r.get("ok") or 0
        cpr = (cpu / ok) if (cpu is not None and ok) else None
        if r.get("tool") == "wrk":
            cpr = None if not cpu or not r.get("n") else cpu / r["n"]
        rss = r.get("peak_tree_kb")
        note = r.get("note", "")
        if r.get("also_cpu") is not None:
            note = (note + "; " if note else "") + \
                "mock CPU %.1f s" % r["also_cpu"]
        if r.get("skipped"):
            note = "skipped: " + r["skipped"]
        elif r.get("ok") is not None and r.get("ok") != r.get("n"):
            note = ("INCOMPLETE %s/%s ok; " % (r.get("ok"), r.get("n"))) + note
        rows.append([r.get("label", r.get("scn")), r.get("tool", ""),
                     str(r.get("n", "")), fnum(r.get("wall")),
                     "-" if r.get("norate") else fnum(rt, 0), fnum(cpr * 1e6, 1) + " µs" if cpr else "-",
                     fnum(rss / 1024 if rss else None, 1), note])

    # Ratios (filled into the ratio/target column).
    def setnote(scn, tool, text):
        for row, r in zip(rows, recs):
            if str(r.get("scn")) == scn and r.get("tool") == tool:
                row[7] = (row[7] + "; " if row[7] else "") + text

    s1 = rate(find("1", "spoold"))
    for tool, tgt in (("curl --parallel", 0.60), ("GNU parallel + curl", 50),
                      ("xargs -P + curl", None), ("wrk (mock ceiling)", None)):
        pr = find("1", tool)
        p = rate(pr) if tool != "wrk (mock ceiling)" else \
            (pr["n"] / pr["wall"] if pr and pr.get("wall") and pr.get("n")
             else None)
        if s1 and p:
            x = s1 / p
            txt = ("spoold = %.0f %% of this" % (100 * x)) if x < 3 else \
                ("spoold = %.1f× this" % x)
            if tgt is not None:
                txt += " (target ≥ %s)" % ("%d %%" % (tgt * 100) if tgt < 1
                                            else "%d×" % tgt)
            setnote("1", tool, txt)
        if tgt is not None:
            verdict(None if not (s1 and p) else s1 / p >= tgt,
                    "1. spoold ≥ %s %s's rate: %s" % (
                        "%d %% of" % (tgt * 100) if tgt < 1 else "%d×" % tgt,
                        tool, "%.2f×" % (s1 / p) if s1 and p else "n/a"))

    r2 = find("2", "spoold")
    s2 = rate(r2)
    theo = r2.get("theoretical") if r2 else None
    if s2 and theo:
        setnote("2", "spoold", "%.0f %% of theoretical %d/s (target ≥ 90 %%)"
                % (100 * s2 / theo, theo))
        s2w = rate(find("2w", "spoold"))
        if s2w:
            setnote("2w", "spoold", "%.0f %% of theoretical (for context: "
                    "the daemon's connections already open)"
                    % (100 * s2w / theo))
        c2 = rate(find("2", "curl --parallel"))
        if c2:
            setnote("2", "curl --parallel", "%.0f %% of theoretical"
                    % (100 * c2 / theo))
    verdict(None if not (s2 and theo) else s2 / theo >= 0.9,
            "2. spoold ≥ 90 %% of the theoretical rate: %s" % (
                "%.0f %%" % (100 * s2 / theo) if s2 and theo else "n/a"))

    r3 = find("3", "spoold")
    rss3 = r3.get("peak_tree_kb") if r3 and rate(r3) else None
    if rss3:
        setnote("3", "spoold", "peak RSS target ≤ 100 MB; largest single "
                "process %.1f MB" % (r3.get("maxrss_single_kb", 0) / 1024))
    verdict(None if rss3 is None else rss3 <= 100 * 1024,
            "3. 1M-request batch peak RSS ≤ 100 MB: %s" % (
                "%.1f MB, wall %.1f s" % (rss3 / 1024, r3["wall"])
                if rss3 else "n/a"))

    r4 = find("4", "spoold")
    if r4 and "p99_ms" in r4:
        setnote("4", "spoold", "rename→claim p50 %.2f ms, p99 %.2f ms, max "
                "%.1f ms (target p99 ≤ 20 ms)"
                % (r4["p50_ms"], r4["p99_ms"], r4["max_ms"]))
    p99ok = r4 and "p99_ms" in r4 and r4.get("ok") == r4.get("n")
    verdict(None if not p99ok else r4["p99_ms"] <= 20,
            "4. drop→claim p99 ≤ 20 ms: %s" % (
                "p50 %.2f ms, p99 %.2f ms" % (r4["p50_ms"], r4["p99_ms"])
                if r4 and "p99_ms" in r4 else "n/a"))

    r5 = find("5", "spoold")
    s5 = rate(r5)
    if s5 and r5.get("limit_rpm"):
        lim = r5["limit_rpm"] / 60.0
        n429 = r5.get("n429", 0)
        frac = n429 / r5["n"]
        setnote("5", "spoold", "%.0f %% of the %d rpm limit; %d × 429 "
                "(%.2f %% of requests)" % (100 * s5 / lim, r5["limit_rpm"],
                                           n429, 100 * frac))
        verdict(s5 / lim >= 0.9 and frac < 0.01,
                "5. ≥ 90 %% of the rate limit with 429s < 1 %%: %.0f %%, "
                "%d × 429" % (100 * s5 / lim, n429))
    else:
        verdict(None, "5. ≥ 90 % of the rate limit with 429s < 1 %")

    r6 = find("6", "spoold")
    s6 = rate(r6)
    if s6:
        txt = "first result after %.2f s" % r6.get("first_s", float("nan"))
        if s1:
            txt += "; %.0f %% of scenario 1's rate" % (100 * s6 / s1)
        setnote("6", "spoold", txt)

    hdr = ["scenario", "tool", "requests", "wall s", "req/s", "CPU s/req",
           "peak RSS MB", "ratio/target"]
    lines = ["| " + " | ".join(hdr) + " |",
             "|" + "|".join("---" for _ in hdr) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(row) + " |")
    head = "".join(m["meta"] + "\n" for m in meta)
    text = head + "\n" + "\n".join(lines) + "\n\n" + "\n".join(verdicts) + "\n"
    sys.stdout.write(text)
    with open(out, "w") as f:
        f.write(text)
    return 0


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    c = a.pop(0)
    if c == "gen-jsonl":
        gen_jsonl(int(a[0]), a[1], *(a[2:3]))
    elif c == "gen-loose":
        gen_loose(int(a[0]), a[1])
    elif c == "gen-bodies":
        gen_bodies(int(a[0]), a[1])
    elif c == "gen-curlcfg":
        gen_curlcfg(int(a[0]), a[1], int(a[2]), a[3])
    elif c == "gen-wrk-lua":
        gen_wrk_lua(a[0])
    elif c == "measure":
        return measure(a)
    elif c == "drops":
        return drops(a)
    elif c == "record":
        return record(a)
    elif c == "report":
        return report(a)
    else:
        sys.exit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
