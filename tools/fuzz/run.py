#!/usr/bin/env python3
"""Runs each libFuzzer harness of `tessera-fuzz` for a while and prints what it did.

Seeds come from Fuzz/Seeds/<harness>/ (committed) plus the globs in SEED_GLOBS (the example
layouts, the test fixtures, clips); Fuzz/Seeds/<harness>.dict, when present, is libFuzzer's
dictionary of tokens for that input. The growing corpus lives in out/fuzz/<harness>/corpus; a crash
is written to out/fuzz/<harness>/crash-* and makes the run fail: turn it into a regression test.
"""
import argparse, glob, os, re, shutil, subprocess, sys, time

# Extra seeds per harness, relative to the repository root.
SEED_GLOBS = {
    "layout": ["Layouts/*.json", "Tests/TesseraLayoutTests/Fixtures/**/*.json"],
}

def harness_names(binary):
    out = subprocess.run([binary, "--list"], capture_output=True, text=True).stderr
    return [m.group(1) for m in re.finditer(r"^  (\S+)", out, re.M)]

def seed(name, root, corpus):
    os.makedirs(corpus, exist_ok=True)
    sources = glob.glob(os.path.join(root, "Fuzz/Seeds", name, "*"))
    for g in SEED_GLOBS.get(name, []):
        sources += glob.glob(os.path.join(root, g), recursive=True)
    for i, path in enumerate(sorted(sources)):
        if os.path.isfile(path) and os.path.getsize(path) <= 1 << 20:
            shutil.copy(path, os.path.join(corpus, "seed-%03d-%s" % (i, os.path.basename(path))))
    return len(sources)

def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--seconds", type=int, default=60, help="per harness")
    ap.add_argument("--out", default="out/fuzz")
    ap.add_argument("--only", help="comma-separated harness names")
    ap.add_argument("--jobs", type=int, default=1, help="libFuzzer -fork workers per harness")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    names = harness_names(args.binary)
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    rows, failed = [], False
    for name in names:
        work = os.path.join(args.out, name)
        corpus = os.path.join(work, "corpus")
        seeds = seed(name, root, corpus)
        log_path = os.path.join(work, "fuzz.log")
        cmd = [args.binary, name, corpus, "-max_total_time=%d" % args.seconds, "-print_final_stats=1",
               "-artifact_prefix=" + work + "/", "-timeout=10", "-rss_limit_mb=4096", "-max_len=65536"]
        dictionary = os.path.join(root, "Fuzz/Seeds", name + ".dict")
        if os.path.exists(dictionary):
            cmd.append("-dict=" + dictionary)
        if args.jobs > 1:
            cmd.append("-fork=%d" % args.jobs)
        print("fuzz %s: %d s from %d seeds (%s)" % (name, args.seconds, seeds, " ".join(cmd)), flush=True)
        started = time.monotonic()
        env = dict(os.environ, SWIFT_BACKTRACE="enable=no")
        with open(log_path, "w") as log:
            rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root).returncode
        text = open(log_path, errors="replace").read()
        execs = re.findall(r"stat::number_of_executed_units:\s+(\d+)", text)
        execs = int(execs[-1]) if execs else sum(int(x) for x in re.findall(r"#(\d+)\s+DONE", text)[-1:])
        crashes = sorted(glob.glob(os.path.join(work, "crash-*")) + glob.glob(os.path.join(work, "timeout-*"))
                         + glob.glob(os.path.join(work, "oom-*")) + glob.glob(os.path.join(work, "leak-*")))
        units = len(os.listdir(corpus))
        rows.append((name, execs, time.monotonic() - started, units, len(crashes), rc))
        if rc != 0 or crashes:
            failed = True
            print("fuzz %s: FAILED (exit %d); findings: %s; log: %s" % (name, rc, ", ".join(crashes) or "none", log_path))
            print("\n".join(text.splitlines()[-40:]))
    print("\n| harness | executions | seconds | exec/s | corpus | findings |\n|---|---:|---:|---:|---:|---:|")
    for name, execs, secs, units, n, rc in rows:
        print("| %s | %d | %.0f | %.0f | %d | %d |" % (name, execs, secs, execs / max(secs, 1e-9), units, n))
    sys.exit(1 if failed else 0)

if __name__ == "__main__":
    main()
