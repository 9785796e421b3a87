/// Signaling protocol v1 constants shared by the wall and the reference backend.
/// The protocol is specified in docs/signaling.md; the message types are in Messages.swift.
public enum SignalProtocol {
    /// The protocol version this build speaks.
    public static let version = 1
    /// The versions this build can negotiate, newest first.
    public static let supportedVersions = [1]
    /// The highest minor version of protocol 1 this build speaks: 1 for 1.1 (page, spotlight and
    /// labels: `view.changed`, `view.set`). Negotiated in `hello.minor` / `welcome.minor`; a peer
    /// that sends none speaks 1.0.
    public static let minor = 1
    /// The WebSocket subprotocol that carries the version.
    public static let subprotocol = "tessera.v1"
    /// The path the backend serves WebSockets on.
    public static let webSocketPath = "/signal"
}

/// WebSocket close codes the backend (and the wall) use, beyond RFC 6455's own
/// (1000 normal, 1008 policy, 1009 message too big, 1011 server error).
public enum SignalCloseCode {
    /// The hello's token was missing or wrong. Do not retry without a new token.
    public static let unauthorized: UInt16 = 4001
    /// No common protocol version.
    public static let unsupportedVersion: UInt16 = 4002
    /// The first message was not a hello, or it did not come in time.
    public static let helloRequired: UInt16 = 4003
    /// The peer sent too many messages too fast.
    public static let rateLimited: UInt16 = 4029
    /// The peer read too slowly and the backend's queue for it overflowed; resume to catch up.
    public static let slowConsumer: UInt16 = 4013
    /// The wall saw no message for three heartbeats and gave up on the backend.
    public static let deadPeer: UInt16 = 4008
}

/// The `code` of an `error` message. A string on the wire; unknown codes decode as `.other`.
public enum SignalErrorCode: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The message was not JSON, or not an envelope, or its data did not match its type.
    case malformed
    /// The envelope's `type` is not one this peer knows.
    case unknownType
    /// Bad or missing token.
    case unauthorized
    /// No common version.
    case unsupportedVersion
    /// A message other than hello came first.
    case helloRequired
    /// Too many messages; the message was dropped.
    case rateLimited
    /// The wall refused a stream URL from the roster (disallowed scheme or host).
    case urlRefused
    /// The wall refused a roster entry (too many participants, over-long strings).
    case rosterRefused
    /// The named room does not exist on the backend.
    case unknownRoom
    case other(String)

    public var rawValue: String {
        switch self {
        case .malformed: "malformed"
        case .unknownType: "unknown-type"
        case .unauthorized: "unauthorized"
        case .unsupportedVersion: "unsupported-version"
        case .helloRequired: "hello-required"
        case .rateLimited: "rate-limited"
        case .urlRefused: "url-refused"
        case .rosterRefused: "roster-refused"
        case .unknownRoom: "unknown-room"
        case .other(let s): s
        }
    }

    public init(rawValue: String) {
        let known: [SignalErrorCode] = [.malformed, .unknownType, .unauthorized, .unsupportedVersion,
                                        .helloRequired, .rateLimited, .urlRefused, .rosterRefused, .unknownRoom]
        self = known.first { $0.rawValue == rawValue } ?? .other(rawValue)
    }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}
