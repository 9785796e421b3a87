#!/usr/bin/python3
"""Conformance checker for Tessera signaling backends (docs/signaling.md, protocol v1).

    signal_check.py ws://HOST:PORT/signal --room R --token-file F
                    [--admin http://HOST:PORT --admin-token-file F] [--large-room]

Checks what a wall needs from a backend: the subprotocol, hello/welcome, the snapshot's shape,
ping/pong, errors for malformed and unknown messages, refusals of bad hellos, the size limits,
unknown fields ignored, and every message received against docs/signaling/*.schema.json. With
--admin (the admin API of tessera-signal, or one like it) it also makes room events, to check that
seq grows by one and that a resume after a disconnect delivers every missed event or a snapshot.

One line per check: PASS, FAIL or SKIP, its name and why. Exit status 0 only when nothing failed.
Python 3.11 with websockets 10.4 and jsonschema (Debian: python3-websockets, python3-jsonschema).
"""
import argparse
import asyncio
import json
import pathlib
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import websockets  # noqa: E402

from signal_schema import Schemas  # noqa: E402

SUBPROTOCOL = "tessera.v1"
WALL_MAX_MESSAGE = 4 << 20  # what a wall accepts from a backend
WAIT = 5.0  # seconds to wait for any one answer
ROOM_EVENTS = {"participant.joined", "participant.updated", "participant.left", "speaker.active",
               "hand.raised", "hand.lowered", "layout.set"}


class Checker:
    def __init__(self, args):
        self.args = args
        self.token = pathlib.Path(args.token_file).read_text().strip()
        self.admin_token = pathlib.Path(args.admin_token_file).read_text().strip() if args.admin_token_file else None
        self.schemas = Schemas()
        self.received = []  # every text the backend sent, for the schema check
        self.failures = 0

    # MARK: reporting

    def report(self, status, name, why):
        if status == "FAIL":
            self.failures += 1
        print(f"{status} {name}: {why}", flush=True)

    def passed(self, name, why):
        self.report("PASS", name, why)

    def failed(self, name, why):
        self.report("FAIL", name, why)

    def skipped(self, name, why):
        self.report("SKIP", name, why)

    # MARK: the wire

    def hello(self, resume=None, **changes):
        data = {"versions": [1], "wallId": "signal-check", "nodeId": "signal-check-node", "room": self.args.room,
                "token": self.token,
                "capabilities": {"schemes": ["rtsp", "rtsps", "srt"], "codecs": ["h264"], "maxDecodes": 250, "outputs": []}}
        if resume:
            data["resume"] = resume
        data.update(changes)
        return {"v": 1, "type": "hello", "data": {k: v for k, v in data.items() if v is not None}}

    async def connect(self, subprotocols=(SUBPROTOCOL,)):
        return await websockets.connect(self.args.url, subprotocols=list(subprotocols) or None, max_size=WALL_MAX_MESSAGE,
                                        open_timeout=WAIT, close_timeout=2, ping_interval=None)

    async def recv(self, ws, timeout=WAIT):
        """The next message from the backend, parsed; raises TimeoutError or ConnectionClosed."""
        text = await asyncio.wait_for(ws.recv(), timeout)
        if isinstance(text, bytes):
            raise ProtocolProblem(f"the backend sent a binary message ({len(text)} bytes)")
        self.received.append(text)
        return json.loads(text)

    async def recv_type(self, ws, wanted, timeout=WAIT):
        """Skips room events and pongs until a message of type `wanted` (a set) comes."""
        deadline = time.monotonic() + timeout
        skipped = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError(f"no {'/'.join(sorted(wanted))} within {timeout:g} s (got {skipped})")
            m = await self.recv(ws, left)
            if m.get("type") in wanted:
                return m
            skipped.append(m.get("type"))

    async def session(self, resume=None):
        """A wall's connection: hello, then the welcome and what follows it (snapshot or events)."""
        ws = await self.connect()
        await ws.send(json.dumps(self.hello(resume)))
        welcome = await self.recv(ws)
        return ws, welcome

    async def close_code(self, ws, timeout=WAIT):
        """Reads until the backend closes; its close code (None without a close frame)."""
        messages = []
        try:
            while True:
                messages.append(await self.recv(ws, timeout))
        except websockets.ConnectionClosed as e:
            return (e.rcvd.code if e.rcvd else None), messages
        except asyncio.TimeoutError:
            await ws.close()
            return "no close", messages

    # MARK: the admin API (optional)

    def admin(self, method, path, body=None):
        url = self.args.admin.rstrip("/") + path
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.admin_token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=WAIT) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")

    def room_path(self, *parts, room=None):
        segs = [room or self.args.room, *parts]
        return "/rooms/" + "/".join(urllib.parse.quote(s, safe="") for s in segs)

    # MARK: checks

    async def check_subprotocol(self):
        name = "subprotocol"
        try:
            ws = await self.connect()
        except Exception as e:  # noqa: BLE001
            self.failed(name, f"cannot open a WebSocket to {self.args.url} offering {SUBPROTOCOL}: {e}")
            return False
        if ws.subprotocol == SUBPROTOCOL:
            self.passed(name, f"the upgrade echoes {SUBPROTOCOL}")
        else:
            self.failed(name, f"offered {SUBPROTOCOL}, the backend answered {ws.subprotocol!r}")
        await ws.close()
        return True

    async def check_handshake(self):
        """hello → welcome → snapshot; returns (ws, welcome, snapshot) for the checks that follow."""
        try:
            ws, welcome = await self.session()
        except Exception as e:  # noqa: BLE001
            self.failed("hello/welcome", f"no welcome to a good hello: {e!r}")
            return None
        problems = self.schemas.problems(json.dumps(welcome), "backend")
        if welcome.get("type") != "welcome":
            self.failed("hello/welcome", f"the first answer to hello is {welcome.get('type')!r}, not welcome: {welcome}")
            await ws.close()
            return None
        d = welcome.get("data", {})
        if problems:
            self.failed("hello/welcome", "; ".join(problems))
        elif d.get("version") != 1 or d.get("resumed") is not False:
            self.failed("hello/welcome", f"want version 1 and resumed false for a hello without resume, got {d}")
        else:
            self.passed("hello/welcome", f"version 1, heartbeatMs {d['heartbeatMs']}, maxMessageBytes {d['maxMessageBytes']}")
        try:
            snapshot = await self.recv(ws)
        except Exception as e:  # noqa: BLE001
            self.failed("snapshot", f"no message after the welcome: {e!r}")
            await ws.close()
            return None
        problems = self.schemas.problems(json.dumps(snapshot), "backend")
        if snapshot.get("type") != "snapshot":
            self.failed("snapshot", f"after welcome resumed:false came {snapshot.get('type')!r}, not snapshot")
        elif problems:
            self.failed("snapshot", "; ".join(problems))
        elif snapshot["data"]["room"] != self.args.room:
            self.failed("snapshot", f"room {snapshot['data']['room']!r}, asked for {self.args.room!r}")
        else:
            self.passed("snapshot", f"seq {snapshot['seq']}, {len(snapshot['data']['participants'])} participants, "
                                    f"{len(self.received[-1].encode())} bytes, valid against snapshot.schema.json")
        return ws, d, snapshot

    async def check_ping(self, ws, name="ping/pong", extra=False):
        t = int(time.time() * 1000)
        message = {"v": 1, "type": "ping", "data": {"t": t}}
        if extra:
            message["x-signal-check"] = {"ignored": True}
            message["data"]["x-signal-check"] = [1, 2, 3]
        await ws.send(json.dumps(message))
        try:
            m = await self.recv_type(ws, {"pong", "error"})
        except Exception as e:  # noqa: BLE001
            self.failed(name, f"no pong: {e!r}")
            return False
        if m["type"] == "error":
            self.failed(name, f"error instead of pong: {m['data']}")
        elif m.get("data", {}).get("t") != t:
            self.failed(name, f"the pong's t is {m.get('data', {}).get('t')}, the ping's {t}")
        else:
            self.passed(name, "pong echoes t" + (" (unknown fields in the envelope and data ignored)" if extra else ""))
            return True
        return False

    async def check_error(self, ws, name, text, code):
        await ws.send(text)
        try:
            m = await self.recv_type(ws, {"error", "pong"})
        except websockets.ConnectionClosed as e:
            self.failed(name, f"closed ({e.rcvd.code if e.rcvd else 'no close frame'}) instead of a non-fatal error {code}")
            return False
        except Exception as e:  # noqa: BLE001
            self.failed(name, f"no error: {e!r}")
            return False
        d = m.get("data", {})
        if m["type"] != "error" or d.get("code") != code or d.get("fatal") is not False:
            self.failed(name, f"want error {code}, not fatal; got {m}")
            return False
        self.passed(name, f"error {code}, not fatal")
        return True

    async def check_refused_hello(self, name, hello_text, code, close):
        try:
            ws = await self.connect()
            await ws.send(hello_text)
        except Exception as e:  # noqa: BLE001
            self.failed(name, f"cannot connect: {e!r}")
            return
        got, messages = await self.close_code(ws)
        errors = [m["data"] for m in messages if m.get("type") == "error"]
        if got == close and errors and errors[0].get("code") == code and errors[0].get("fatal") is True:
            self.passed(name, f"error {code} (fatal), close {close}")
        else:
            self.failed(name, f"want error {code} (fatal) and close {close}; got {[m.get('type') for m in messages]} "
                              f"{errors[:1]} and close {got}")

    async def check_sizes(self, welcome):
        limit = welcome.get("maxMessageBytes")
        if not isinstance(limit, int) or limit < 1024:
            self.skipped("size limits", f"welcome.maxMessageBytes is {limit!r}")
            return

        def status_of(size):
            base = {"v": 1, "type": "status", "data": {"seq": 0, "streams": []}, "x-padding": ""}
            pad = size - len(json.dumps(base))
            base["x-padding"] = "x" * pad
            text = json.dumps(base)
            assert len(text) == size
            return text

        for name, fragmented in (("size: whole frame at the limit", False), ("size: fragmented at the limit", True)):
            ws, _ = await self.session()
            text = status_of(limit)
            try:
                if fragmented:
                    step = 16 << 10
                    await ws.send([text[i:i + step] for i in range(0, len(text), step)])
                else:
                    await ws.send(text)
                t = int(time.time() * 1000)
                await ws.send(json.dumps({"v": 1, "type": "ping", "data": {"t": t}}))
                m = await self.recv_type(ws, {"pong", "error"})
                if m["type"] == "pong":
                    self.passed(name, f"a {limit}-byte message (welcome.maxMessageBytes) is accepted")
                else:
                    self.failed(name, f"a {limit}-byte message got {m['data']}")
            except websockets.ConnectionClosed as e:
                self.failed(name, f"a {limit}-byte message (welcome.maxMessageBytes) closed the connection "
                                  f"({e.rcvd.code if e.rcvd else 'no close frame'})")
            except Exception as e:  # noqa: BLE001
                self.failed(name, f"no pong after a {limit}-byte message: {e!r}")
            await ws.close()

        ws, _ = await self.session()
        try:
            await ws.send(status_of(limit + 1))
        except websockets.ConnectionClosed:
            pass
        got, _ = await self.close_code(ws)
        if got == 1009:
            self.passed("size: over the limit", f"a {limit + 1}-byte message gets close 1009")
        else:
            self.failed("size: over the limit", f"a {limit + 1}-byte message got close {got}, want 1009")

    async def check_events(self, ws, snapshot):
        """Admin writes make room events: each must come with seq = last + 1 and validate."""
        pid = "signal-check-p1"
        steps = [
            ("POST", self.room_path("participants"), {"id": pid, "name": "Signal Check", "role": "student",
                                                      "streams": [{"kind": "camera", "layers": [
                                                          {"width": 320, "height": 180, "fps": 15, "url": "rtsp://media.invalid/p/180"}]}]},
             "participant.joined"),
            ("PUT", self.room_path("participants", pid), {"name": "Signal Check 2"}, "participant.updated"),
            ("POST", self.room_path("hands", pid), None, "hand.raised"),
            ("DELETE", self.room_path("hands", pid), None, "hand.lowered"),
            ("POST", self.room_path("speaker"), {"id": pid}, "speaker.active"),
            ("POST", self.room_path("speaker"), {"id": None}, "speaker.active"),
            ("POST", self.room_path("layout"), {"preset": "signal-check"}, "layout.set"),
            ("DELETE", self.room_path("participants", pid), None, "participant.left"),
        ]
        last = snapshot["seq"]
        for method, path, body, expected in steps:
            status, answer = self.admin(method, path, body)
            if status != 200:
                self.failed("seq", f"admin {method} {path} answered {status}: {answer}")
                return None
            try:
                m = await self.recv_type(ws, ROOM_EVENTS)
            except Exception as e:  # noqa: BLE001
                self.failed("seq", f"no {expected} after admin {method} {path}: {e!r}")
                return None
            if m["type"] != expected or m.get("seq") != last + 1:
                self.failed("seq", f"after {method} {path} want {expected} seq {last + 1}, got {m.get('type')} seq {m.get('seq')}")
                return None
            if expected == "speaker.active" and body == {"id": None} and m["data"] != {"id": None}:
                self.failed("cleared speaker", f"want {{\"id\":null}}, got {m['data']}")
            last += 1
        self.passed("seq", f"{len(steps)} room events (every type), seq {snapshot['seq'] + 1}…{last}, each one more than the last")
        return last

    async def check_resume(self, session_id, last_seq):
        name = "resume"
        missed = []
        if self.args.admin:
            for n in (2, 3):
                status, answer = self.admin("POST", self.room_path("participants"), {"id": f"signal-check-p{n}"})
                if status != 200:
                    self.failed(name, f"admin join answered {status}: {answer}")
                    return
                status, answer = self.admin("DELETE", self.room_path("participants", f"signal-check-p{n}"))
                missed += ["participant.joined", "participant.left"]
        ws, welcome = await self.session(resume={"sessionId": session_id, "lastSeq": last_seq})
        try:
            if welcome.get("type") != "welcome":
                self.failed(name, f"the answer to a hello with resume is {welcome.get('type')!r}")
                return
            if welcome["data"].get("resumed") is True:
                got = []
                for _ in missed:
                    m = await self.recv(ws)
                    got.append(m)
                seqs = [m.get("seq") for m in got]
                want = list(range(last_seq + 1, last_seq + 1 + len(missed)))
                if [m.get("type") for m in got] == missed and seqs == want:
                    self.passed(name, f"resumed:true and the {len(missed)} missed events, seq {want[0]}…{want[-1]}, with no gap"
                                if missed else "resumed:true with nothing missed (no --admin: no events made)")
                else:
                    self.failed(name, f"resumed:true, want {missed} seq {want}; got {[m.get('type') for m in got]} seq {seqs}")
            else:
                m = await self.recv(ws)
                if m.get("type") == "snapshot" and isinstance(m.get("seq"), int) and m["seq"] >= last_seq + len(missed):
                    self.passed(name, f"resumed:false and a snapshot at seq {m['seq']} (allowed; a resume is never a gap)")
                else:
                    self.failed(name, f"resumed:false must be followed by a snapshot at seq ≥ {last_seq + len(missed)}, got {m.get('type')} seq {m.get('seq')}")
        except Exception as e:  # noqa: BLE001
            self.failed(name, f"{e!r}")
        finally:
            await ws.close()

        # A session this backend never gave out must not be resumed.
        ws, welcome = await self.session(resume={"sessionId": "signal-check-unknown-session", "lastSeq": 0})
        try:
            nxt = await self.recv(ws)
            if welcome.get("data", {}).get("resumed") is False and nxt.get("type") == "snapshot":
                self.passed("resume: unknown session", "resumed:false and a snapshot")
            else:
                self.failed("resume: unknown session", f"want resumed:false and a snapshot, got {welcome.get('data')} then {nxt.get('type')}")
        except Exception as e:  # noqa: BLE001
            self.failed("resume: unknown session", f"{e!r}")
        finally:
            await ws.close()

    async def check_minor(self):
        """Protocol 1.1 is optional: a backend without it answers no minor (1.0) and passes."""
        name = "protocol 1.1"
        ws = await self.connect()
        try:
            await ws.send(json.dumps(self.hello(minor=1)))
            welcome = await self.recv(ws)
            await self.recv(ws)  # snapshot
            minor = welcome.get("data", {}).get("minor", 0)
            if minor not in (0, 1):
                self.failed(name, f"welcome.minor {minor} to a hello with minor 1 (want the lower of the two: 0 or 1)")
            elif minor == 0:
                self.skipped(name, "the backend speaks 1.0 (no welcome.minor)")
            elif not self.args.admin:
                self.passed(name, "welcome.minor 1 (no --admin: view.set not checked)")
            else:
                status, answer = self.admin("POST", self.room_path("view"), {"page": 1, "labels": True})
                if status != 200:
                    self.failed(name, f"admin POST view answered {status}: {answer}")
                    return
                m = await self.recv_type(ws, {"view.set"})
                if m["data"].get("page") == 1 and "seq" not in m:
                    self.passed(name, f"welcome.minor 1; view.set {m['data']} without seq")
                else:
                    self.failed(name, f"want view.set page 1 without seq, got {m}")
        except Exception as e:  # noqa: BLE001
            self.failed(name, f"{e!r}")
        finally:
            await ws.close()

    async def check_large_room(self):
        name = "largest room"
        room = self.args.room + "-large"
        start = time.monotonic()
        for n in range(1, 1001):
            status, answer = self.admin("PUT", self.room_path("participants", f"p{n}", room=room),
                                        {"name": f"Participant {n}", "role": "student", "streams": [{"kind": "camera", "layers": [
                                            {"width": 320, "height": 180, "fps": 15, "url": f"rtsp://media.school.example:8554/p{n}/180"},
                                            {"width": 1280, "height": 720, "fps": 30, "url": f"rtsp://media.school.example:8554/p{n}/720"}]}]})
            if status != 200:
                self.failed(name, f"admin PUT participant {n} answered {status}: {answer}")
                return
        ws = await self.connect()
        try:
            await ws.send(json.dumps(self.hello(room=room)))
            await self.recv(ws)
            snap = await self.recv(ws, timeout=30)
            size = len(self.received[-1].encode())
            count = len(snap.get("data", {}).get("participants", []))
            if snap.get("type") == "snapshot" and count == 1000 and size <= WALL_MAX_MESSAGE:
                self.passed(name, f"1,000 participants: a {size}-byte snapshot ({size // 1000} bytes each), "
                                  f"within the wall's {WALL_MAX_MESSAGE} ({time.monotonic() - start:.1f} s with the admin calls)")
            else:
                self.failed(name, f"want a snapshot of 1000 participants within {WALL_MAX_MESSAGE} bytes, got {snap.get('type')} "
                                  f"of {count} in {size} bytes")
        except Exception as e:  # noqa: BLE001
            self.failed(name, f"{e!r} (the wall accepts messages up to {WALL_MAX_MESSAGE} bytes, whole or fragmented)")
        finally:
            await ws.close()

    async def run(self):
        if not await self.check_subprotocol():
            return
        handshake = await self.check_handshake()
        if not handshake:
            return
        ws, welcome, snapshot = handshake
        await self.check_ping(ws)
        await self.check_ping(ws, "unknown fields ignored", extra=True)
        await self.check_error(ws, "malformed: not JSON", "{\"v\":1,\"type\":", "malformed")
        await self.check_error(ws, "malformed: data of the wrong shape",
                               json.dumps({"v": 1, "type": "subscribe", "data": {"streams": "all"}}), "malformed")
        await self.check_error(ws, "unknown type", json.dumps({"v": 1, "type": "signal-check.unknown", "data": {}}), "unknown-type")
        await self.check_error(ws, "type for the other direction", json.dumps({"v": 1, "type": "welcome", "data": {}}), "unknown-type")
        await self.check_ping(ws, "alive after the errors")

        last_seq = snapshot["seq"]
        if self.args.admin:
            got = await self.check_events(ws, snapshot)
            last_seq = got if got is not None else last_seq
        else:
            self.skipped("seq", "needs --admin to make room events")
        await ws.close()
        await self.check_resume(welcome["sessionId"], last_seq)

        await self.check_refused_hello("bad token", json.dumps(self.hello(token="signal-check-wrong-token")), "unauthorized", 4001)
        no_token = self.hello()
        del no_token["data"]["token"]
        await self.check_refused_hello("hello without token", json.dumps(no_token), "unauthorized", 4001)
        v2 = self.hello()
        v2["v"] = 2
        await self.check_refused_hello("envelope v 2", json.dumps(v2), "unsupported-version", 4002)
        await self.check_refused_hello("no common version", json.dumps(self.hello(versions=[99])), "unsupported-version", 4002)
        await self.check_refused_hello("message before hello", json.dumps({"v": 1, "type": "ping", "data": {"t": 1}}),
                                       "hello-required", 4003)
        await self.check_sizes(welcome)
        await self.check_minor()
        if self.args.large_room and self.args.admin:
            await self.check_large_room()
        else:
            self.skipped("largest room", "needs --admin and --large-room (fills ROOM-large with 1,000 participants)")

        problems = []
        for text in self.received:
            problems += [f"{json.loads(text).get('type')}: {p}" for p in self.schemas.problems(text, "backend")]
        if problems:
            self.failed("schemas", f"{len(problems)} problems in {len(self.received)} messages: " + "; ".join(problems[:5]))
        else:
            self.passed("schemas", f"all {len(self.received)} messages from the backend valid against docs/signaling/*.schema.json")


class ProtocolProblem(Exception):
    pass


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url", help="the backend's WebSocket URL, ws://HOST:PORT/signal or wss://…")
    p.add_argument("--room", required=True, help="a room the wall token may join (created if the backend does)")
    p.add_argument("--token-file", required=True, help="file holding the wall token")
    p.add_argument("--admin", help="base URL of a tessera-signal-style admin API, e.g. http://127.0.0.1:8700")
    p.add_argument("--admin-token-file", help="file holding the admin token (with --admin)")
    p.add_argument("--large-room", action="store_true", help="also fill ROOM-large with 1,000 participants (with --admin)")
    args = p.parse_args()
    if args.admin and not args.admin_token_file:
        p.error("--admin needs --admin-token-file")
    checker = Checker(args)
    try:
        asyncio.run(checker.run())
    except KeyboardInterrupt:
        return 130
    print(f"{'FAIL' if checker.failures else 'OK'}: {checker.failures} checks failed", flush=True)
    return 1 if checker.failures else 0


if __name__ == "__main__":
    sys.exit(main())
