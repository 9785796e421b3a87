#!/usr/bin/env python3
"""Composition benchmark: Tessera against ffmpeg xstack and GStreamer compositor (issue 8, item 1).

N copies of one 320x180@30 H.264 clip (made by `tessera testsrc --moving`) into one 3840x2160 BGRA
frame per input frame, unpaced. The commands run alternately, --runs times each; for each we
measure wall time, CPU seconds (getrusage RUSAGE_CHILDREN deltas) and peak RSS (ru_maxrss of the
child, read from os.wait4). Writes a Markdown section to --out (and prints it). Python 3 stdlib only.
"""
import argparse, json, os, shutil, statistics, subprocess, sys, time


TIMEOUT_S = 600  # no command in this benchmark takes a tenth of that; a stuck one is reported, not waited for


def run_measured(cmd, env=None):
    t0 = time.monotonic()
    pid = os.posix_spawnp(cmd[0], cmd, env if env is not None else os.environ,
                          file_actions=[(os.POSIX_SPAWN_OPEN, 1, "/tmp/tessera-bench-stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
                                        (os.POSIX_SPAWN_OPEN, 2, "/tmp/tessera-bench-stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)])
    while True:
        done, status, ru = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - t0 > TIMEOUT_S:
            os.kill(pid, 9)
            _, status, ru = os.wait4(pid, 0)
            sys.stderr.write(f"compose.py: {' '.join(cmd[:4])} … still running after {TIMEOUT_S} s: killed, counted as failed\n")
            break
        time.sleep(0.05)
    wall = time.monotonic() - t0
    rc = os.waitstatus_to_exitcode(status)
    out = open("/tmp/tessera-bench-stdout", errors="replace").read()
    err = open("/tmp/tessera-bench-stderr", errors="replace").read()
    if rc != 0:
        sys.stderr.write(f"compose.py: {cmd[0]} exited {rc}: {err[-2000:]}\n")
    return dict(rc=rc, wall=wall, cpu=ru.ru_utime + ru.ru_stime, rss_mib=ru.ru_maxrss / 1024, out=out, err=err)


def grid(n, w=3840, h=2160):
    cols = next(c for c in range(1, n + 1) if c * c >= n)
    rows = -(-n // cols)
    return cols, rows, w // cols, h // rows


def ffmpeg_cmd(clip, n):
    cols, rows, cw, ch = grid(n)
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin"]
    for _ in range(n):
        args += ["-i", clip]
    scale = ";".join(f"[{i}:v]scale={cw}:{ch}[s{i}]" for i in range(n))
    layout = "|".join(f"{(i % cols) * cw}_{(i // cols) * ch}" for i in range(n))
    inputs = "".join(f"[s{i}]" for i in range(n))
    fill = ":fill=black" if cols * rows > n or cols * cw < 3840 or rows * ch < 2160 else ""
    fc = f"{scale};{inputs}xstack=inputs={n}:layout={layout}{fill},pad=3840:2160,format=bgra[out]"
    return args + ["-filter_complex", fc, "-map", "[out]", "-f", "null", "-"]


def gst_cmd(clip, n):
    cols, rows, cw, ch = grid(n)
    args = ["gst-launch-1.0", "-q", "compositor", "name=c", "background=black"]
    for i in range(n):
        args += [f"sink_{i}::xpos={(i % cols) * cw}", f"sink_{i}::ypos={(i // cols) * ch}",
                 f"sink_{i}::width={cw}", f"sink_{i}::height={ch}"]
    args += ["!", "video/x-raw,format=BGRA,width=3840,height=2160", "!", "fakesink", "sync=false"]
    for i in range(n):
        args += ["filesrc", f"location={clip}", "!", "qtdemux", "!", "avdec_h264", "!", f"c.sink_{i}"]
    return args


def fmt(v, d=1):
    return f"{v:.{d}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tessera", default=".build/release/tessera")
    ap.add_argument("--streams", default="16,64,250")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=4, help="clip length (30 fps)")
    ap.add_argument("--gles", default="16", help="stream counts to run Tessera's GLES renderer (llvmpipe) at, once each; '' for none")
    ap.add_argument("--cache", default="out/bench")
    ap.add_argument("--out", default="out/bench/compose.md")
    a = ap.parse_args()

    os.makedirs(a.cache, exist_ok=True)
    clip = os.path.join(a.cache, f"compose-320x180-30fps-{a.seconds}s-moving.mp4")
    if not os.path.exists(clip):
        subprocess.run([a.tessera, "testsrc", "--moving", "--seconds", str(a.seconds), "--participant", "5", "--to", clip], check=True)
    frames = a.seconds * 30
    peers = {"ffmpeg": shutil.which("ffmpeg"), "gstreamer": shutil.which("gst-launch-1.0")}
    lines = []
    say = lambda s="": (lines.append(s), print(s, flush=True))
    say(f"### Composition: N × 320x180@30 H.264 → one 3840x2160 BGRA frame per input frame, unpaced")
    say()
    say(f"Clip `{clip}` ({frames} frames, `tessera testsrc --moving`, libx264); every tool decodes all N streams and "
        f"scales each into its grid cell; {os.cpu_count()} cores; {a.runs} runs per command, alternating; "
        "medians with min–max. CPU s and peak RSS from the child's rusage.")
    say("Tessera: `tessera bench compose --renderer cpu` (Media decoding in lock-step, CPU renderer into a headless BGRA buffer). "
        "ffmpeg: `-i clip ×N -filter_complex 'scale…;xstack…,pad=3840:2160,format=bgra' -f null -`. "
        "GStreamer: `filesrc ! qtdemux ! avdec_h264` ×N → `compositor ! video/x-raw,format=BGRA,3840x2160 ! fakesink`.")
    say()
    say("| N | tool | output frames/s | min–max | CPU s | CPU ms/output frame | peak RSS MiB | Tessera ÷ tool (frames/s) |")
    say("|---:|---|---:|---:|---:|---:|---:|---:|")
    notes = []
    for n in [int(x) for x in a.streams.split(",") if x.strip()]:
        cmds = {"tessera cpu": [a.tessera, "bench", "compose", "--clip", clip, "--streams", str(n), "--renderer", "cpu"]}
        if peers["ffmpeg"]:
            cmds["ffmpeg xstack"] = ffmpeg_cmd(clip, n)
        if peers["gstreamer"]:
            cmds["gst compositor"] = gst_cmd(clip, n)
        results = {k: [] for k in cmds}
        for r in range(a.runs):
            for name, cmd in cmds.items():
                m = run_measured(cmd)
                if m["rc"] != 0:
                    continue
                out_frames = frames
                if name.startswith("tessera"):
                    j = json.loads(m["out"].strip().splitlines()[-1])
                    out_frames = j["frames"]
                    m["json"] = j
                m["fps"] = out_frames / m["wall"]
                m["frames"] = out_frames
                results[name].append(m)
        if n in [int(x) for x in a.gles.split(",") if x.strip()]:
            m = run_measured([a.tessera, "bench", "compose", "--clip", clip, "--streams", str(n), "--renderer", "gles"])
            if m["rc"] == 0:
                j = json.loads(m["out"].strip().splitlines()[-1])
                m["fps"] = j["frames"] / m["wall"]; m["frames"] = j["frames"]; m["json"] = j
                results["tessera gles (llvmpipe), 1 run"] = [m]
        tess = statistics.median([m["fps"] for m in results["tessera cpu"]]) if results["tessera cpu"] else None
        for name, ms in results.items():
            if not ms:
                say(f"| {n} | {name} | failed | | | | | |")
                continue
            fps = [m["fps"] for m in ms]
            med = statistics.median(fps)
            cpu = statistics.median([m["cpu"] for m in ms])
            rss = statistics.median([m["rss_mib"] for m in ms])
            fr = ms[0]["frames"]
            ratio = f"{tess / med:.2f}×" if tess and not name.startswith("tessera") else ""
            say(f"| {n} | {name} | {fmt(med)} | {fmt(min(fps))}–{fmt(max(fps))} | {fmt(cpu)} | {fmt(cpu / fr * 1000, 0)} | {fmt(rss, 0)} | {ratio} |")
            if name.startswith("tessera"):
                j = ms[len(ms) // 2]["json"]
                notes.append(f"N={n} {name}: {j['frames']} output frames ({j['partial_frames']} not fully fresh), {j['decoded']} frames decoded; "
                             f"render thread waited for decoders {j['render_wait_s']} s, drew {j['render_draw_s']} s of {j['wall_s']} s")
        if tess:
            best = max((statistics.median([m['fps'] for m in v]) for k, v in results.items() if not k.startswith("tessera") and v), default=None)
            if best:
                verdict = "met" if tess >= 1.5 * best else "missed"
                notes.append(f"N={n}: target ≥1.5× the better peer: {verdict} ({tess / best:.2f}×)")
    say()
    for s in notes:
        say(f"- {s}")
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
