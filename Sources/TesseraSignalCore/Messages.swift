import Foundation
import TesseraCore

// Protocol v1 message bodies. Every message travels in an envelope
// `{"v":1,"type":"…","seq":N,"data":{…}}` (see docs/signaling.md). JSONDecoder ignores unknown
// keys, which is what lets a v1 peer read a newer peer's additions.

/// A participant as the backend lists it: the Core participant plus a version that increases with
/// every change, so applying the same update twice (after a resume) is harmless.
public struct ParticipantRecord: Hashable, Sendable, Codable {
    public var id: ParticipantID
    public var version: Int
    public var name: String
    public var role: Role
    public var joinOrder: Int
    public var handRaisedOrder: Int?
    public var sharesScreen: Bool
    public var streams: [ParticipantStream]

    public init(_ p: Participant, version: Int) {
        id = p.id; self.version = version; name = p.name; role = p.role; joinOrder = p.joinOrder
        handRaisedOrder = p.handRaisedOrder; sharesScreen = p.sharesScreen; streams = p.streams
    }

    public var participant: Participant {
        Participant(id: id, name: name, role: role, joinOrder: joinOrder, handRaisedOrder: handRaisedOrder,
                    sharesScreen: sharesScreen, streams: streams)
    }

    private enum CodingKeys: String, CodingKey {
        case id, version, name, role, joinOrder, handRaisedOrder, sharesScreen, streams
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(ParticipantID.self, forKey: .id)
        version = try c.decodeIfPresent(Int.self, forKey: .version) ?? 0
        name = try c.decode(String.self, forKey: .name)
        role = try c.decodeIfPresent(Role.self, forKey: .role) ?? .student
        joinOrder = try c.decode(Int.self, forKey: .joinOrder)
        handRaisedOrder = try c.decodeIfPresent(Int.self, forKey: .handRaisedOrder)
        sharesScreen = try c.decodeIfPresent(Bool.self, forKey: .sharesScreen) ?? false
        streams = try c.decodeIfPresent([ParticipantStream].self, forKey: .streams) ?? []
    }
}

/// Which preset the wall shows, as the backend last set it.
public struct LayoutSelection: Hashable, Sendable, Codable {
    /// A preset name from the wall's layout file.
    public var preset: String
    /// Increases with every change the backend makes.
    public var rev: Int
    /// When to switch, in Unix epoch milliseconds, so all nodes of a multi-node wall switch together.
    public var applyAt: Int64?
    public init(preset: String, rev: Int, applyAt: Int64? = nil) {
        self.preset = preset; self.rev = rev; self.applyAt = applyAt
    }
}

/// One display output of the wall, as the layout names it. Written as an object; a bare string
/// (what walls before this field's objects sent) reads as an output with only an id.
public struct OutputCapability: Hashable, Sendable, Codable {
    /// The layout's output id.
    public var id: String
    /// The DRM connector (`HDMI-A-1`), or `any`.
    public var connector: String?
    public var width: Int?
    public var height: Int?
    /// Hz, when the layout says.
    public var refresh: Double?
    public init(id: String, connector: String? = nil, width: Int? = nil, height: Int? = nil, refresh: Double? = nil) {
        self.id = id; self.connector = connector; self.width = width; self.height = height; self.refresh = refresh
    }

    private enum CodingKeys: String, CodingKey { case id, connector, width, height, refresh }
    public init(from decoder: any Decoder) throws {
        if let id = try? decoder.singleValueContainer().decode(String.self) {
            self.init(id: id)
            return
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(id: try c.decode(String.self, forKey: .id), connector: try c.decodeIfPresent(String.self, forKey: .connector),
                  width: try c.decodeIfPresent(Int.self, forKey: .width), height: try c.decodeIfPresent(Int.self, forKey: .height),
                  refresh: try c.decodeIfPresent(Double.self, forKey: .refresh))
    }
}

public struct Capabilities: Hashable, Sendable, Codable {
    /// The stream URL schemes the wall accepts (its URL gate's, `--allow-scheme` included).
    public var schemes: [String]
    public var codecs: [String]
    public var maxDecodes: Int
    /// The wall's outputs, when it knows them (the kiosk fills them from the layout).
    public var outputs: [OutputCapability]
    public init(schemes: [String] = ["rtsp", "rtsps", "srt"], codecs: [String] = ["h264"],
                maxDecodes: Int = 250, outputs: [OutputCapability] = []) {
        self.schemes = schemes; self.codecs = codecs; self.maxDecodes = maxDecodes; self.outputs = outputs
    }
}

public struct ResumeRequest: Hashable, Sendable, Codable {
    public var sessionId: String
    public var lastSeq: Int
    public init(sessionId: String, lastSeq: Int) { self.sessionId = sessionId; self.lastSeq = lastSeq }
}

public struct Hello: Hashable, Sendable, Codable {
    public var versions: [Int]
    public var wallId: String
    public var nodeId: String
    public var room: String
    public var token: String
    public var capabilities: Capabilities
    public var resume: ResumeRequest?
    /// The highest minor version of protocol 1 the wall speaks (1: protocol 1.1); nil is 1.0.
    public var minor: Int?
    public init(versions: [Int] = SignalProtocol.supportedVersions, wallId: String, nodeId: String, room: String,
                token: String, capabilities: Capabilities = .init(), resume: ResumeRequest? = nil, minor: Int? = nil) {
        self.versions = versions; self.wallId = wallId; self.nodeId = nodeId; self.room = room
        self.token = token; self.capabilities = capabilities; self.resume = resume; self.minor = minor
    }

    private enum CodingKeys: String, CodingKey { case versions, wallId, nodeId, room, token, capabilities, resume, minor }
    /// A missing `token` reads as empty, so the backend answers it as the bad token it is
    /// (`unauthorized`, 4001) rather than as a malformed hello.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        versions = try c.decode([Int].self, forKey: .versions)
        wallId = try c.decode(String.self, forKey: .wallId)
        nodeId = try c.decode(String.self, forKey: .nodeId)
        room = try c.decode(String.self, forKey: .room)
        token = try c.decodeIfPresent(String.self, forKey: .token) ?? ""
        capabilities = try c.decode(Capabilities.self, forKey: .capabilities)
        resume = try c.decodeIfPresent(ResumeRequest.self, forKey: .resume)
        minor = try c.decodeIfPresent(Int.self, forKey: .minor)
    }
}

public struct Welcome: Hashable, Sendable, Codable {
    public var version: Int
    public var sessionId: String
    /// How often each side should hear from the other, in milliseconds.
    public var heartbeatMs: Int
    /// The largest message the backend accepts from the wall, in bytes.
    public var maxMessageBytes: Int
    /// True when missed events follow; false when a snapshot follows.
    public var resumed: Bool
    /// The minor version of protocol 1 this connection speaks: the lower of the wall's
    /// `hello.minor` and the backend's own. Nil (a 1.0 backend) is 0.
    public var minor: Int?
    public init(version: Int, sessionId: String, heartbeatMs: Int, maxMessageBytes: Int, resumed: Bool, minor: Int? = nil) {
        self.version = version; self.sessionId = sessionId; self.heartbeatMs = heartbeatMs
        self.maxMessageBytes = maxMessageBytes; self.resumed = resumed; self.minor = minor
    }
}

public struct Snapshot: Hashable, Sendable, Codable {
    public var room: String
    public var participants: [ParticipantRecord]
    public var activeSpeaker: ParticipantID?
    public var layout: LayoutSelection?
    public init(room: String, participants: [ParticipantRecord], activeSpeaker: ParticipantID?, layout: LayoutSelection?) {
        self.room = room; self.participants = participants; self.activeSpeaker = activeSpeaker; self.layout = layout
    }
}

public struct ParticipantRef: Hashable, Sendable, Codable {
    public var id: ParticipantID
    public init(id: ParticipantID) { self.id = id }
}

public struct SpeakerActive: Hashable, Sendable, Codable {
    /// Nil when no one is speaking: written `"id":null`; an absent `id` reads as nil too.
    public var id: ParticipantID?
    public init(id: ParticipantID?) { self.id = id }

    private enum CodingKeys: String, CodingKey { case id }
    public init(from decoder: any Decoder) throws {
        id = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(ParticipantID.self, forKey: .id)
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        if let id { try c.encode(id, forKey: .id) } else { try c.encodeNil(forKey: .id) }
    }
}

public struct HandRaised: Hashable, Sendable, Codable {
    public var id: ParticipantID
    /// The room's hand counter when the hand went up; lower was first.
    public var order: Int
    public var version: Int
    public init(id: ParticipantID, order: Int, version: Int) { self.id = id; self.order = order; self.version = version }
}

public struct HandLowered: Hashable, Sendable, Codable {
    public var id: ParticipantID
    public var version: Int
    public init(id: ParticipantID, version: Int) { self.id = id; self.version = version }
}

public struct LayoutChanged: Hashable, Sendable, Codable {
    public enum Source: String, Hashable, Sendable, Codable { case keyboard, file, backend }
    public var preset: String
    public var rev: Int
    public var source: Source
    public init(preset: String, rev: Int, source: Source) { self.preset = preset; self.rev = rev; self.source = source }
}

/// Protocol 1.1, wall → backend: the teacher's view changed on the wall (page, spotlight or
/// labels; the preset goes in `layout.changed`). The whole view, so it is idempotent.
public struct ViewChanged: Hashable, Sendable, Codable {
    /// The page shown, 0-based.
    public var page: Int
    /// The participant in the spotlight; nil (written `null`) for none.
    public var spotlight: ParticipantID?
    /// Whether name labels are shown.
    public var labels: Bool
    public var source: LayoutChanged.Source
    public init(page: Int, spotlight: ParticipantID?, labels: Bool, source: LayoutChanged.Source) {
        self.page = page; self.spotlight = spotlight; self.labels = labels; self.source = source
    }

    private enum CodingKeys: String, CodingKey { case page, spotlight, labels, source }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        page = try c.decode(Int.self, forKey: .page)
        spotlight = try c.decodeIfPresent(ParticipantID.self, forKey: .spotlight)
        labels = try c.decode(Bool.self, forKey: .labels)
        source = try c.decode(LayoutChanged.Source.self, forKey: .source)
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(page, forKey: .page)
        if let spotlight { try c.encode(spotlight, forKey: .spotlight) } else { try c.encodeNil(forKey: .spotlight) }
        try c.encode(labels, forKey: .labels)
        try c.encode(source, forKey: .source)
    }
}

/// Protocol 1.1, backend → wall: show this page, spotlight or labels. An absent field keeps the
/// wall's own; `"spotlight":null` clears the spotlight. Not a room event (no `seq`, not in the
/// ring): the latest value is what counts, and a 1.1 wall gets the room's current view after
/// every welcome's snapshot or missed events.
public struct ViewSet: Hashable, Sendable, Codable {
    public var page: Int?
    /// nil: unchanged; `.some(nil)`: clear the spotlight.
    public var spotlight: ParticipantID??
    public var labels: Bool?
    /// Increases with every change of the room's view on the backend.
    public var rev: Int
    public init(page: Int? = nil, spotlight: ParticipantID?? = nil, labels: Bool? = nil, rev: Int) {
        self.page = page; self.spotlight = spotlight; self.labels = labels; self.rev = rev
    }

    /// `self` then `newer`, as one: the newer value of every field it has.
    public func merged(with newer: ViewSet) -> ViewSet {
        ViewSet(page: newer.page ?? page, spotlight: newer.spotlight ?? spotlight, labels: newer.labels ?? labels, rev: newer.rev)
    }

    private enum CodingKeys: String, CodingKey { case page, spotlight, labels, rev }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        page = try c.decodeIfPresent(Int.self, forKey: .page)
        if c.contains(.spotlight) {
            spotlight = .some(try c.decodeNil(forKey: .spotlight) ? nil : try c.decode(ParticipantID.self, forKey: .spotlight))
        } else {
            spotlight = nil
        }
        labels = try c.decodeIfPresent(Bool.self, forKey: .labels)
        rev = try c.decode(Int.self, forKey: .rev)
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(page, forKey: .page)
        switch spotlight {
        case .none: break
        case .some(.none): try c.encodeNil(forKey: .spotlight)
        case .some(.some(let id)): try c.encode(id, forKey: .spotlight)
        }
        try c.encodeIfPresent(labels, forKey: .labels)
        try c.encode(rev, forKey: .rev)
    }
}

/// One visible tile's need: the backend forwards the smallest layer at least `maxHeight` high.
public struct Subscription: Hashable, Sendable, Codable {
    public var participant: ParticipantID
    public var kind: StreamKind
    public var maxHeight: Int
    public init(participant: ParticipantID, kind: StreamKind = .camera, maxHeight: Int) {
        self.participant = participant; self.kind = kind; self.maxHeight = maxHeight
    }

    /// What a scene shows: per participant and stream kind, the tallest tile's height.
    public static func from(scene: Scene) -> [Subscription] {
        var need: [String: Subscription] = [:]
        for output in scene.outputs {
            for tile in output.tiles {
                guard let id = tile.participant else { continue }
                let key = "\(tile.stream.rawValue)/\(id.rawValue)"
                let h = tile.rect.height
                if let old = need[key], old.maxHeight >= h { continue }
                need[key] = Subscription(participant: id, kind: tile.stream, maxHeight: h)
            }
        }
        return need.values.sorted { ($0.participant, $0.kind.rawValue) < ($1.participant, $1.kind.rawValue) }
    }
}

public struct SubscribeRequest: Hashable, Sendable, Codable {
    public var streams: [Subscription]
    public init(streams: [Subscription]) { self.streams = streams }
}

/// How one stream the wall has open is doing.
public struct StreamHealth: Hashable, Sendable, Codable {
    public enum State: String, Hashable, Sendable, Codable { case connecting, playing, stalled, offline }
    public var participant: ParticipantID
    public var kind: StreamKind
    public var state: State
    public var fps: Double
    public var kbps: Double
    /// Milliseconds since the last decoded frame; nil before the first.
    public var lastFrameAgeMs: Int?
    public var reconnects: Int
    public init(participant: ParticipantID, kind: StreamKind = .camera, state: State, fps: Double = 0,
                kbps: Double = 0, lastFrameAgeMs: Int? = nil, reconnects: Int = 0) {
        self.participant = participant; self.kind = kind; self.state = state; self.fps = fps
        self.kbps = kbps; self.lastFrameAgeMs = lastFrameAgeMs; self.reconnects = reconnects
    }
}

public struct WallStatus: Hashable, Sendable, Codable {
    /// The last room event the wall applied.
    public var seq: Int
    public var preset: String?
    public var streams: [StreamHealth]
    public init(seq: Int, preset: String?, streams: [StreamHealth]) {
        self.seq = seq; self.preset = preset; self.streams = streams
    }
}

public struct Heartbeat: Hashable, Sendable, Codable {
    /// Sender's clock, Unix epoch milliseconds; echoed in the pong.
    public var t: Int64
    public init(t: Int64) { self.t = t }
}

public struct SignalError: Hashable, Sendable, Codable, Error {
    public var code: SignalErrorCode
    public var message: String
    /// True when the sender closes the connection after this error.
    public var fatal: Bool
    /// The participant the error is about (`url-refused`).
    public var participant: ParticipantID?
    public init(code: SignalErrorCode, message: String, fatal: Bool = false, participant: ParticipantID? = nil) {
        self.code = code; self.message = message; self.fatal = fatal; self.participant = participant
    }
}

public struct Bye: Hashable, Sendable, Codable {
    public var reason: String
    /// Milliseconds the wall should wait before reconnecting.
    public var retryAfterMs: Int?
    public init(reason: String, retryAfterMs: Int? = nil) { self.reason = reason; self.retryAfterMs = retryAfterMs }
}

/// Every v1 message. Room events (`participant.*`, `speaker.active`, `hand.*`, `layout.set`) carry
/// the envelope's `seq`; the others have none.
public enum SignalMessage: Hashable, Sendable {
    case hello(Hello)
    case welcome(Welcome)
    case snapshot(Snapshot)
    case participantJoined(ParticipantRecord)
    case participantUpdated(ParticipantRecord)
    case participantLeft(ParticipantRef)
    case speakerActive(SpeakerActive)
    case handRaised(HandRaised)
    case handLowered(HandLowered)
    case layoutSet(LayoutSelection)
    case layoutChanged(LayoutChanged)
    /// Protocol 1.1.
    case viewChanged(ViewChanged)
    /// Protocol 1.1.
    case viewSet(ViewSet)
    case subscribe(SubscribeRequest)
    case status(WallStatus)
    case ping(Heartbeat)
    case pong(Heartbeat)
    case error(SignalError)
    case bye(Bye)

    public var type: String {
        switch self {
        case .hello: "hello"
        case .welcome: "welcome"
        case .snapshot: "snapshot"
        case .participantJoined: "participant.joined"
        case .participantUpdated: "participant.updated"
        case .participantLeft: "participant.left"
        case .speakerActive: "speaker.active"
        case .handRaised: "hand.raised"
        case .handLowered: "hand.lowered"
        case .layoutSet: "layout.set"
        case .layoutChanged: "layout.changed"
        case .viewChanged: "view.changed"
        case .viewSet: "view.set"
        case .subscribe: "subscribe"
        case .status: "status"
        case .ping: "ping"
        case .pong: "pong"
        case .error: "error"
        case .bye: "bye"
        }
    }

    /// Which side sends messages of `type`; nil for a type that both send, or an unknown one.
    public static func sender(of type: String) -> SignalPeer? {
        switch type {
        case "hello", "layout.changed", "view.changed", "subscribe", "status": .wall
        case "welcome", "snapshot", "participant.joined", "participant.updated", "participant.left", "speaker.active",
             "hand.raised", "hand.lowered", "layout.set", "view.set": .backend
        default: nil
        }
    }

    /// Whether the message is a room event, numbered by `seq` and kept in the backend's ring.
    public var isRoomEvent: Bool {
        switch self {
        case .participantJoined, .participantUpdated, .participantLeft, .speakerActive, .handRaised,
             .handLowered, .layoutSet: true
        default: false
        }
    }
}

/// One end of a signaling connection.
public enum SignalPeer: String, Hashable, Sendable {
    case wall, backend
}

/// A message with its envelope fields.
public struct SignalEnvelope: Hashable, Sendable {
    public var version: Int
    public var seq: Int?
    public var message: SignalMessage
    public init(_ message: SignalMessage, seq: Int? = nil, version: Int = SignalProtocol.version) {
        self.message = message; self.seq = seq; self.version = version
    }
}

/// Why a text could not be read as a message. The receiver answers with an `error` of `code`.
public struct SignalDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    public var code: SignalErrorCode
    /// The envelope's `type`, when it could be read.
    public var type: String?
    public var detail: String
    public var description: String { "\(code): \(detail)" }
}

/// Encodes and decodes envelopes. Stateless; safe to share.
public enum SignalCodec {
    private struct Header: Decodable {
        var v: Int
        var type: String
        var seq: Int?
    }
    private struct Body<T: Decodable>: Decodable { var data: T }
    private struct Out<T: Encodable>: Encodable {
        var v: Int
        var type: String
        var seq: Int?
        var data: T
    }

    /// Reads one message. The envelope's `v` must be 1 (else `unsupported-version`). With `sender`,
    /// a type that only the other side sends is `unknown-type` whatever its data, as an unknown
    /// type is: a message is judged by its type before its data.
    public static func decode(_ text: String, from sender: SignalPeer? = nil) throws(SignalDecodingError) -> SignalEnvelope {
        let bytes = Data(text.utf8)
        let decoder = JSONDecoder()
        let header: Header
        do {
            header = try decoder.decode(Header.self, from: bytes)
        } catch {
            throw SignalDecodingError(code: .malformed, type: nil, detail: "not an envelope {v,type,data}: \(describe(error))")
        }
        guard header.v == SignalProtocol.version else {
            throw SignalDecodingError(code: .unsupportedVersion, type: header.type,
                                      detail: "envelope v \(header.v) is not supported; v must be \(SignalProtocol.version)")
        }
        if let sender, let expected = SignalMessage.sender(of: header.type), expected != sender {
            throw SignalDecodingError(code: .unknownType, type: header.type, detail: "\(header.type) is not sent by \(sender == .wall ? "walls" : "backends")")
        }
        func body<T: Decodable>(_: T.Type) throws(SignalDecodingError) -> T {
            do { return try decoder.decode(Body<T>.self, from: bytes).data } catch {
                throw SignalDecodingError(code: .malformed, type: header.type, detail: "\(header.type): \(describe(error))")
            }
        }
        let m: SignalMessage
        switch header.type {
        case "hello": m = .hello(try body(Hello.self))
        case "welcome": m = .welcome(try body(Welcome.self))
        case "snapshot": m = .snapshot(try body(Snapshot.self))
        case "participant.joined": m = .participantJoined(try body(ParticipantRecord.self))
        case "participant.updated": m = .participantUpdated(try body(ParticipantRecord.self))
        case "participant.left": m = .participantLeft(try body(ParticipantRef.self))
        case "speaker.active": m = .speakerActive(try body(SpeakerActive.self))
        case "hand.raised": m = .handRaised(try body(HandRaised.self))
        case "hand.lowered": m = .handLowered(try body(HandLowered.self))
        case "layout.set": m = .layoutSet(try body(LayoutSelection.self))
        case "layout.changed": m = .layoutChanged(try body(LayoutChanged.self))
        case "view.changed": m = .viewChanged(try body(ViewChanged.self))
        case "view.set": m = .viewSet(try body(ViewSet.self))
        case "subscribe": m = .subscribe(try body(SubscribeRequest.self))
        case "status": m = .status(try body(WallStatus.self))
        case "ping": m = .ping(try body(Heartbeat.self))
        case "pong": m = .pong(try body(Heartbeat.self))
        case "error": m = .error(try body(SignalError.self))
        case "bye": m = .bye(try body(Bye.self))
        default:
            throw SignalDecodingError(code: .unknownType, type: header.type, detail: "unknown message type \"\(header.type)\"")
        }
        return SignalEnvelope(m, seq: header.seq, version: header.v)
    }

    public static func encode(_ envelope: SignalEnvelope) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func out<T: Encodable>(_ data: T) -> String {
            // Encoding these plain value types cannot fail.
            let bytes = try! e.encode(Out(v: envelope.version, type: envelope.message.type, seq: envelope.seq, data: data))
            return String(decoding: bytes, as: UTF8.self)
        }
        switch envelope.message {
        case .hello(let d): return out(d)
        case .welcome(let d): return out(d)
        case .snapshot(let d): return out(d)
        case .participantJoined(let d), .participantUpdated(let d): return out(d)
        case .participantLeft(let d): return out(d)
        case .speakerActive(let d): return out(d)
        case .handRaised(let d): return out(d)
        case .handLowered(let d): return out(d)
        case .layoutSet(let d): return out(d)
        case .layoutChanged(let d): return out(d)
        case .viewChanged(let d): return out(d)
        case .viewSet(let d): return out(d)
        case .subscribe(let d): return out(d)
        case .status(let d): return out(d)
        case .ping(let d), .pong(let d): return out(d)
        case .error(let d): return out(d)
        case .bye(let d): return out(d)
        }
    }

    public static func encode(_ message: SignalMessage, seq: Int? = nil) -> String {
        encode(SignalEnvelope(message, seq: seq))
    }

    private static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, let ctx)?: "missing \(path(ctx.codingPath + [key]))"
        case .typeMismatch(_, let ctx)?, .valueNotFound(_, let ctx)?: "wrong type at \(path(ctx.codingPath))"
        case .dataCorrupted(let ctx)?: ctx.codingPath.isEmpty ? "invalid JSON" : "invalid value at \(path(ctx.codingPath))"
        default: "\(error)"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        "$" + keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }
}
