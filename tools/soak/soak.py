#!/usr/bin/env python3
"""Soak: a headless wall with N live streams for a given time under scripted churn (issue 17).

What runs, all on loopback:
  - `tessera-signal` (the reference backend) with a room of N participants whose streams are
    udp://127.0.0.1:{base+n};
  - publishers: `tessera testsrc --replay CLIP --count G` processes, each sending G of the streams;
  - the wall: `tessera run --backend headless --renderer cpu --signal ws://…` watching a copy of a
    layout file.
Churn, one action every --churn seconds, in turn:
  publishers   a random third of the publisher processes killed, restarted 10 s later;
  leave-join   a random tenth of the participants leave through the admin API, rejoin 10 s later;
  preset       the next preset of the layout, through the admin API (`layout.set`);
  layout-edit  the layout file rewritten with a changed border width (a hot reload), then restored;
  backend      the backend killed and restarted (the wall reconnects, takes a fresh snapshot).
Every --sample seconds: resident memory (VmRSS), Pss (smaps_rollup), malloc in use and free (kept for reuse)
(/metrics), open descriptors, threads, streams by state, dropped refresh ticks.

Writes DIR/samples.csv, DIR/soak.md (a table and a verdict) and DIR/soak.png (a plot, when
matplotlib is there). The verdict compares the settled state after warm-up with the settled state at
the end (churn stopped, every stream playing again): descriptors and threads must be back where
they were (a leak of either fails), and resident memory's growth is reported against --rss-limit
(percent; fails beyond it). Exit status 0 pass, 1 fail, 2 the run itself broke.
Python 3 standard library (plus matplotlib for the plot).
"""
import argparse, csv, json, os, random, re, shutil, signal, socket, subprocess, sys, time, urllib.request

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--tessera", default=".build/release/tessera")
ap.add_argument("--signal-binary", default=None, help="default: tessera-signal beside --tessera")
ap.add_argument("--streams", type=int, default=64)
ap.add_argument("--fps", type=int, default=15)
ap.add_argument("--duration", type=float, default=900, help="seconds of churn (after warm-up)")
ap.add_argument("--warmup", type=float, default=60, help="seconds before the first settled sample")
ap.add_argument("--churn", type=float, default=20, help="seconds between churn actions")
ap.add_argument("--sample", type=float, default=5, help="seconds between samples")
ap.add_argument("--per-publisher", type=int, default=8, help="streams per publisher process")
ap.add_argument("--layout", default="Layouts/wall-2x2-4k.json")
ap.add_argument("--output-fps", type=float, default=15)
ap.add_argument("--rss-limit", type=float, default=5.0, help="percent growth of resident memory that fails the run")
ap.add_argument("--fd-slack", type=int, default=0)
ap.add_argument("--thread-slack", type=int, default=0)
ap.add_argument("--settle", type=float, default=90, help="longest wait for every stream to play again at the end")
ap.add_argument("--base-port", type=int, default=26000)
ap.add_argument("--out", default="out/soak")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--actions", default="publishers,leave-join,preset,layout-edit,backend",
                help="the churn actions to take, in turn (comma-separated; to find which one memory follows)")
ap.add_argument("--wall-wrapper", default="", help="a command the wall runs under, e.g. `heaptrack --record-only -o FILE`")
a = ap.parse_args()
random.seed(a.seed)
os.makedirs(a.out, exist_ok=True)
sig_bin = a.signal_binary or os.path.join(os.path.dirname(a.tessera), "tessera-signal")
for b in (a.tessera, sig_bin):
    if not os.access(b, os.X_OK):
        sys.exit(f"soak: {b} is not built; run `swift build -c release` (or `make soak`) first")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


signal_port, health_port = free_port(), free_port()
work = os.path.abspath(a.out)
for name, token in (("wall.token", "soak-wall-token"), ("admin.token", "soak-admin-token")):
    with open(os.path.join(work, name), "w") as f:
        f.write(token + "\n")
    os.chmod(os.path.join(work, name), 0o600)
ADMIN = "soak-admin-token"
layout_path = os.path.join(work, "layout.json")
shutil.copy(a.layout, layout_path)
original_layout = open(layout_path).read()
presets = [p["name"] for p in json.loads(original_layout).get("presets", []) if "name" in p]

clip = os.path.join(work, f"clip-320x180-{a.fps}.ts")
if not os.path.exists(clip):
    log(f"making the clip {clip}")
    subprocess.run([a.tessera, "testsrc", "--moving", "--fps", str(a.fps), "--seconds", "10", "--to", clip],
                   check=True, stderr=subprocess.DEVNULL)

procs = {}  # name -> Popen
logs = open(os.path.join(work, "processes.log"), "ab")


def start_backend():
    procs["backend"] = subprocess.Popen(
        [sig_bin, "--listen", f"127.0.0.1:{signal_port}", "--wall-token-file", os.path.join(work, "wall.token"),
         "--admin-token-file", os.path.join(work, "admin.token"), "--room", "soak", "--participants", str(a.streams),
         "--stream-url-template", f"udp://127.0.0.1:{{n+{a.base_port}}}"], stdout=logs, stderr=logs)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{signal_port}/healthz", timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("tessera-signal did not answer /healthz within 30 s")


groups = [(first, min(a.per_publisher, a.streams - first + 1)) for first in range(1, a.streams + 1, a.per_publisher)]


def start_publisher(i):
    first, count = groups[i]
    procs[f"pub{i}"] = subprocess.Popen(
        [a.tessera, "testsrc", "--replay", clip, "--to", f"udp://127.0.0.1:{{n+{a.base_port}}}?pkt_size=1316",
         "--participant", str(first), "--count", str(count)], stdout=logs, stderr=logs)


def stop(name, sig=signal.SIGTERM):
    p = procs.pop(name, None)
    if p and p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill(); p.wait()


def admin(method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{signal_port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"})
    try:
        return urllib.request.urlopen(req, timeout=5).read()
    except OSError as e:
        log(f"admin {method} {path}: {e}")


def metrics():
    text = urllib.request.urlopen(f"http://127.0.0.1:{health_port}/metrics", timeout=5).read().decode()
    m = {}
    for line in text.splitlines():
        g = re.match(r'^(tessera_[a-z_0-9]+)(\{[^}]*\})?\s+([0-9.eE+-]+)$', line)
        if g:
            key = g.group(1) + (g.group(2) or "") if g.group(1) == "tessera_streams" else g.group(1)
            m[key] = m.get(key, 0) + float(g.group(3))
    return m


def proc_figures(pid):
    f = {}
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            f["rss_mib"] = int(line.split()[1]) / 1024
        elif line.startswith("Threads:"):
            f["threads"] = int(line.split()[1])
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                f["pss_mib"] = int(line.split()[1]) / 1024
    except OSError:
        f["pss_mib"] = 0
    f["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return f


def wall_pid(wall):
    """The wall's own process: under --wall-wrapper, the descendant running `tessera run`."""
    if not a.wall_wrapper:
        return wall.pid
    for entry in os.listdir("/proc"):
        try:
            argv = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0") if entry.isdigit() else []
            if len(argv) > 1 and os.path.basename(argv[0]) == b"tessera" and argv[1] == b"run":
                return int(entry)
        except OSError:
            pass
    return wall.pid


def sample(t0, phase):
    wall = procs["wall"]
    if wall.poll() is not None:
        raise RuntimeError(f"the wall exited with status {wall.returncode}")
    f = proc_figures(wall_pid(wall))
    m = metrics()
    row = {"t": round(time.monotonic() - t0, 1), "phase": phase, **{k: round(v, 1) for k, v in f.items()},
           "malloc_mib": round(m.get("tessera_process_malloc_inuse_bytes", 0) / 2**20, 1),
           "malloc_free_mib": round(m.get("tessera_process_malloc_free_bytes", 0) / 2**20, 1),
           "playing": int(m.get('tessera_streams{state="playing"}', 0)),
           "connecting": int(m.get('tessera_streams{state="connecting"}', 0)),
           "stalled": int(m.get('tessera_streams{state="stalled"}', 0)),
           "offline": int(m.get('tessera_streams{state="offline"}', 0)),
           "frames": int(m.get("tessera_output_frames_total", 0)),
           "dropped": int(m.get("tessera_output_dropped_frames_total", 0))}
    return row


def settle(t0, rows, writer, phase, limit):
    """Samples until every stream plays (or `limit` seconds); returns the last sample."""
    deadline = time.monotonic() + limit
    while True:
        time.sleep(a.sample)
        row = sample(t0, phase); rows.append(row); writer.writerow(row)
        if row["playing"] >= a.streams or time.monotonic() > deadline:
            return row


CHURN_ACTIONS = [x for x in a.actions.split(",") if x]
unknown = set(CHURN_ACTIONS) - {"publishers", "leave-join", "preset", "layout-edit", "backend"}
if unknown or not CHURN_ACTIONS:
    sys.exit(f"soak: --actions takes publishers, leave-join, preset, layout-edit and backend, not {a.actions!r}")
churn_state = {"k": 0, "preset": 0}

def churn(duration, phase):
    """One churn action every --churn seconds for `duration` seconds, sampling every --sample; then waits
    for what it undid (publishers, participants, the backend) to be redone."""
    pending = []  # (due, callable)
    next_action = next_sample = time.monotonic()
    end = time.monotonic() + duration
    while time.monotonic() < end:
        now = time.monotonic()
        for item in [p for p in pending if p[0] <= now]:
            pending.remove(item); item[1]()
        if now >= next_action:
            act = CHURN_ACTIONS[churn_state["k"] % len(CHURN_ACTIONS)]; churn_state["k"] += 1
            actions_done[act] = actions_done.get(act, 0) + 1
            if act == "publishers":
                victims = random.sample(range(len(groups)), max(1, len(groups) // 3))
                for i in victims:
                    stop(f"pub{i}", signal.SIGKILL)
                pending.append((now + 10, lambda v=victims: [start_publisher(i) for i in v]))
            elif act == "leave-join":
                ids = random.sample(range(1, a.streams + 1), max(1, a.streams // 10))
                for n in ids:
                    admin("DELETE", f"/rooms/soak/participants/p{n}")

                def rejoin(ids=ids):
                    for n in ids:
                        admin("PUT", f"/rooms/soak/participants/p{n}",
                              {"name": f"Participant {n}", "role": "student", "streams": [{"kind": "camera", "layers": [
                                  {"width": 320, "height": 180, "fps": a.fps, "url": f"udp://127.0.0.1:{a.base_port + n}"}]}]})
                pending.append((now + 10, rejoin))
            elif act == "preset" and presets:
                churn_state["preset"] = (churn_state["preset"] + 1) % len(presets)
                admin("POST", "/rooms/soak/layout", {"preset": presets[churn_state["preset"]]})
            elif act == "layout-edit":
                edited = json.loads(original_layout)
                edited.setdefault("style", {}).setdefault("border", {"color": "#2a3038"})["width"] = random.choice([1, 2, 3, 4])
                with open(layout_path + ".tmp", "w") as f:
                    json.dump(edited, f)
                os.replace(layout_path + ".tmp", layout_path)
            elif act == "backend":
                stop("backend", signal.SIGKILL)
                pending.append((now + 5, start_backend))
            next_action = now + a.churn
        if now >= next_sample:
            row = sample(t0, phase); rows.append(row); writer.writerow(row); csv_file.flush()
            next_sample = now + a.sample
            if len(rows) % 12 == 0:
                log(f"t={row['t']:.0f}s RSS {row['rss_mib']:.0f} MiB, malloc {row['malloc_mib']:.0f} MiB in use + {row['malloc_free_mib']:.0f} free, {row['fds']} fds, "
                    f"{row['threads']} threads, {row['playing']}/{a.streams} playing, dropped {row['dropped']}/{row['frames'] + row['dropped']}")
        time.sleep(0.2)
    for due, fn in sorted(pending, key=lambda p: p[0]):
        time.sleep(max(0, due - time.monotonic())); fn()


rows, status = [], 2
csv_file = open(os.path.join(work, "samples.csv"), "w", newline="")
fields = ["t", "phase", "rss_mib", "pss_mib", "malloc_mib", "malloc_free_mib", "fds", "threads", "playing", "connecting",
          "stalled", "offline", "frames", "dropped"]
writer = csv.DictWriter(csv_file, fieldnames=fields)
writer.writeheader()
actions_done = {}
try:
    start_backend()
    for i in range(len(groups)):
        start_publisher(i)
    wall_cmd = [a.tessera, "run", "--layout", layout_path, "--backend", "headless", "--renderer", "cpu",
                "--signal", f"ws://127.0.0.1:{signal_port}/signal", "--token-file", os.path.join(work, "wall.token"),
                "--room", "soak", "--wall-id", "soak-wall", "--fps", str(a.output_fps), "--health", f"127.0.0.1:{health_port}",
                "--keyboard", "none", "--log-level", "warning", "--allow-scheme", "udp", "--allow-host", "127.0.0.1"]
    procs["wall"] = subprocess.Popen(a.wall_wrapper.split() + wall_cmd, stdout=logs, stderr=logs)
    t0 = time.monotonic()
    log(f"wall pid {procs['wall'].pid}: {a.streams} streams, {len(groups)} publishers, warm-up {a.warmup:.0f} s")
    while time.monotonic() - t0 < a.warmup:
        time.sleep(a.sample)
        try:
            row = sample(t0, "warm-up"); rows.append(row); writer.writerow(row)
        except OSError:
            pass  # the health server is not up yet
    # One round of every churn action belongs to the warm-up: the first preset switch, layout edit
    # and reconnect make caches and buffers that are then reused; growth is measured after that.
    churn(len(CHURN_ACTIONS) * a.churn, "warm-up")
    # Both settled states show the first preset: the CPU renderer's scratch follows the largest
    # tile shown (RELIABILITY.md), so states on different presets differ by design.
    if presets:
        admin("POST", "/rooms/soak/layout", {"preset": presets[0]})
    start = settle(t0, rows, writer, "settle", a.settle)
    log(f"settled after warm-up: {start['playing']}/{a.streams} playing, RSS {start['rss_mib']:.0f} MiB, "
        f"{start['fds']} fds, {start['threads']} threads")
    churn(a.duration, "churn")
    with open(layout_path + ".tmp", "w") as f:
        f.write(original_layout)
    os.replace(layout_path + ".tmp", layout_path)
    if presets:
        admin("POST", "/rooms/soak/layout", {"preset": presets[0]})
    final = settle(t0, rows, writer, "settle", a.settle)
    log(f"settled at the end: {final['playing']}/{a.streams} playing, RSS {final['rss_mib']:.0f} MiB, "
        f"{final['fds']} fds, {final['threads']} threads")
    stop("wall")
    wall_status = procs.get("wall").returncode if "wall" in procs else 0
    status = 0
except Exception as e:  # the run itself broke: say so and keep what was sampled
    log(f"soak: {e}")
    start = start if "start" in dir() else None
    final = None
finally:
    for name in list(procs):
        stop(name, signal.SIGKILL if name != "wall" else signal.SIGTERM)
    csv_file.close()

# The verdict and the report.
lines = [f"### Soak: {a.streams} streams of 320x180@{a.fps} (UDP, looping replays) on a headless wall "
         f"({os.path.basename(a.layout)}, CPU renderer, {a.output_fps:g} frames/s), {a.duration / 60:.0f} min of churn every {a.churn:g} s",
         "", "`python3 tools/soak/soak.py " + " ".join(sys.argv[1:]) + "`; churn actions done: " + ", ".join(f"{k} {v}" for k, v in actions_done.items()) + ".", ""]
failures = []
if status == 0 and start and final:
    churn_rows = [r for r in rows if r["phase"] == "churn"]
    growth = 100 * (final["rss_mib"] - start["rss_mib"]) / start["rss_mib"]
    peak = max(r["rss_mib"] for r in rows if r["phase"] != "warm-up")
    ticks = final["frames"] + final["dropped"] - start["frames"] - start["dropped"]
    dropped = final["dropped"] - start["dropped"]
    lines += ["| | after warm-up | at the end | change |", "|---|---:|---:|---:|",
              f"| resident memory (MiB) | {start['rss_mib']:.1f} | {final['rss_mib']:.1f} | {growth:+.1f}% (peak {peak:.1f}) |",
              f"| Pss (MiB) | {start['pss_mib']:.1f} | {final['pss_mib']:.1f} | {final['pss_mib'] - start['pss_mib']:+.1f} |",
              f"| malloc in use (MiB) | {start['malloc_mib']:.1f} | {final['malloc_mib']:.1f} | {final['malloc_mib'] - start['malloc_mib']:+.1f} |",
              f"| malloc free, kept for reuse (MiB) | {start['malloc_free_mib']:.1f} | {final['malloc_free_mib']:.1f} | {final['malloc_free_mib'] - start['malloc_free_mib']:+.1f} |",
              f"| open descriptors | {start['fds']} | {final['fds']} | {final['fds'] - start['fds']:+d} |",
              f"| threads | {start['threads']} | {final['threads']} | {final['threads'] - start['threads']:+d} |",
              f"| streams playing | {start['playing']} | {final['playing']} | |",
              f"| dropped refresh ticks | | {dropped} of {ticks} | {100 * dropped / max(1, ticks):.2f}% |"]
    if final["fds"] > start["fds"] + a.fd_slack:
        failures.append(f"descriptors leaked: {start['fds']} → {final['fds']}")
    if final["threads"] > start["threads"] + a.thread_slack:
        failures.append(f"threads leaked: {start['threads']} → {final['threads']}")
    if growth > a.rss_limit:
        failures.append(f"resident memory grew {growth:.1f}% (limit {a.rss_limit:g}%)")
    if final["playing"] < a.streams:
        failures.append(f"only {final['playing']} of {a.streams} streams played again within {a.settle:g} s")
    if wall_status not in (0, None):
        failures.append(f"the wall exited with status {wall_status} on SIGTERM")
    status = 1 if failures else 0
else:
    failures.append("the run broke before it finished (see processes.log)")
lines += ["", "Verdict: " + ("**pass**" if status == 0 else "**fail**: " + "; ".join(failures)) + ".",
          f"Samples: `{os.path.join(a.out, 'samples.csv')}`; load average at the end: {' '.join(open('/proc/loadavg').read().split()[:3])} on {os.cpu_count()} cores."]
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t = [r["t"] / 60 for r in rows]
    fig, ax = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    for key, label in (("rss_mib", "resident"), ("pss_mib", "Pss"), ("malloc_mib", "malloc in use"), ("malloc_free_mib", "malloc free (kept for reuse)")):
        ax[0].plot(t, [r[key] for r in rows], label=label)
    ax[0].set_ylabel("MiB"); ax[0].legend(loc="lower right"); ax[0].grid(alpha=.3)
    ax[1].plot(t, [r["fds"] for r in rows], label="descriptors"); ax[1].plot(t, [r["threads"] for r in rows], label="threads")
    ax[1].legend(loc="lower right"); ax[1].grid(alpha=.3)
    ax[2].plot(t, [r["playing"] for r in rows], label="playing")
    ax[2].plot(t, [r["connecting"] + r["stalled"] + r["offline"] for r in rows], label="not playing")
    ax[2].plot(t, [r["dropped"] for r in rows], label="dropped ticks (total)")
    ax[2].legend(loc="center right"); ax[2].grid(alpha=.3); ax[2].set_xlabel("minutes")
    fig.suptitle(f"Tessera soak: {a.streams} streams, churn every {a.churn:g} s")
    fig.tight_layout(); fig.savefig(os.path.join(work, "soak.png"), dpi=90)
    lines.append(f"Plot: `{os.path.join(a.out, 'soak.png')}`.")
except ImportError:
    lines.append("(No plot: python3-matplotlib is not installed.)")
report = "\n".join(lines) + "\n"
open(os.path.join(work, "soak.md"), "w").write(report)
print(report)
sys.exit(status)
