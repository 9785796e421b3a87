#!/usr/bin/env python3
"""Live target (issue 8): 250 streams of 320x180@15 composed onto one 3840x2160 output at 15 frames/s.

Runs `tessera run --backend headless --renderer cpu` with a local roster of N paced, looping file
streams, reads /metrics twice after a warm-up and reports output frames, dropped refresh ticks and
decoded frames/s over the window between. Python 3 stdlib only; writes Markdown to --out.
"""
import argparse, os, re, resource, signal, subprocess, sys, time, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("--tessera", default=".build/release/tessera")
ap.add_argument("--streams", type=int, default=250)
ap.add_argument("--fps", type=int, default=15)
ap.add_argument("--warmup", type=float, default=8)
ap.add_argument("--window", type=float, default=20)
ap.add_argument("--clip-seconds", type=int, default=10, help="clip length; files loop, and all N reopen together at its end")
ap.add_argument("--cache", default="out/bench")
ap.add_argument("--port", type=int, default=9391)
ap.add_argument("--out", default="out/bench/live.md")
ap.add_argument("--no-load-shedding", action="store_true", help="run the wall with load shedding off (the before figures)")
a = ap.parse_args()
clip = os.path.join(a.cache, f"live-320x180-{a.fps}fps-{a.clip_seconds}s-moving.mp4")
if not os.path.exists(clip):
    subprocess.run([a.tessera, "testsrc", "--moving", "--fps", str(a.fps), "--seconds", str(a.clip_seconds), "--to", clip], check=True, timeout=600)
layout = os.path.join(os.path.dirname(__file__), "live-4k-grid.json")
cmd = [a.tessera, "run", "--layout", layout, "--backend", "headless", "--renderer", "cpu", "--participants", str(a.streams),
       "--stream-url-template", os.path.abspath(clip), "--fps", str(a.fps), "--exit-after", str(a.warmup + a.window + 120),
       "--health", f"127.0.0.1:{a.port}", "--keyboard", "none", "--log-level", "warning"] + (["--no-load-shedding"] if a.no_load_shedding else [])


def metrics():
    """Each family summed over its labels; per-stream samples also under (family, stream, reason)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{a.port}/metrics", timeout=20).read().decode()  # an overloaded wall answers late
    m = {}
    for line in text.splitlines():
        g = re.match(r'^(tessera_[a-z_]+)(\{[^}]*\})?\s+([0-9.eE+-]+)$', line)
        if g:
            m[g.group(1)] = m.get(g.group(1), 0) + float(g.group(3))
            s = re.search(r'stream="([^"]*)"', g.group(2) or "")
            r = re.search(r'reason="([^"]*)"', g.group(2) or "")
            if s:
                m[(g.group(1), s.group(1), r.group(1) if r else "")] = float(g.group(3))
            elif r:
                m[(g.group(1), "", r.group(1))] = float(g.group(3))
    return m


def tile_rates(d, w):
    """Pictures each stream gave the renderer per second: decoded, less those shed before the
    mailbox (not_shown) and those replaced there before the renderer took them (superseded)."""
    rates = []
    for k, v in d.items():
        if isinstance(k, tuple) and k[0] == "tessera_stream_frames_decoded_total":
            s = k[1]
            shown = v - d.get(("tessera_stream_frames_skipped_total", s, "not_shown"), 0) - d.get(("tessera_stream_frames_superseded_total", s, ""), 0)
            rates.append(shown / w)
    return sorted(rates)


r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
time.sleep(a.warmup)
m0, t0, c0 = metrics(), time.monotonic(), None
with open(f"/proc/{p.pid}/stat") as f:
    s = f.read().rsplit(")", 1)[1].split()
    c0 = (int(s[11]) + int(s[12])) / os.sysconf("SC_CLK_TCK")
shed_levels = []
end = t0 + a.window
while time.monotonic() < end:  # the shedding level once a second
    time.sleep(min(1, max(0, end - time.monotonic())))
    try:  # an overloaded wall may answer later than a second; a missed sample is only a missed sample
        shed_levels.append(metrics().get("tessera_shed_level", 0))
    except Exception:
        pass
m1, t1 = metrics(), time.monotonic()
with open(f"/proc/{p.pid}/stat") as f:
    s = f.read().rsplit(")", 1)[1].split()
    c1 = (int(s[11]) + int(s[12])) / os.sysconf("SC_CLK_TCK")
p.send_signal(signal.SIGTERM)  # as systemd stops it; --exit-after only bounds a run whose reader died
try:  # a wall that does not end within 60 s of SIGTERM is reported, not waited for
    err = p.communicate(timeout=60)[1].decode(errors="replace")
except subprocess.TimeoutExpired:
    p.kill()
    err = p.communicate()[1].decode(errors="replace")
    sys.stderr.write(f"live.py: tessera run still running 60 s after SIGTERM: killed\n")
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
d = {k: m1.get(k, 0) - m0.get(k, 0) for k in m1}
w = t1 - t0
rates = tile_rates(d, w)
levels = sorted(set(lv for lv in shed_levels)) if shed_levels else []
frames = d.get("tessera_output_frames_total", 0)
dropped = d.get("tessera_output_dropped_frames_total", 0)
ticks = frames + dropped
pct = 100 * dropped / ticks if ticks else 100
lines = [f"### Live: {a.streams} streams of 320x180@{a.fps} (paced, looping files) onto one 3840x2160 output at {a.fps} frames/s, CPU renderer, headless",
         "",
         f"`tessera run --backend headless --renderer cpu --fps {a.fps} --participants {a.streams}` with `tools/bench/live-4k-grid.json` "
         f"(16x16 grid, labels on), every stream the same {a.clip_seconds} s clip, looping; a {w:.0f} s window after {a.warmup:.0f} s of warm-up, from /metrics.",
         "",
         "| load shedding | output frames/s | decoded frames/s (of " + str(a.streams * a.fps) + ") | dropped ticks | dropped % | pictures/s per tile, min / median | shed level in the window | CPU (both cores = 200%) | peak RSS MiB | target |",
         "|---|---:|---:|---:|---:|---:|---|---:|---:|---|",
         f"| {'off' if a.no_load_shedding else 'on'} | {frames / w:.1f} | {d.get('tessera_stream_frames_decoded_total', 0) / w:.0f} | {dropped:.0f} of {ticks:.0f} | {pct:.2f} | "
         f"{(rates[0] if rates else 0):.1f} / {(rates[len(rates) // 2] if rates else 0):.1f} | {'–'.join(str(int(x)) for x in (levels[0], levels[-1])) if levels else 0} | {100 * (c1 - c0) / w:.0f}% | {rss:.0f} | "
         f"{'met' if pct < 1 and frames / w >= a.fps * 0.99 and (a.fps < 30 or (rates and rates[0] >= 15)) else 'missed'} "
         f"(< 1% dropped at {a.fps} frames/s{', every tile ≥ 15 pictures/s' if a.fps >= 30 else ''}) |"]
load = open("/proc/loadavg").read().split()[:3]
lines.append("")
lines.append(f"Slowest present of the run (/metrics `tessera_render_frame_seconds_max`): {1000 * m1.get('tessera_render_frame_seconds_max', 0):.0f} ms; "
             f"slowest round of draws between refreshes (`tessera_render_prepare_seconds_max`): {1000 * m1.get('tessera_render_prepare_seconds_max', 0):.0f} ms; "
             f"{d.get('tessera_render_prepares_total', 0) / w:.0f} such rounds a second; a {1000 / a.fps:.1f} ms refresh. "
             f"Shed in the window, frames/s: {d.get(('tessera_frames_skipped_total', '', 'non_reference'), 0) / w:.0f} non-reference not decoded, "
             f"{d.get(('tessera_frames_skipped_total', '', 'not_shown'), 0) / w:.0f} decoded but not shown, "
             f"{d.get(('tessera_frames_skipped_total', '', 'behind'), 0) / w:.0f} skipped by streams catching up (more than 1 s behind); shedding level changes since the start: {m1.get('tessera_shed_level_changes_total', 0):.0f}. "
             f"A tick counts as dropped when the gap between two presents rounds to two refreshes or more (over {1500 / a.fps:.0f} ms). Load average at the end: {' '.join(load)} on {os.cpu_count()} cores.")
if p.returncode not in (0, None):
    lines.append(f"\n`tessera run` exited {p.returncode}: {err[-500:]}")
print("\n".join(lines))
open(a.out, "w").write("\n".join(lines) + "\n")
