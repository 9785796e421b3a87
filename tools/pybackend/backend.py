#!/usr/bin/python3
"""A Tessera signaling backend (protocol v1) written from docs/signaling.md and its JSON Schemas alone.

Wall side:    ws://HOST:PORT/signal, subprotocol tessera.v1.
Control side: a JSON-lines TCP socket (--control HOST:PORT): one JSON object per line in, one out.
  {"op":"upsert","room":"R","participant":{"id":"p1","name":"Ada",...}}   join or update (fields given replace)
  {"op":"leave","room":"R","id":"p1"}
  {"op":"hand","room":"R","id":"p1","raised":true|false}
  {"op":"speaker","room":"R","id":"p1"|null}
  {"op":"layout","room":"R","preset":"speaker","applyAt":1767225600000}   applyAt optional
  {"op":"view","room":"R","page":1,"spotlight":"p1"|null,"labels":false}  protocol 1.1, each optional
  {"op":"room","room":"R"}          -> seq, snapshot, walls (what each reported), schemaErrors
  {"op":"drop","room":"R","code":1011}   close every wall of the room (no bye), to test resume
  {"op":"log","room":"R"}           -> every message exchanged with the room's walls
Answers: {"ok":true,...} or {"ok":false,"error":"..."}.

Requires Python 3.11, websockets 10.4, jsonschema (Debian: python3-websockets, python3-jsonschema).
"""

import argparse
import asyncio
import collections
import http
import json
import logging
import os
import re
import signal
import sys
import time
import uuid

import jsonschema
import websockets

log = logging.getLogger("pybackend")

SUBPROTOCOL = "tessera.v1"
MAX_FROM_WALL = 262_144
MAX_PARTICIPANTS = 1000
MAX_QUEUED_PER_WALL = 8192
HELLO_TIMEOUT = 10.0
RATE_PER_S = 50.0
RATE_BURST = 100.0
RATE_STRIKES_TO_CLOSE = 10
WALL_ERRORS_KEPT = 64
LOG_KEPT = 2000
ROOM_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

WALL_TYPES = {"hello", "layout.changed", "subscribe", "status", "view.changed"}
BACKEND_TYPES = {"welcome", "snapshot", "participant.joined", "participant.updated", "participant.left",
                 "speaker.active", "hand.raised", "hand.lowered", "layout.set", "view.set"}
MINOR = 1  # protocol 1.1: view.changed / view.set
BOTH_TYPES = {"ping", "pong", "error", "bye"}
ROOM_EVENT_TYPES = BACKEND_TYPES - {"welcome", "snapshot", "view.set"}
ROLES = {"teacher", "student", "guest"}


# ---------------------------------------------------------------------------------------------
# Schemas

class Schemas:
    """Validates whole messages against envelope.schema.json (which checks data by type)."""

    def __init__(self, directory):
        store = {}
        self.by_file = {}
        for name in sorted(os.listdir(directory)):
            if name.endswith(".schema.json"):
                with open(os.path.join(directory, name), encoding="utf-8") as f:
                    schema = json.load(f)
                self.by_file[name] = schema
                store[schema.get("$id", name)] = schema
        env = self.by_file["envelope.schema.json"]
        self.senders = env.get("x-senders", {})
        resolver = jsonschema.RefResolver(base_uri=env["$id"], referrer=env, store=store)
        self.envelope = jsonschema.Draft202012Validator(env, resolver=resolver)
        self.mismatches = []  # (direction, text, error)

    def errors(self, message):
        return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                for e in self.envelope.iter_errors(message)]

    def check(self, direction, message, text):
        """Logs loudly and records any mismatch; returns the list of errors."""
        errs = self.errors(message)
        if errs:
            log.error("SCHEMA MISMATCH (%s): %s :: %s", direction, "; ".join(errs), text[:300])
            self.mismatches.append({"direction": direction, "text": text[:2000], "errors": errs})
            del self.mismatches[:-200]
        return errs


# ---------------------------------------------------------------------------------------------
# Rooms

class Room:
    def __init__(self, name, ring_capacity):
        self.name = name
        self.epoch = uuid.uuid4().hex[:12]
        self.seq = 0
        self.ring = collections.deque(maxlen=ring_capacity)  # (seq, text)
        self.participants = {}  # id -> record (dict), insertion order = join order
        self.join_counter = 0
        self.hand_counter = 0
        self.speaker = None
        self.layout = None  # {"preset", "rev", "applyAt"?}
        self.layout_rev = 0
        self.view = None  # protocol 1.1: {"page", "spotlight", "labels", "rev"} once set
        self.view_fields = set()  # the fields ever set: view.set carries only these (absent keeps the wall's own)
        self.walls = {}  # connection id -> WallConn
        self.reports = {}  # (wallId, nodeId) -> reported state
        self.log = collections.deque(maxlen=LOG_KEPT)

    def snapshot_data(self):
        data = {"room": self.name,
                "participants": sorted(self.participants.values(), key=lambda p: p["joinOrder"])}
        if self.speaker is not None:
            data["activeSpeaker"] = self.speaker
        if self.layout is not None:
            data["layout"] = dict(self.layout)
        return data


class Backend:
    def __init__(self, args, schemas):
        self.args = args
        self.schemas = schemas
        self.rooms = {}
        self.conns = set()
        self.transcript = open(args.transcript, "a", encoding="utf-8") if args.transcript else None

    def room(self, name, create=True):
        r = self.rooms.get(name)
        if r is None and create:
            r = self.rooms[name] = Room(name, self.args.ring_capacity)
            log.info("room %s created, epoch %s", name, r.epoch)
        return r

    def admin_token(self):
        if not self.args.admin_token_file:
            return None
        with open(self.args.admin_token_file, encoding="utf-8") as f:
            return f.read().strip()

    def token(self):
        with open(self.args.token_file, encoding="utf-8") as f:
            return f.read().strip()

    # --- room events ------------------------------------------------------------------------

    def emit(self, room, type_, data):
        room.seq += 1
        msg = {"v": 1, "type": type_, "seq": room.seq, "data": data}
        text = json.dumps(msg, separators=(",", ":"))
        self.schemas.check("backend→wall", msg, text)
        room.ring.append((room.seq, text))
        for conn in list(room.walls.values()):
            conn.enqueue(text)
        return room.seq

    def upsert(self, room, body):
        if not isinstance(body, dict):
            raise ValueError("participant must be an object")
        pid = body.get("id")
        if not isinstance(pid, str) or not 1 <= len(pid.encode()) <= 128:
            raise ValueError("id must be 1-128 bytes")
        if "role" in body and body["role"] not in ROLES:
            raise ValueError("role must be teacher, student or guest")
        for key, typ in (("name", str), ("sharesScreen", bool), ("streams", list)):
            if key in body and not isinstance(body[key], typ):
                raise ValueError(f"{key} has a wrong type")
        old = room.participants.get(pid)
        if old is None:
            if len(room.participants) >= MAX_PARTICIPANTS:
                raise ValueError("room is full")
            rec = {"id": pid, "version": 1, "name": body.get("name", pid), "role": body.get("role", "student"),
                   "joinOrder": room.join_counter, "sharesScreen": body.get("sharesScreen", False),
                   "streams": body.get("streams", [])}
            room.join_counter += 1
            room.participants[pid] = rec
            self.emit(room, "participant.joined", dict(rec))
        else:
            rec = old
            for key in ("name", "role", "sharesScreen", "streams"):
                if key in body:
                    rec[key] = body[key]
            rec["version"] += 1
            self.emit(room, "participant.updated", dict(rec))
        return dict(rec)

    def leave(self, room, pid):
        if pid not in room.participants:
            raise KeyError("no such participant")
        del room.participants[pid]
        if room.speaker == pid:
            room.speaker = None  # the wall clears it on participant.left (spec: no separate event)
        self.emit(room, "participant.left", {"id": pid})

    def hand(self, room, pid, raised):
        rec = room.participants.get(pid)
        if rec is None:
            raise KeyError("no such participant")
        if raised and rec.get("handRaisedOrder") is None:
            room.hand_counter += 1
            rec["handRaisedOrder"] = room.hand_counter
            rec["version"] += 1
            self.emit(room, "hand.raised", {"id": pid, "order": room.hand_counter, "version": rec["version"]})
        elif not raised and rec.get("handRaisedOrder") is not None:
            del rec["handRaisedOrder"]
            rec["version"] += 1
            self.emit(room, "hand.lowered", {"id": pid, "version": rec["version"]})

    def set_speaker(self, room, pid):
        if pid is not None and pid not in room.participants:
            raise KeyError("no such participant")
        if pid != room.speaker:
            room.speaker = pid
            self.emit(room, "speaker.active", {"id": pid})

    def set_layout(self, room, preset, apply_at=None):
        if not isinstance(preset, str) or not 1 <= len(preset.encode()) <= 128:
            raise ValueError("preset must be 1-128 bytes")
        room.layout_rev += 1
        room.layout = {"preset": preset, "rev": room.layout_rev}
        if apply_at is not None:
            if not isinstance(apply_at, int) or isinstance(apply_at, bool):
                raise ValueError("applyAt must be an integer")
            room.layout["applyAt"] = apply_at
        self.emit(room, "layout.set", dict(room.layout))
        return dict(room.layout)

    def set_view(self, room, fields, source_conn=None):
        """Protocol 1.1: merge fields into the room's view and send view.set to every 1.1 wall."""
        page = fields.get("page")
        if page is not None and (not isinstance(page, int) or isinstance(page, bool) or not 0 <= page <= 9999):
            raise ValueError("page must be an integer in 0...9999")
        if "spotlight" in fields and fields["spotlight"] is not None:
            if not isinstance(fields["spotlight"], str):
                raise ValueError("spotlight must be a string or null")
            if source_conn is None and fields["spotlight"] not in room.participants:
                raise KeyError("spotlight: no such participant")
        if "labels" in fields and fields["labels"] is not None and not isinstance(fields["labels"], bool):
            raise ValueError("labels must be a boolean")
        view = dict(room.view or {"page": 0, "spotlight": None, "labels": True, "rev": 0})
        for key in ("page", "spotlight", "labels"):
            if key in fields and (fields[key] is not None or key == "spotlight"):
                view[key] = fields[key]
                room.view_fields.add(key)
        view["rev"] += 1
        room.view = view
        for conn in list(room.walls.values()):
            if conn.minor >= 1:
                conn.enqueue(conn.view_set_text())
        return dict(view)


# ---------------------------------------------------------------------------------------------
# One wall connection

class Closing(Exception):
    pass


class WallConn:
    counter = 0

    def __init__(self, backend, ws):
        WallConn.counter += 1
        self.cid = WallConn.counter
        self.backend = backend
        self.ws = ws
        self.room = None
        self.key = None
        self.queue = asyncio.Queue()
        self.overflowed = False
        self.tokens = RATE_BURST
        self.last_refill = time.monotonic()
        self.strikes = 0
        self.minor = 0

    # -- logging and sending --
    def record(self, direction, text):
        if self.room is not None:
            entry = {"conn": self.cid, "dir": direction, "t": time.time(), "text": text[:4000]}
            self.room.log.append(entry)
            if self.backend.transcript is not None:
                self.backend.transcript.write(json.dumps(entry | {"room": self.room.name}) + "\n")
                self.backend.transcript.flush()

    def enqueue(self, text):
        if self.overflowed:
            return
        if self.queue.qsize() >= MAX_QUEUED_PER_WALL:
            self.overflowed = True
            log.warning("wall %s: queue over %d, closing 4013", self.key, MAX_QUEUED_PER_WALL)
            self.detach()
            self.queue.put_nowait(("close", 4013, "queue overflow: read faster, then resume"))
            return
        self.queue.put_nowait(("text", text))

    def message(self, type_, data, seq=None):
        msg = {"v": 1, "type": type_, "data": data}
        if seq is not None:
            msg["seq"] = seq
        text = json.dumps(msg, separators=(",", ":"))
        self.backend.schemas.check("backend→wall", msg, text)
        return text

    def view_set_text(self):
        v = self.room.view
        data = {k: v[k] for k in ("page", "spotlight", "labels") if k in self.room.view_fields}
        data["rev"] = v["rev"]
        return self.message("view.set", data)

    async def send_now(self, type_, data):
        text = self.message(type_, data)
        self.record("out", text)
        await self.ws.send(text)

    async def fatal(self, code, message, close_code):
        log.warning("wall conn %d: fatal %s (%s), close %d", self.cid, code, message, close_code)
        try:
            await self.send_now("error", {"code": code, "message": message, "fatal": True})
            await self.ws.close(close_code, message[:123])
        except websockets.ConnectionClosed:
            pass
        raise Closing()

    async def nonfatal(self, code, message):
        log.info("wall %s: error %s: %s", self.key, code, message)
        self.enqueue(self.message("error", {"code": code, "message": message, "fatal": False}))

    def detach(self):
        if self.room is not None:
            self.room.walls.pop(self.cid, None)

    async def writer(self):
        while True:
            item = await self.queue.get()
            if item[0] == "text":
                self.record("out", item[1])
                await self.ws.send(item[1])
            else:
                await self.ws.close(item[1], item[2][:123])
                return

    # -- parsing --
    def parse(self, raw):
        """Returns (message, problem): problem is (code, text) for malformed input."""
        if isinstance(raw, bytes):
            return None, ("malformed", "binary messages are not part of v1")
        try:
            msg = json.loads(raw)
        except ValueError as e:
            return None, ("malformed", f"not JSON: {e}")
        if not isinstance(msg, dict) or not {"v", "type", "data"} <= msg.keys():
            return None, ("malformed", "not an envelope: needs v, type and data")
        return msg, None

    # -- the session --
    async def run(self):
        ws = self.ws
        try:
            try:
                raw = await asyncio.wait_for(ws.recv(), HELLO_TIMEOUT)
            except asyncio.TimeoutError:
                log.warning("wall conn %d: no hello within %.0f s, close 4003", self.cid, HELLO_TIMEOUT)
                await ws.close(4003, "no hello within 10 s")
                return
            await self.handshake(raw)
            writer = asyncio.create_task(self.writer())
            try:
                reader = asyncio.create_task(self.read_loop())
                done, _ = await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
                for t in (writer, reader):
                    if not t.done():
                        t.cancel()
                for t in done:
                    exc = t.exception()
                    if exc and not isinstance(exc, (websockets.ConnectionClosed, Closing)):
                        log.error("wall %s: %r", self.key, exc)
            finally:
                writer.cancel()
        except (websockets.ConnectionClosed, Closing):
            pass
        finally:
            self.detach()
            log.info("wall conn %d (%s) ended: close %s %s", self.cid, self.key, ws.close_code, ws.close_reason)

    async def handshake(self, raw):
        b = self.backend
        msg, problem = self.parse(raw)
        if problem:
            if isinstance(raw, bytes):
                await self.fatal("hello-required", "the first message must be a hello (text)", 4003)
            log.error("first message from wall conn %d: %s: %r", self.cid, problem[1], raw[:300])
            await self.fatal("malformed", problem[1], 1008)
        b.schemas.check("wall→backend(first)", msg, raw)
        if msg.get("v") != 1:
            await self.fatal("unsupported-version", f"envelope v must be 1, got {msg.get('v')!r}", 4002)
        t = msg.get("type")
        if t != "hello":
            if t in WALL_TYPES or t in BOTH_TYPES:
                await self.fatal("hello-required", f"the first message must be hello, not {t!r}", 4003)
            await self.fatal("unknown-type", f"unknown or backend-only type {t!r} as first message", 4003)
        data = msg["data"]
        if not isinstance(data, dict) or not isinstance(data.get("token"), str):
            await self.fatal("unauthorized", "missing token", 4001)
        errs = jsonschema.Draft202012Validator(b.schemas.by_file["hello.schema.json"]).iter_errors(data)
        errs = [e.message for e in errs]
        if errs:
            await self.fatal("malformed", "hello: " + "; ".join(errs)[:200], 1008)
        if 1 not in data["versions"]:
            await self.fatal("unsupported-version", f"no common version in {data['versions']}; this backend speaks [1]", 4002)
        try:
            good = b.token()
        except OSError as e:
            log.error("cannot read the wall token file: %s", e)
            good = None
        if not good or data["token"] != good:
            await self.fatal("unauthorized", "bad token", 4001)
        if not ROOM_RE.match(data["room"]):
            await self.fatal("unknown-room", "room names are 1-128 of A-Z a-z 0-9 . _ -", 1008)

        room = b.room(data["room"])
        self.room = room
        self.key = f"{data['wallId']}/{data['nodeId']}"
        self.record("in", raw)
        rep = room.reports.setdefault(self.key, {"wallId": data["wallId"], "nodeId": data["nodeId"],
                                                 "subscriptions": None, "status": None, "layout": None,
                                                 "errors": [], "hellos": [], "minor": 0, "view": None})
        rep["hellos"].append(data | {"token": "<redacted>"})
        del rep["hellos"][:-16]
        self.report = rep

        # Decide: resume or snapshot. No await between here and registration: nothing is missed.
        resume = data.get("resume")
        resumed = False
        missed = []
        if isinstance(resume, dict):
            sid, last = resume["sessionId"], resume["lastSeq"]
            if sid.startswith(room.epoch + ".") and last <= room.seq:
                if last == room.seq:
                    resumed = True
                elif room.ring and room.ring[0][0] <= last + 1:
                    missed = [text for (s, text) in room.ring if s > last]
                    resumed = len(missed) + 1 <= MAX_QUEUED_PER_WALL
            log.info("wall %s hello resume %s lastSeq %d: %s (room seq %d, epoch %s)", self.key, sid, last,
                     "resumed" if resumed else "snapshot", room.seq, room.epoch)
        session = f"{room.epoch}.{uuid.uuid4()}"
        wall_minor = data.get("minor")
        self.minor = min(wall_minor, MINOR) if isinstance(wall_minor, int) and wall_minor > 0 else 0
        rep["minor"] = self.minor
        welcome = {"version": 1, "sessionId": session, "heartbeatMs": b.args.heartbeat_ms,
                   "maxMessageBytes": MAX_FROM_WALL, "resumed": resumed}
        if self.minor:
            welcome["minor"] = self.minor
        self.enqueue(self.message("welcome", welcome))
        if resumed:
            for text in missed:
                self.enqueue(text)
        else:
            self.enqueue(self.message("snapshot", room.snapshot_data(), seq=room.seq))
        if self.minor >= 1 and room.view is not None:
            self.enqueue(self.view_set_text())
        room.walls[self.cid] = self
        log.info("wall %s joined room %s (session %s, resumed %s, %d missed)", self.key, room.name, session,
                 resumed, len(missed))

    def rate_ok(self):
        now = time.monotonic()
        self.tokens = min(RATE_BURST, self.tokens + (now - self.last_refill) * RATE_PER_S)
        self.last_refill = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    async def read_loop(self):
        b = self.backend
        async for raw in self.ws:
            self.record("in", raw if isinstance(raw, str) else repr(raw[:200]))
            if not self.rate_ok():
                self.strikes += 1
                if self.strikes >= RATE_STRIKES_TO_CLOSE:
                    self.detach()
                    self.queue.put_nowait(("close", 4029, "over 50 messages/s"))
                    return
                await self.nonfatal("rate-limited", "over 50 messages/s (burst 100): message dropped")
                continue
            msg, problem = self.parse(raw)
            if problem:
                log.error("wall %s sent %s: %r", self.key, problem[1], str(raw)[:300])
                await self.nonfatal(*problem)
                continue
            errs = b.schemas.check("wall→backend", msg, raw)
            if msg.get("v") != 1:
                self.detach()
                await self.fatal("unsupported-version", f"envelope v must be 1, got {msg.get('v')!r}", 4002)
            t = msg["type"]
            if (t not in WALL_TYPES and t not in BOTH_TYPES) or (t == "view.changed" and self.minor < 1):
                await self.nonfatal("unknown-type", f"{t!r} is unknown or sent only by a backend")
                continue
            if errs:
                await self.nonfatal("malformed", f"{t}: " + "; ".join(errs)[:300])
                continue
            data = msg["data"]
            rep = self.report
            if t == "hello":
                await self.nonfatal("malformed", "a second hello")
            elif t == "ping":
                self.enqueue(self.message("pong", {"t": data["t"]}))
            elif t == "pong":
                pass
            elif t == "subscribe":
                rep["subscriptions"] = data["streams"]
            elif t == "status":
                rep["status"] = data
            elif t == "layout.changed":
                rep["layout"] = data
            elif t == "view.changed":
                rep["view"] = data
                if data["source"] in ("keyboard", "file"):
                    # the wall's own change becomes the room's view, sent to every 1.1 wall (the reporter too)
                    b.set_view(self.room, {k: data[k] for k in ("page", "spotlight", "labels")}, source_conn=self)
            elif t == "error":
                rep["errors"].append(data)
                del rep["errors"][:-WALL_ERRORS_KEPT]
                log.warning("wall %s reports error %s: %s", self.key, data.get("code"), data.get("message"))
            elif t == "bye":
                log.info("wall %s says bye: %s", self.key, data.get("reason"))
                self.detach()
                self.queue.put_nowait(("close", 1000, "bye"))
                return


# ---------------------------------------------------------------------------------------------
# Control socket

async def control_client(backend, reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            try:
                req = json.loads(line)
                answer = control_op(backend, req)
                if asyncio.iscoroutine(answer):
                    answer = await answer
                answer = {"ok": True} | (answer or {})
            except (ValueError, KeyError, TypeError) as e:
                answer = {"ok": False, "error": str(e)}
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


def control_op(b, req):
    op = req["op"]
    name = req["room"]
    if not isinstance(name, str) or not ROOM_RE.match(name):
        raise ValueError("room names are 1-128 of A-Z a-z 0-9 . _ -")
    if op in ("room", "log"):
        room = b.room(name, create=False)
        if room is None:
            raise KeyError("no such room")
        if op == "log":
            return {"log": list(room.log)}
        return {"seq": room.seq, "epoch": room.epoch, "snapshot": room.snapshot_data(),
                "walls": list(room.reports.values()), "connected": len(room.walls), "view": room.view,
                "schemaErrors": b.schemas.mismatches}
    room = b.room(name)
    if op == "upsert":
        return {"participant": b.upsert(room, req["participant"])}
    if op == "leave":
        b.leave(room, req["id"])
    elif op == "hand":
        b.hand(room, req["id"], bool(req["raised"]))
    elif op == "speaker":
        b.set_speaker(room, req.get("id"))
    elif op == "layout":
        return {"layout": b.set_layout(room, req["preset"], req.get("applyAt"))}
    elif op == "view":
        return {"view": b.set_view(room, {k: req[k] for k in ("page", "spotlight", "labels") if k in req})}
    elif op == "drop":
        code = int(req.get("code", 1011))
        for conn in list(room.walls.values()):
            conn.detach()
            conn.queue.put_nowait(("close", code, "dropped by the control socket"))
    else:
        raise ValueError(f"unknown op {op!r}")
    return {}


# ---------------------------------------------------------------------------------------------
# HTTP admin API (the shape docs/signaling.md gives for tessera-signal), on its own port

ADMIN_MAX_BODY = 1 << 20


async def admin_client(backend, reader, writer):
    try:
        while True:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            lines = head.decode("latin-1").split("\r\n")
            try:
                method, target, _ = lines[0].split(" ", 2)
            except ValueError:
                return
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0") or 0)
            if length > ADMIN_MAX_BODY:
                status, body = 413, {"error": "body too large"}
                length = 0
                writer.write(http_response(status, body))
                await writer.drain()
                return
            raw = await asyncio.wait_for(reader.readexactly(length), 5) if length else b""
            status, body = admin_route(backend, method, target, headers, raw)
            writer.write(http_response(status, body))
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                return
    except (ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


def http_response(status, body):
    text = body if isinstance(body, str) else json.dumps(body)
    data = text.encode()
    ctype = "text/plain" if isinstance(body, str) else "application/json"
    reason = http.HTTPStatus(status).phrase
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(data)}\r\n\r\n"
            .encode() + data)


def admin_route(b, method, target, headers, raw):
    import urllib.parse
    path = target.split("?", 1)[0]
    if method == "GET" and path == "/healthz":
        return 200, "ok"
    try:
        admin = b.admin_token()
    except OSError:
        admin = None
    if not admin or headers.get("authorization") != f"Bearer {admin}":
        return 401, {"error": "unauthorized: Authorization: Bearer <admin token> required"}
    raw_segments = path.strip("/").split("/")
    segments = []
    for seg in raw_segments:
        if re.search(r"%(?![0-9A-Fa-f]{2})", seg):
            return 400, {"error": f"bad percent-encoding in {seg!r}"}
        try:
            segments.append(urllib.parse.unquote(seg, errors="strict"))
        except UnicodeDecodeError:
            return 400, {"error": f"bad percent-encoding in {seg!r}"}
    if len(segments) < 2 or segments[0] != "rooms":
        return 404, {"error": "not found"}
    name = segments[1]
    if not ROOM_RE.match(name):
        return 400, {"error": "room names are 1-128 of A-Z a-z 0-9 . _ -"}
    body = {}
    if raw:
        try:
            body = json.loads(raw)
        except ValueError as e:
            return 400, {"error": f"bad request body: not JSON: {e}"}
        if not isinstance(body, dict):
            return 400, {"error": "bad request body: not an object"}
    rest = segments[2:]
    try:
        if method == "GET" and not rest:
            room = b.room(name, create=False)
            if room is None:
                return 404, {"error": "no such room"}
            walls = [{k: v for k, v in r.items() if k != "hellos"} for r in room.reports.values()]
            answer = {"seq": room.seq, "snapshot": room.snapshot_data(), "walls": walls}
            if room.view is not None:
                answer["view"] = room.view
            return 200, answer
        if method in ("POST", "PUT") and rest and rest[0] == "participants" and len(rest) <= 2:
            if len(rest) == 2:
                body = dict(body, id=rest[1])
            elif "id" not in body:
                return 400, {"error": "bad request body: id is required"}
            return 200, b.upsert(b.room(name), body)
        if method == "DELETE" and len(rest) == 2 and rest[0] == "participants":
            b.leave(b.room(name), rest[1])
            return 200, {"ok": True}
        if method in ("POST", "DELETE") and len(rest) == 2 and rest[0] == "hands":
            b.hand(b.room(name), rest[1], method == "POST")
            return 200, {"ok": True}
        if method == "POST" and rest == ["speaker"]:
            if "id" not in body:
                return 400, {"error": "bad request body: id is required (null clears)"}
            b.set_speaker(b.room(name), body["id"])
            return 200, {"ok": True}
        if method == "POST" and rest == ["layout"]:
            if "preset" not in body:
                return 400, {"error": "bad request body: preset is required"}
            return 200, b.set_layout(b.room(name), body["preset"], body.get("applyAt"))
        if method == "POST" and rest == ["view"]:
            return 200, b.set_view(b.room(name), {k: body[k] for k in ("page", "spotlight", "labels") if k in body})
    except ValueError as e:
        return 400, {"error": f"bad request body: {e}"}
    except KeyError as e:
        return 404, {"error": str(e.args[0]) if e.args else "not found"}
    return 404, {"error": "not found"}


# ---------------------------------------------------------------------------------------------

def host_port(text):
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


async def main_async(args):
    here = os.path.dirname(os.path.abspath(__file__))
    schema_dir = args.schema_dir
    if schema_dir is None:
        schema_dir = os.path.join(here, "..", "..", "docs", "signaling")
    schemas = Schemas(schema_dir)
    log.info("schemas from %s", os.path.abspath(schema_dir))
    backend = Backend(args, schemas)

    async def process_request(path, headers):
        if path.split("?")[0] != "/signal":
            return (http.HTTPStatus.NOT_FOUND, [("Content-Type", "text/plain")], b"not found: the endpoint is /signal\n")
        offered = [p.strip() for h in headers.get_all("Sec-WebSocket-Protocol") for p in h.split(",")]
        if offered and SUBPROTOCOL not in offered:
            return (http.HTTPStatus.BAD_REQUEST, [("Content-Type", "text/plain")], b"subprotocol tessera.v1 required\n")
        return None

    async def handler(ws, path=None):
        conn = WallConn(backend, ws)
        backend.conns.add(conn)
        try:
            await conn.run()
        finally:
            backend.conns.discard(conn)

    hb = max(args.heartbeat_ms, 100) / 1000.0 if args.heartbeat_ms > 0 else 10.0  # ≤ 0: the wall keeps its 10 s
    host, port = host_port(args.listen)
    chost, cport = host_port(args.control)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    control = await asyncio.start_server(lambda r, w: control_client(backend, r, w), chost, cport)
    admin = None
    if args.admin:
        ahost, aport = host_port(args.admin)
        admin = await asyncio.start_server(lambda r, w: admin_client(backend, r, w), ahost, aport)
    async with websockets.serve(handler, host, port, subprotocols=[SUBPROTOCOL], max_size=MAX_FROM_WALL,
                                process_request=process_request, ping_interval=3 * hb, ping_timeout=3 * hb, compression=None,
                                close_timeout=2) as server:
        ports = {"signal": server.sockets[0].getsockname()[1], "control": control.sockets[0].getsockname()[1]}
        if admin is not None:
            ports["admin"] = admin.sockets[0].getsockname()[1]
            log.info("admin API on http://%s:%d", ahost, ports["admin"])
        log.info("listening: ws://%s:%d/signal, control %s:%d", host, ports["signal"], chost, ports["control"])
        if args.ready_file:
            with open(args.ready_file + ".tmp", "w") as f:
                json.dump(ports, f)
            os.replace(args.ready_file + ".tmp", args.ready_file)
        await stop
        log.info("shutting down: bye to every wall, then 1001")
        for conn in list(backend.conns):
            if conn.room is not None:
                conn.enqueue(conn.message("bye", {"reason": "backend shutting down", "retryAfterMs": args.bye_retry_after_ms}))
                conn.detach()
                conn.queue.put_nowait(("close", 1001, "backend shutting down"))
        await asyncio.sleep(0.5)
    control.close()
    if admin is not None:
        admin.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", default="127.0.0.1:8700", help="HOST:PORT of the WebSocket endpoint (port 0: any)")
    p.add_argument("--control", default="127.0.0.1:0", help="HOST:PORT of the JSON-lines control socket")
    p.add_argument("--token-file", required=True, help="file holding the wall token (re-read at every hello)")
    p.add_argument("--admin", default=None, help="HOST:PORT of an HTTP admin API shaped like tessera-signal's (off by default)")
    p.add_argument("--admin-token-file", default=None, help="file holding the admin token (the admin API needs it)")
    p.add_argument("--heartbeat-ms", type=int, default=10000)
    p.add_argument("--ring-capacity", type=int, default=4096)
    p.add_argument("--bye-retry-after-ms", type=int, default=5000)
    p.add_argument("--schema-dir", default=None)
    p.add_argument("--ready-file", default=None, help="write {\"signal\":PORT,\"control\":PORT} here once listening")
    p.add_argument("--transcript", default=None, help="append every message exchanged with walls here (JSON lines)")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args()
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
