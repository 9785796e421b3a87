import Foundation
import TesseraCore

/// What the admin API (or a test) sends to add or change a participant. Absent fields keep their
/// value on update and take defaults on join.
public struct ParticipantInput: Hashable, Sendable, Codable {
    public var id: ParticipantID
    public var name: String?
    public var role: Role?
    public var sharesScreen: Bool?
    public var streams: [ParticipantStream]?
    public init(id: ParticipantID, name: String? = nil, role: Role? = nil, sharesScreen: Bool? = nil,
                streams: [ParticipantStream]? = nil) {
        self.id = id; self.name = name; self.role = role; self.sharesScreen = sharesScreen; self.streams = streams
    }
}

/// Why an admin operation was refused. `status` is the HTTP status the admin API answers with.
public struct RoomStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    public var status: Int
    public var message: String
    public var description: String { message }
    package init(status: Int, message: String) { self.status = status; self.message = message }
    static func notFound(_ what: String) -> Self { .init(status: 404, message: "\(what) not found") }
    static func invalid(_ what: String) -> Self { .init(status: 400, message: what) }
}

/// What the backend knows of one connected wall, for the admin API and tests.
public struct WallView: Hashable, Sendable, Codable {
    public var wallId: String
    public var nodeId: String
    public var subscriptions: [Subscription]
    public var status: WallStatus?
    public var layout: LayoutChanged?
    /// Errors the wall reported (e.g. `url-refused`), newest last, at most 64.
    public var errors: [SignalError]
    /// The minor version of protocol 1 the connection speaks (1: protocol 1.1).
    public var minor: Int = 0
    /// The view the wall last reported (protocol 1.1).
    public var view: ViewChanged?
}

public struct RoomView: Hashable, Sendable, Codable {
    public var seq: Int
    public var snapshot: Snapshot
    public var walls: [WallView]
    /// The room's page, spotlight and labels (protocol 1.1), once anyone set them.
    public var view: ViewSet?
}

/// The backend's rooms, in memory: the roster, a bounded ring of recent events for resume, and the
/// walls attached to each room. One actor, so an event is numbered, kept and fanned out in one step
/// and a wall attaching sees either the event in its snapshot or in its stream, never both or none.
public actor RoomStore {
    struct Attachment {
        var continuation: AsyncStream<String>.Continuation
        var wall: WallView
    }

    struct RoomState {
        let epoch: String
        var seq = 0
        var participants: [ParticipantID: ParticipantRecord] = [:]
        var activeSpeaker: ParticipantID?
        var layout: LayoutSelection?
        /// Page, spotlight and labels (protocol 1.1): every field present once set, `rev` counting.
        var view: ViewSet?
        var nextJoinOrder = 0
        var nextHandOrder = 0
        /// Encoded events, oldest first; `ring[0]` has seq `seq - ring.count + 1`.
        var ring: [String] = []
        var ringStart = 0
        var attachments: [UUID: Attachment] = [:]

        var snapshot: Snapshot {
            Snapshot(room: "", participants: participants.values.sorted { $0.joinOrder < $1.joinOrder },
                     activeSpeaker: activeSpeaker, layout: layout)
        }
    }

    public let ringCapacity: Int
    public let maxParticipantsPerRoom: Int
    /// Rooms held at once. A wall's `hello` for a valid unknown room creates it; past this many it
    /// is refused (`unknown-room`) rather than the store growing without bound.
    public let maxRooms: Int
    private var rooms: [String: RoomState] = [:]

    public init(ringCapacity: Int = 4096, maxParticipantsPerRoom: Int = 1000, maxRooms: Int = 1000) {
        self.ringCapacity = max(1, ringCapacity); self.maxParticipantsPerRoom = maxParticipantsPerRoom
        self.maxRooms = max(1, maxRooms)
    }

    /// How many rooms the store holds.
    package var roomCount: Int { rooms.count }

    private func withRoom<T>(_ name: String, _ body: (inout RoomState) throws(RoomStoreError) -> T) throws(RoomStoreError) -> T {
        guard Self.isValidName(name) else { throw .invalid("room name must be 1–128 characters of A–Z a–z 0–9 . _ -") }
        guard rooms[name] != nil || rooms.count < maxRooms else {
            throw .invalid("the backend holds \(maxRooms) rooms, its most; room \(name) is not created")
        }
        var state = rooms[name] ?? RoomState(epoch: UUID().uuidString.lowercased())
        defer { rooms[name] = state }
        return try body(&state)
    }

    static func isValidName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 128 && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }

    /// Numbers an event, keeps it in the ring and sends it to every attached wall. A wall whose
    /// queue is full is detached (its stream ends) and will resume from the ring.
    private func publish(_ message: SignalMessage, in state: inout RoomState) {
        state.seq += 1
        let text = SignalCodec.encode(message, seq: state.seq)
        state.ring.append(text)
        if state.ring.count > ringCapacity {
            let drop = state.ring.count - ringCapacity
            state.ring.removeFirst(drop)
        }
        for (id, a) in state.attachments {
            if case .dropped = a.continuation.yield(text) {
                a.continuation.finish()
                state.attachments[id] = nil
            }
        }
    }

    // MARK: Admin operations

    @discardableResult
    public func upsert(_ input: ParticipantInput, in room: String) throws(RoomStoreError) -> ParticipantRecord {
        let max = maxParticipantsPerRoom
        return try withRoom(room) { (s) throws(RoomStoreError) -> ParticipantRecord in
            guard !input.id.rawValue.isEmpty, input.id.rawValue.utf8.count <= 128 else { throw .invalid("participant id must be 1–128 bytes") }
            if var r = s.participants[input.id] {
                if let v = input.name { r.name = v }
                if let v = input.role { r.role = v }
                if let v = input.sharesScreen { r.sharesScreen = v }
                if let v = input.streams { r.streams = v.map { ParticipantStream(kind: $0.kind, layers: $0.layers) } }
                r.version += 1
                s.participants[r.id] = r
                publish(.participantUpdated(r), in: &s)
                return r
            }
            guard s.participants.count < max else { throw .invalid("room is full (\(max) participants)") }
            let p = Participant(id: input.id, name: input.name ?? input.id.rawValue, role: input.role ?? .student,
                                joinOrder: s.nextJoinOrder, sharesScreen: input.sharesScreen ?? false,
                                streams: (input.streams ?? []).map { ParticipantStream(kind: $0.kind, layers: $0.layers) })
            s.nextJoinOrder += 1
            let r = ParticipantRecord(p, version: 1)
            s.participants[r.id] = r
            publish(.participantJoined(r), in: &s)
            return r
        }
    }

    public func remove(_ id: ParticipantID, from room: String) throws(RoomStoreError) {
        try withRoom(room) { (s) throws(RoomStoreError) in
            guard s.participants.removeValue(forKey: id) != nil else { throw .notFound("participant \(id)") }
            if s.activeSpeaker == id { s.activeSpeaker = nil }
            publish(.participantLeft(ParticipantRef(id: id)), in: &s)
        }
    }

    public func setHand(_ id: ParticipantID, raised: Bool, in room: String) throws(RoomStoreError) {
        try withRoom(room) { (s) throws(RoomStoreError) in
            guard var r = s.participants[id] else { throw .notFound("participant \(id)") }
            if raised == (r.handRaisedOrder != nil) { return }
            r.version += 1
            if raised {
                s.nextHandOrder += 1
                r.handRaisedOrder = s.nextHandOrder
                s.participants[id] = r
                publish(.handRaised(HandRaised(id: id, order: s.nextHandOrder, version: r.version)), in: &s)
            } else {
                r.handRaisedOrder = nil
                s.participants[id] = r
                publish(.handLowered(HandLowered(id: id, version: r.version)), in: &s)
            }
        }
    }

    public func setSpeaker(_ id: ParticipantID?, in room: String) throws(RoomStoreError) {
        try withRoom(room) { (s) throws(RoomStoreError) in
            if let id, s.participants[id] == nil { throw .notFound("participant \(id)") }
            guard s.activeSpeaker != id else { return }
            s.activeSpeaker = id
            publish(.speakerActive(SpeakerActive(id: id)), in: &s)
        }
    }

    @discardableResult
    public func setLayout(preset: String, applyAt: Int64? = nil, in room: String) throws(RoomStoreError) -> LayoutSelection {
        try withRoom(room) { (s) throws(RoomStoreError) -> LayoutSelection in
            guard !preset.isEmpty, preset.utf8.count <= 128 else { throw .invalid("preset must be 1–128 bytes") }
            let l = LayoutSelection(preset: preset, rev: (s.layout?.rev ?? 0) + 1, applyAt: applyAt)
            s.layout = l
            publish(.layoutSet(l), in: &s)
            return l
        }
    }

    public func view(of room: String) throws(RoomStoreError) -> RoomView {
        guard let s = rooms[room] else { throw .notFound("room \(room)") }
        var snap = s.snapshot
        snap.room = room
        return RoomView(seq: s.seq, snapshot: snap, walls: s.attachments.values.map(\.wall).sorted { $0.wallId < $1.wallId },
                        view: s.view)
    }

    /// Sets the room's page, spotlight or labels (protocol 1.1; nil keeps a field, `.some(nil)`
    /// clears the spotlight) and sends the whole view to every 1.1 wall.
    @discardableResult
    public func setView(page: Int? = nil, spotlight: ParticipantID?? = nil, labels: Bool? = nil,
                        in room: String) throws(RoomStoreError) -> ViewSet {
        try withRoom(room) { (s) throws(RoomStoreError) -> ViewSet in
            if let page, !(0...Self.maxPage).contains(page) { throw .invalid("page must be 0…\(Self.maxPage)") }
            if case .some(.some(let id)) = spotlight, s.participants[id] == nil { throw .notFound("participant \(id)") }
            let old = s.view ?? ViewSet(page: 0, spotlight: .some(nil), labels: true, rev: 0)
            var new = old.merged(with: ViewSet(page: page, spotlight: spotlight, labels: labels, rev: old.rev))
            guard new != old || s.view == nil else { return old }
            new.rev = old.rev + 1
            s.view = new
            let text = SignalCodec.encode(.viewSet(new))
            for (id, a) in s.attachments where a.wall.minor >= 1 {
                if case .dropped = a.continuation.yield(text) {
                    a.continuation.finish()
                    s.attachments[id] = nil
                }
            }
            return new
        }
    }

    /// The highest page the backend sets (pages past a preset's last wrap on the wall).
    public static let maxPage = 9999

    // MARK: Walls

    /// Attaches a wall: yields the welcome, then either the events after `resume.lastSeq` or a
    /// snapshot, into `continuation`, and from then on every event. The events only when the ring
    /// still holds every one of them and they fit, with the welcome, in the `queueCapacity`
    /// messages the continuation buffers: a resume never loses an event. Should a yield be dropped
    /// all the same, the stream ends (the server then closes with 4013 and the wall resumes).
    package func attach(_ id: UUID, hello: Hello, heartbeatMs: Int, maxMessageBytes: Int, queueCapacity: Int = .max,
                continuation: AsyncStream<String>.Continuation) throws(RoomStoreError) {
        try withRoom(hello.room) { (s) throws(RoomStoreError) in
            let oldest = s.seq - s.ring.count + 1
            var resumed = false
            if let r = hello.resume, r.sessionId.hasPrefix(s.epoch + "."), r.lastSeq <= s.seq, r.lastSeq + 1 >= oldest,
               s.seq - r.lastSeq < queueCapacity {
                resumed = true
            }
            let sessionID = "\(s.epoch).\(UUID().uuidString.lowercased())"
            let minor = max(0, min(hello.minor ?? 0, SignalProtocol.minor))
            var texts = [SignalCodec.encode(.welcome(Welcome(version: SignalProtocol.version, sessionId: sessionID,
                                                             heartbeatMs: heartbeatMs, maxMessageBytes: maxMessageBytes,
                                                             resumed: resumed, minor: minor)))]
            if resumed, let r = hello.resume {
                texts += s.ring.suffix(s.seq - r.lastSeq)
            } else {
                var snap = s.snapshot
                snap.room = hello.room
                texts.append(SignalCodec.encode(.snapshot(snap), seq: s.seq))
            }
            if minor >= 1, let view = s.view { texts.append(SignalCodec.encode(.viewSet(view))) }
            for text in texts {
                if case .dropped = continuation.yield(text) {
                    continuation.finish()
                    return
                }
            }
            s.attachments[id] = Attachment(continuation: continuation,
                                           wall: WallView(wallId: hello.wallId, nodeId: hello.nodeId, subscriptions: [], errors: [],
                                                          minor: minor))
        }
    }

    /// Detaches a wall. A room that never had an event or a participant goes with its last wall,
    /// so walls saying hello to made-up names do not fill the store.
    package func detach(_ id: UUID, room: String) {
        rooms[room]?.attachments[id] = nil
        if let s = rooms[room], s.attachments.isEmpty, s.seq == 0, s.participants.isEmpty, s.view == nil {
            rooms[room] = nil
        }
    }

    package func record(_ id: UUID, room: String, _ update: (inout WallView) -> Void) {
        guard var a = rooms[room]?.attachments[id] else { return }
        update(&a.wall)
        rooms[room]?.attachments[id] = a
    }

    /// What the backend does with one message from an attached wall: record what it reports, and
    /// say what to answer. The server's connection handler and the `signal-server` fuzz harness both
    /// go through here.
    package func receive(_ message: SignalMessage, from id: UUID, room: String) -> WallMessageOutcome {
        switch message {
        case .ping(let h): return .reply(.pong(h))
        case .pong: return .none
        case .subscribe(let s): record(id, room: room) { $0.subscriptions = s.streams }
        case .status(let s): record(id, room: room) { $0.status = s }
        case .layoutChanged(let l): record(id, room: room) { $0.layout = l }
        case .viewChanged(let v):
            record(id, room: room) { $0.view = v }
            // A change the wall made itself (keyboard, file) becomes the room's view, for the other
            // nodes and a teacher's tablet; one the wall applied from the backend is already it.
            if v.source != .backend {
                let known = v.spotlight.map { rooms[room]?.participants[$0] != nil } ?? true
                // Back to every 1.1 wall, the reporting one too: after a reconnect its report may
                // follow the room's older view, which it must not keep.
                _ = try? setView(page: min(max(0, v.page), Self.maxPage), spotlight: .some(known ? v.spotlight : nil),
                                 labels: v.labels, in: room)
            }
        case .error(let e):
            record(id, room: room) {
                $0.errors.append(e)
                if $0.errors.count > 64 { $0.errors.removeFirst() }
            }
        case .bye(let b): return .bye(reason: b.reason)
        case .hello: return .reply(.error(SignalError(code: .malformed, message: "hello was already received")))
        default: return .reply(.error(SignalError(code: .unknownType, message: "\(message.type) is not accepted from walls")))
        }
        return .none
    }

    /// Says `bye` to every attached wall and ends its stream (graceful shutdown): the bye is the
    /// last message each wall gets before the close.
    package func sayBye(_ bye: Bye) {
        let text = SignalCodec.encode(.bye(bye))
        for name in rooms.keys {
            for a in rooms[name]!.attachments.values {
                a.continuation.yield(text)
                a.continuation.finish()
            }
            rooms[name]!.attachments = [:]
        }
    }

    /// Ends every wall's stream (graceful shutdown).
    package func detachAll() {
        for name in rooms.keys {
            for a in rooms[name]!.attachments.values { a.continuation.finish() }
            rooms[name]!.attachments = [:]
        }
    }
}

/// The backend's answer to one message from a wall.
package enum WallMessageOutcome: Sendable {
    case none
    case reply(SignalMessage)
    /// The wall said goodbye; the connection ends.
    case bye(reason: String)
}
