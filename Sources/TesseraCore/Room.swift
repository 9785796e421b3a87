/// Who is in the room: the roster the signaling backend maintains and the scene is built from.

/// A participant's id as the signaling backend gives it.
public struct ParticipantID: Hashable, Sendable, Codable, Comparable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public var rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }
    public static func < (a: ParticipantID, b: ParticipantID) -> Bool { a.rawValue < b.rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

public enum Role: String, Hashable, Sendable, Codable, CaseIterable {
    case teacher, student, guest
}

/// Which of a participant's streams a tile shows.
public enum StreamKind: String, Hashable, Sendable, Codable {
    /// The participant's camera.
    case camera
    /// A shared screen or slides.
    case screen
}

/// One encoding of a participant's stream (simulcast layer), as the signaling backend lists it.
public struct StreamLayer: Hashable, Sendable, Codable {
    public var width: Int
    public var height: Int
    public var fps: Double?
    /// Where the wall pulls it from (rtsp://, srt://, …). Checked against the URL policy before use.
    public var url: String
    public init(width: Int, height: Int, fps: Double? = nil, url: String) {
        self.width = width; self.height = height; self.fps = fps; self.url = url
    }
}

/// A participant's camera or screen, in one or more layers (smallest first).
public struct ParticipantStream: Hashable, Sendable, Codable {
    public var kind: StreamKind
    public var layers: [StreamLayer]
    public init(kind: StreamKind, layers: [StreamLayer]) {
        self.kind = kind; self.layers = layers.sorted { $0.height < $1.height }
    }

    /// The smallest layer at least `height` px high, else the largest: what a tile of that height needs.
    public func layer(forHeight height: Int) -> StreamLayer? {
        layers.first { $0.height >= height } ?? layers.last
    }
}

public struct Participant: Hashable, Sendable, Codable {
    public var id: ParticipantID
    public var name: String
    public var role: Role
    /// Position in join order; lower joined earlier. Unique within a room.
    public var joinOrder: Int
    /// When the hand went up, as an increasing counter; nil while the hand is down.
    public var handRaisedOrder: Int?
    /// Whether the participant shares a screen (shown by `content` zones).
    public var sharesScreen: Bool
    /// The streams the wall can pull: usually a camera, and a screen while sharing.
    public var streams: [ParticipantStream]

    public init(id: ParticipantID, name: String, role: Role = .student, joinOrder: Int,
                handRaisedOrder: Int? = nil, sharesScreen: Bool = false, streams: [ParticipantStream] = []) {
        self.id = id; self.name = name; self.role = role; self.joinOrder = joinOrder
        self.handRaisedOrder = handRaisedOrder; self.sharesScreen = sharesScreen; self.streams = streams
    }

    public func stream(_ kind: StreamKind) -> ParticipantStream? { streams.first { $0.kind == kind } }

    public var handRaised: Bool { handRaisedOrder != nil }
}

/// The room as the wall knows it at one instant. A value: the scene is a pure function of it.
public struct Room: Hashable, Sendable, Codable {
    /// In join order.
    public private(set) var participants: [Participant]
    public var activeSpeaker: ParticipantID?

    public init(participants: [Participant] = [], activeSpeaker: ParticipantID? = nil) {
        self.participants = participants.sorted { $0.joinOrder < $1.joinOrder }
        self.activeSpeaker = activeSpeaker
    }

    public subscript(id: ParticipantID) -> Participant? { participants.first { $0.id == id } }

    /// The first teacher to join, if any.
    public var teacher: Participant? { participants.first { $0.role == .teacher } }

    /// The participant whose shared screen is shown: the latest to join among those sharing.
    public var contentSharer: Participant? { participants.last { $0.sharesScreen } }

    /// A room of `count` synthetic participants, for `tessera plan`, previews, tests and benchmarks:
    /// ids `p1…pN`, names "Participant N", all students.
    public static func synthetic(count: Int) -> Room {
        Room(participants: (0..<max(0, count)).map { i in
            Participant(id: ParticipantID("p\(i + 1)"), name: "Participant \(i + 1)", joinOrder: i)
        })
    }
}
