#!/usr/bin/python3
"""End-to-end: the real wall (`tessera run`) against backend.py, over loopback.

    /usr/bin/python3 tools/pybackend/wall_test.py [--tessera PATH] [--keep DIR]

Prints PASS/FAIL per check; exit status 0 only when all pass. Every wait is bounded; both processes
are killed at the end. Uses only what docs/signaling.md says (messages are read back through the
backend's control socket, which logs every message exchanged and validates it against the schemas).
"""

import argparse
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import backend as pyb  # noqa: E402  (for its Schemas class)

ROOM = "physics-101"
RESULTS = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(name, ok, detail=""):
    RESULTS.append((name, bool(ok)))
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
    return ok


def wait_for(pred, timeout, step=0.25):
    """Polls pred() until it returns something truthy or timeout passes; returns the last value."""
    end = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
        except (OSError, ValueError, KeyError):
            last = None
        if last or time.monotonic() > end:
            return last
        time.sleep(step)


class Control:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.f = self.sock.makefile("rw", encoding="utf-8")

    def __call__(self, **req):
        req.setdefault("room", ROOM)
        self.f.write(json.dumps(req) + "\n")
        self.f.flush()
        answer = json.loads(self.f.readline())
        if not answer.get("ok"):
            raise ValueError(f"control {req['op']}: {answer}")
        return answer

    def close(self):
        self.sock.close()


class Backend:
    def __init__(self, tmp, port, token_file, name, ring=4096):
        self.ready = os.path.join(tmp, f"{name}.ready")
        self.logf = open(os.path.join(tmp, f"{name}.log"), "w")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(HERE, "backend.py"), "--listen", f"127.0.0.1:{port}",
             "--token-file", token_file, "--ready-file", self.ready, "--heartbeat-ms", "2000", "--ring-capacity", str(ring),
             "--transcript", os.path.join(tmp, f"{name}.transcript.jsonl")],
            stdout=self.logf, stderr=subprocess.STDOUT)
        ports = wait_for(lambda: json.load(open(self.ready)), 15)
        if not ports:
            raise RuntimeError("backend did not start; see " + self.logf.name)
        self.ctl = Control(ports["control"])

    def stop(self):
        try:
            self.ctl.close()
        except OSError:
            pass
        stop_process(self.proc)
        self.logf.close()


def stop_process(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(12)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def popen_retrying(argv, **kw):
    """The binary may be being rewritten by a build (ETXTBSY): retry for up to 90 s."""
    end = time.monotonic() + 90
    while True:
        try:
            return subprocess.Popen(argv, **kw)
        except OSError as e:
            if e.errno != 26 or time.monotonic() > end:
                raise
            time.sleep(2)


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(hport, name):
    _, text = http_get(f"http://127.0.0.1:{hport}/metrics")
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def participant(pid, url=None):
    url = url or f"rtsp://127.0.0.1:9/{pid}"
    return {"id": pid, "name": pid.upper(), "role": "student",
            "streams": [{"kind": "camera", "layers": [{"width": 320, "height": 180, "url": url}]}]}


def messages(ctl, conn=None):
    out = []
    for e in ctl(op="log")["log"]:
        if conn is not None and e["conn"] != conn:
            continue
        try:
            out.append((e["conn"], e["dir"], json.loads(e["text"])))
        except ValueError:
            out.append((e["conn"], e["dir"], {"type": "<not json>", "text": e["text"]}))
    return out


def wall_report(ctl):
    walls = ctl(op="room")["walls"]
    return walls[0] if walls else None


def png_digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tessera", default=os.path.join(REPO, ".build", "debug", "tessera"))
    ap.add_argument("--keep", default=None, help="keep logs and snapshots in this folder")
    args = ap.parse_args()
    started = time.monotonic()
    tmp = args.keep or tempfile.mkdtemp(prefix="pyback-wall-")
    os.makedirs(tmp, exist_ok=True)
    schemas = pyb.Schemas(os.path.join(REPO, "docs", "signaling"))
    token_file = os.path.join(tmp, "wall.token")
    with open(token_file, "w") as f:
        f.write("t0ken-" + os.urandom(8).hex() + "\n")
    sport, hport = free_port(), free_port()
    snapdir = os.path.join(tmp, "snap")
    os.makedirs(snapdir, exist_ok=True)
    backend = wall = None
    try:
        backend = Backend(tmp, sport, token_file, "backend1", ring=4)  # small: the 2nd resume cannot
        ctl = backend.ctl
        for pid in ("p1", "p2"):
            ctl(op="upsert", participant=participant(pid))
        walllog = open(os.path.join(tmp, "wall.log"), "w")
        wall = popen_retrying(
            [args.tessera, "run", "--backend", "headless", "--renderer", "cpu",
             "--signal", f"ws://127.0.0.1:{sport}/signal", "--token-file", token_file, "--room", ROOM,
             "--wall-id", "test-wall", "--layout", os.path.join(REPO, "Layouts", "single-1080p.json"),
             "--health", f"127.0.0.1:{hport}", "--keyboard", "none", "--snapshot-dir", snapdir, "--fps", "2"],
            stdout=walllog, stderr=subprocess.STDOUT, cwd=REPO)

        # 1. connect, hello, welcome + snapshot; metrics and healthz
        hello = wait_for(lambda: next((m for c, d, m in messages(ctl) if d == "in" and m.get("type") == "hello"), None), 30)
        if check("wall says hello", hello is not None):
            errs = schemas.errors(hello)
            check("hello matches the schemas", not errs, "; ".join(errs))
            d = hello["data"]
            check("hello fields as the spec says",
                  d.get("versions") == [1] and d.get("room") == ROOM and d.get("wallId") == "test-wall"
                  and "resume" not in d and isinstance(d.get("capabilities", {}).get("outputs"), list),
                  json.dumps({k: v for k, v in d.items() if k != "token"}))
            with open(token_file) as f:
                check("hello carries the token from the file", d.get("token") == f.read().strip())
        out = [m for c, d, m in messages(ctl) if d == "out"]
        check("backend sent welcome then snapshot",
              [m["type"] for m in out[:2]] == ["welcome", "snapshot"], str([m["type"] for m in out[:3]]))
        connected = wait_for(lambda: metric(hport, "tessera_signal_connected") == 1
                             and metric(hport, "tessera_participants") == 2, 20)
        check("/metrics: signal connected, 2 participants", connected,
              f"connected={metric(hport, 'tessera_signal_connected')} participants={metric(hport, 'tessera_participants')}")
        code, body = http_get(f"http://127.0.0.1:{hport}/healthz")
        check("/healthz answers and does not say the signal is disconnected",
              code in (200, 503) and "disconnected" not in body, f"{code} {body.strip()[:120]}")

        # 2. subscribe and status
        rep = wait_for(lambda: (lambda r: r if r and r["subscriptions"] and r["status"] else None)(wall_report(ctl)), 15)
        subs = {s["participant"] for s in (rep or {}).get("subscriptions") or []}
        check("wall subscribes to what it shows (p1, p2)", subs == {"p1", "p2"}, json.dumps((rep or {}).get("subscriptions")))
        st = (rep or {}).get("status") or {}
        check("wall reports status with seq and per-stream state",
              st.get("seq") == ctl(op="room")["seq"] and {s["participant"] for s in st.get("streams", [])} == {"p1", "p2"},
              json.dumps(st))
        wall_msgs = [m for c, d, m in messages(ctl) if d == "in"]
        bad = [(m.get("type"), schemas.errors(m)) for m in wall_msgs if schemas.errors(m)]
        check("every wall message so far matches the schemas", not bad, str(bad[:3]))

        # 3. join, leave, hand, layout.set
        ctl(op="upsert", participant=participant("p3"))
        check("participant.joined reaches the wall",
              wait_for(lambda: metric(hport, "tessera_participants") == 3, 15),
              f"participants={metric(hport, 'tessera_participants')}")
        check("the wall subscribes to the newcomer",
              wait_for(lambda: "p3" in {s["participant"] for s in wall_report(ctl)["subscriptions"]}, 15))
        ctl(op="leave", id="p2")
        check("participant.left reaches the wall",
              wait_for(lambda: metric(hport, "tessera_participants") == 2, 15),
              f"participants={metric(hport, 'tessera_participants')}")
        ctl(op="hand", id="p1", raised=True)
        seq = ctl(op="room")["seq"]
        check("hand.raised reaches the wall (status.seq catches up)",
              wait_for(lambda: wall_report(ctl)["status"]["seq"] == seq, 15),
              f"room seq {seq}, status {wall_report(ctl)['status']}")
        ctl(op="speaker", id="p3")
        seq = ctl(op="room")["seq"]
        check("speaker.active reaches the wall (status.seq catches up)",
              wait_for(lambda: wall_report(ctl)["status"]["seq"] == seq, 15),
              f"room seq {seq}, status seq {wall_report(ctl)['status']['seq']}")
        png = os.path.join(snapdir, "main.png")
        before = wait_for(lambda: png_digest(png), 10)
        lay = ctl(op="layout", preset="speaker")["layout"]
        changed = wait_for(lambda: wall_report(ctl)["layout"], 15)
        check("layout.set: wall reports layout.changed {speaker, rev, source backend}",
              changed == {"preset": "speaker", "rev": lay["rev"], "source": "backend"}, json.dumps(changed))
        check("the PNG snapshot changes with the preset",
              wait_for(lambda: png_digest(png) != before, 10))

        # 3b. protocol 1.1: view.set reaches a 1.1 wall, which reports view.changed (source backend)
        if check("wall speaks 1.1 (hello.minor 1) and the backend answers welcome.minor 1",
                 hello and hello["data"].get("minor") == 1 and out and out[0]["data"].get("minor") == 1):
            view = ctl(op="view", spotlight="p1", labels=False)["view"]
            got = wait_for(lambda: (lambda v: v if v and v.get("source") == "backend" and v.get("spotlight") == "p1"
                                    and v.get("labels") is False else None)(wall_report(ctl)["view"]), 15)
            check("view.set: wall reports view.changed {spotlight p1, labels false, source backend}", got,
                  json.dumps(wall_report(ctl)["view"]))

        # 4. resume after a dropped connection; snapshot after a backend restart
        old_conn = max(c for c, d, m in messages(ctl))
        session = next(m["data"]["sessionId"] for c, d, m in reversed(messages(ctl))
                       if d == "out" and m["type"] == "welcome")
        ctl(op="drop", code=1011)
        ctl(op="upsert", participant=participant("p4"))  # an event the wall misses while away
        seq = ctl(op="room")["seq"]
        hello2 = wait_for(lambda: next((m for c, d, m in messages(ctl)
                                        if c > old_conn and d == "in" and m.get("type") == "hello"), None), 20)
        res = (hello2 or {}).get("data", {}).get("resume")
        check("wall reconnects with hello.resume of its session", res is not None and res["sessionId"] == session,
              json.dumps(res))
        welcome2 = wait_for(lambda: next((m for c, d, m in messages(ctl)
                                          if c > old_conn and d == "out" and m.get("type") == "welcome"), None), 5)
        check("backend resumes it (resumed: true, no snapshot)",
              welcome2 and welcome2["data"]["resumed"] is True
              and not any(m["type"] == "snapshot" for c, d, m in messages(ctl) if c > old_conn and d == "out"))
        check("the missed event reaches the wall after the resume",
              wait_for(lambda: metric(hport, "tessera_participants") == 3, 15)
              and wait_for(lambda: wall_report(ctl)["status"]["seq"] == seq, 15),
              f"participants={metric(hport, 'tessera_participants')}")

        # more missed events than the ring (4) holds: the backend must answer with a snapshot
        old_conn = max(c for c, d, m in messages(ctl))
        ctl(op="drop", code=1011)
        for i in range(3):
            ctl(op="hand", id="p1", raised=False)
            ctl(op="hand", id="p1", raised=True)
        seq = ctl(op="room")["seq"]
        hello_r = wait_for(lambda: next((m for c, d, m in messages(ctl)
                                         if c > old_conn and d == "in" and m.get("type") == "hello"), None), 20)
        out_r = [m for c, d, m in messages(ctl) if c > old_conn and d == "out"]
        check("a resume past the ring gets resumed: false and a snapshot",
              hello_r and "resume" in hello_r["data"] and [m["type"] for m in out_r[:2]] == ["welcome", "snapshot"]
              and out_r[0]["data"]["resumed"] is False and out_r[1]["seq"] == seq,
              f"resume {json.dumps((hello_r or {}).get('data', {}).get('resume'))}, sent {[m['type'] for m in out_r[:3]]}")
        check("the wall applies it (status.seq catches up)",
              wait_for(lambda: wall_report(ctl)["status"]["seq"] == seq, 15),
              f"room seq {seq}, status seq {wall_report(ctl)['status']['seq']}")
        bad = ctl(op="room")["schemaErrors"]
        check("no message either way broke the schemas (backend 1)", not bad, json.dumps(bad[:3]))
        backend.stop()
        backend = None
        check("/metrics shows the backend gone", wait_for(lambda: metric(hport, "tessera_signal_connected") == 0, 10))
        backend = Backend(tmp, sport, token_file, "backend2")
        ctl = backend.ctl
        for pid in ("q1", "q2", "q3", "q4", "q5"):
            ctl(op="upsert", participant=participant(pid))
        # the wall waits bye.retryAfterMs (5 s) before it reconnects
        hello3 = wait_for(lambda: next((m for c, d, m in messages(ctl) if d == "in" and m.get("type") == "hello"), None), 25)
        check("after the restart the wall resumes its old session", hello3 and "resume" in hello3["data"],
              json.dumps((hello3 or {}).get("data", {}).get("resume")))
        out = [m for c, d, m in messages(ctl) if d == "out"]
        check("the restarted backend answers with resumed: false and a snapshot",
              [m["type"] for m in out[:2]] == ["welcome", "snapshot"] and out[0]["data"]["resumed"] is False)
        check("the wall takes the new room (5 participants)",
              wait_for(lambda: metric(hport, "tessera_participants") == 5 and metric(hport, "tessera_signal_connected") == 1, 15),
              f"participants={metric(hport, 'tessera_participants')}")

        # 5. a disallowed scheme is refused and reported
        ctl(op="upsert", participant=participant("p9", "file:///etc/passwd"))
        err = wait_for(lambda: next((e for e in wall_report(ctl)["errors"] if e.get("participant") == "p9"), None), 15)
        check("file:// URL: wall sends error url-refused for p9, not fatal",
              err and err["code"] == "url-refused" and err["fatal"] is False, json.dumps(err))
        check("p9 stays on the roster without a stream",
              wait_for(lambda: metric(hport, "tessera_participants") == 6, 10),
              f"participants={metric(hport, 'tessera_participants')}")
        with open(os.path.join(tmp, "wall.log"), "rb") as f:
            check("the wall never logs the token", open(token_file).read().strip().encode() not in f.read())
        room = ctl(op="room")
        bad = room["schemaErrors"]
        check("no message either way broke the schemas (backend 2)", not bad, json.dumps(bad[:3]))
    except Exception as e:  # a crash is a failure, never a hang
        check("test ran to the end", False, repr(e))
    finally:
        if wall is not None:
            stop_process(wall)
            check("the wall ends on SIGTERM", wall.returncode is not None, f"rc={wall.returncode}")
        if backend is not None:
            backend.stop()
    failed = [n for n, ok in RESULTS if not ok]
    print(f"{len(RESULTS) - len(failed)}/{len(RESULTS)} passed in {time.monotonic() - started:.0f} s; logs in {tmp}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
