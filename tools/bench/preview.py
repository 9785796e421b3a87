#!/usr/bin/env python3
"""`tessera preview` of a 16-display 4K wall (issue 16: under 5 s): wall time, CPU, what it wrote.

Python 3 stdlib only; writes Markdown to --out."""
import argparse, os, resource, shutil, subprocess, time

ap = argparse.ArgumentParser()
ap.add_argument("--tessera", default=".build/release/tessera")
ap.add_argument("--layout", default=os.path.join(os.path.dirname(__file__), "wall-4x4-4k.json"))
ap.add_argument("--participants", type=int, default=250)
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--work", default="out/bench/preview")
ap.add_argument("--out", default="out/bench/preview.md")
a = ap.parse_args()

rows = []
for run in range(a.runs):
    shutil.rmtree(a.work, ignore_errors=True)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run([a.tessera, "preview", a.layout, "--participants", str(a.participants), "--out", a.work],
                   check=True, timeout=600, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    pngs = [os.path.join(a.work, f) for f in os.listdir(a.work) if f.endswith(".png")]
    rows.append((wall, (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime), len(pngs), sum(os.path.getsize(p) for p in pngs)))
rows.sort()
wall, cpu, n, size = rows[len(rows) // 2]
lines = ["### `tessera preview` of a 16-display 4K wall",
         "",
         f"`tessera preview tools/bench/wall-4x4-4k.json --participants {a.participants} --out DIR` (16 outputs of 3840x2160, "
         f"placeholder tiles, one PNG each); {a.runs} runs, the median; CPU from the child's rusage.",
         "",
         "| wall s | min–max s | CPU s | PNGs | MB written | target |",
         "|---:|---:|---:|---:|---:|---|",
         f"| {wall:.1f} | {rows[0][0]:.1f}–{rows[-1][0]:.1f} | {cpu:.1f} | {n} | {size / 1e6:.1f} | {'met' if wall < 5 else 'missed'} (under 5 s) |"]
print("\n".join(lines))
open(a.out, "w").write("\n".join(lines) + "\n")
