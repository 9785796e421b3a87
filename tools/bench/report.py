#!/usr/bin/env python3
"""Assembles BENCHMARKS.md from the pieces `make bench` writes into --dir (Python 3 stdlib only)."""
import argparse, os, platform, subprocess, time


def read(d, name):
    p = os.path.join(d, name)
    return open(p).read().strip() if os.path.exists(p) else f"(not run: {name} missing)"


def version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.splitlines()[0].strip()
    except Exception:
        return "absent"


ap = argparse.ArgumentParser()
ap.add_argument("--dir", default="out/bench")
a = ap.parse_args()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
print("# Tessera benchmarks")
print()
print(f"Written by `make bench` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {os.cpu_count()} cores ({cpu}), "
      f"no GPU; {version(['ffmpeg', '-version'])}; {version(['gst-launch-1.0', '--version'])}. "
      "Every figure below comes from this one run on this one machine; the machine is shared and noisy, "
      "so compare within a table, not with other runs.")
print()
print("## 1. Composition against ffmpeg and GStreamer")
print()
print(read(a.dir, "compose.md"))
print()
print(read(a.dir, "live.md"))
print()
print("## 2. The decode floor, memory per stream, live latency into the mailbox (`tessera bench media`)")
print()
print(read(a.dir, "media.md"))
print()
print("## 3. Latency into the output buffer")
print()
print("Not measured yet. Section 2's live table stops at the stream's mailbox (packet read → frame in mailbox, "
      "capture stamp → mailbox); the wait for the next output refresh and the draw are not in it. The draw "
      "time per output frame is in section 1's notes (render thread draw seconds ÷ output frames).")
print()
print("## 4. Scene build and preset switch, 250 participants (`tessera bench scene`)")
print()
print(read(a.dir, "scene-lecture.md"))
print()
print(read(a.dir, "scene-wall.md"))
