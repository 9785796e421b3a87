import TesseraCore

/// What changed when the wall applied a snapshot or an event. The Kiosk feeds Media from
/// `joined`/`left`/`streamsChanged`; a participant in none of them keeps its decoders.
public struct RoomUpdate: Hashable, Sendable {
    public enum Cause: Hashable, Sendable {
        case snapshot
        case event(type: String)
    }
    public var cause: Cause
    /// The room after the change.
    public var room: Room
    /// The preset the backend selected, if it ever did.
    public var layout: LayoutSelection?
    /// The last room event applied.
    public var seq: Int
    public var joined: [ParticipantID] = []
    public var left: [ParticipantID] = []
    /// Participants present before and after whose stream URLs changed: reopen these.
    public var streamsChanged: [ParticipantID] = []
    public var layoutChanged = false
    /// The page, spotlight and labels the backend asked for (protocol 1.1 `view.set`), if it did.
    public var view: ViewSet?
    /// Roster entries or stream layers the wall refused.
    public var refusals: [RosterRefusal] = []

    /// How many applied snapshots and events this update stands for: more than 1 when a slow
    /// consumer of `SignalClient.updates` got several merged into one (see `merged(with:)`).
    public var coalesced = 1

    /// Whether any stream must be opened, closed or reopened.
    public var hasStreamChanges: Bool { !joined.isEmpty || !left.isEmpty || !streamsChanged.isEmpty }

    /// This update followed by `newer`, as one: the newer room, layout and seq, and the net stream
    /// changes across both, so a consumer that applies only the merged update opens, closes and
    /// reopens exactly what it would have after applying both. Someone who joined and left in
    /// between is in neither list; someone who left and came back is in `streamsChanged`.
    public func merged(with newer: RoomUpdate) -> RoomUpdate {
        let afterSelf = Set(room.participants.map(\.id))
        let joinedHere = Set(joined)
        // Present before this update: those present after it that did not join in it, and those who left in it.
        let before = afterSelf.subtracting(joinedHere).union(left)
        let after = Set(newer.room.participants.map(\.id))
        let touched = Set(streamsChanged).union(newer.streamsChanged).union(newer.joined).union(left)
        var m = newer
        if cause == .snapshot { m.cause = .snapshot }
        m.joined = after.subtracting(before).sorted()
        m.left = before.subtracting(after).sorted()
        m.streamsChanged = before.intersection(after).intersection(touched).sorted()
        m.layoutChanged = layoutChanged || newer.layoutChanged
        m.view = view.map { old in newer.view.map { old.merged(with: $0) } ?? old } ?? newer.view
        m.refusals = Array((refusals + newer.refusals).suffix(256))
        m.coalesced = coalesced + newer.coalesced
        return m
    }
}

/// A roster entry (or one of its stream layers) the wall did not accept.
public struct RosterRefusal: Hashable, Sendable, CustomStringConvertible {
    public var participant: ParticipantID
    public var code: SignalErrorCode
    public var reason: String
    public var description: String { "\(participant): \(reason)" }
}

/// Limits on what the wall accepts from the roster.
public struct RosterLimits: Hashable, Sendable {
    public var maxParticipants: Int
    /// Longer names are cut; control characters are removed (names are shown as plain text).
    public var maxNameLength: Int
    public var maxIDLength: Int
    public var maxLayersPerStream: Int
    public init(maxParticipants: Int = 1000, maxNameLength: Int = 128, maxIDLength: Int = 128, maxLayersPerStream: Int = 8) {
        self.maxParticipants = maxParticipants; self.maxNameLength = maxNameLength
        self.maxIDLength = maxIDLength; self.maxLayersPerStream = maxLayersPerStream
    }
}

/// The wall's copy of the room: applies snapshots and events in `seq` order, idempotently, and says
/// what changed. A value type with no I/O, so it is tested without a socket.
public struct RoomTracker: Sendable {
    public enum Outcome: Sendable {
        /// Applied; here is what changed.
        case applied(RoomUpdate)
        /// Already applied (seq at or below the last one): ignored.
        case duplicate
        /// Events are missing between the last seq and this one: the connection must resume.
        case gap(expected: Int, got: Int)
    }

    public private(set) var room = Room()
    public private(set) var layout: LayoutSelection?
    public private(set) var seq = 0
    /// Whether a snapshot has been applied since the tracker was made.
    public private(set) var hasSnapshot = false
    private var versions: [ParticipantID: Int] = [:]
    private var people: [ParticipantID: Participant] = [:]

    public var policy: StreamURLPolicy
    public var limits: RosterLimits

    public init(policy: StreamURLPolicy = .init(), limits: RosterLimits = .init()) {
        self.policy = policy; self.limits = limits
    }

    /// Replaces the room with a snapshot taken at `seq`, reporting only the differences.
    public mutating func apply(snapshot: Snapshot, seq: Int) -> RoomUpdate {
        var update = RoomUpdate(cause: .snapshot, room: room, layout: layout, seq: seq)
        var next: [ParticipantID: Participant] = [:]
        var nextVersions: [ParticipantID: Int] = [:]
        for record in snapshot.participants {
            if next[record.id] != nil { continue }
            guard next.count < limits.maxParticipants else {
                update.refusals.append(RosterRefusal(participant: record.id, code: .rosterRefused,
                                                     reason: "room is over \(limits.maxParticipants) participants"))
                continue
            }
            guard let p = admit(record, into: &update) else { continue }
            next[p.id] = p
            nextVersions[p.id] = record.version
        }
        for id in people.keys where next[id] == nil { update.left.append(id) }
        for (id, p) in next {
            if let old = people[id] {
                if old.streams != p.streams { update.streamsChanged.append(id) }
            } else {
                update.joined.append(id)
            }
        }
        let newSpeaker = snapshot.activeSpeaker.flatMap { next[$0] != nil ? $0 : nil }
        if snapshot.layout != layout { update.layoutChanged = true }
        people = next
        versions = nextVersions
        layout = snapshot.layout
        self.seq = seq
        hasSnapshot = true
        room = Room(participants: Array(people.values), activeSpeaker: newSpeaker)
        update.room = room
        update.layout = layout
        update.joined.sort(); update.left.sort(); update.streamsChanged.sort()
        return update
    }

    /// Applies one room event numbered `seq`.
    public mutating func apply(event: SignalMessage, seq eventSeq: Int) -> Outcome {
        if eventSeq <= seq { return .duplicate }
        if eventSeq != seq + 1 { return .gap(expected: seq + 1, got: eventSeq) }
        seq = eventSeq
        var update = RoomUpdate(cause: .event(type: event.type), room: room, layout: layout, seq: seq)
        var speaker = room.activeSpeaker
        switch event {
        case .participantJoined(let record), .participantUpdated(let record):
            if let v = versions[record.id], v >= record.version { break }
            if people[record.id] == nil, people.count >= limits.maxParticipants {
                update.refusals.append(RosterRefusal(participant: record.id, code: .rosterRefused,
                                                     reason: "room is over \(limits.maxParticipants) participants"))
                break
            }
            guard let p = admit(record, into: &update) else { break }
            if let old = people[p.id] {
                if old.streams != p.streams { update.streamsChanged.append(p.id) }
            } else {
                update.joined.append(p.id)
            }
            people[p.id] = p
            versions[p.id] = record.version
        case .participantLeft(let ref):
            if people.removeValue(forKey: ref.id) != nil { update.left.append(ref.id) }
            versions[ref.id] = nil
            if speaker == ref.id { speaker = nil }
        case .speakerActive(let s):
            speaker = s.id.flatMap { people[$0] != nil ? $0 : nil }
        case .handRaised(let h):
            if var p = people[h.id], (versions[h.id] ?? 0) < h.version {
                p.handRaisedOrder = h.order
                people[h.id] = p
                versions[h.id] = h.version
            }
        case .handLowered(let h):
            if var p = people[h.id], (versions[h.id] ?? 0) < h.version {
                p.handRaisedOrder = nil
                people[h.id] = p
                versions[h.id] = h.version
            }
        case .layoutSet(let l):
            if (layout?.rev ?? Int.min) < l.rev {
                layout = l
                update.layoutChanged = true
            }
        default:
            break
        }
        room = Room(participants: Array(people.values), activeSpeaker: speaker)
        update.room = room
        update.layout = layout
        return .applied(update)
    }

    /// A `view.set` (protocol 1.1) as an update: the room as it is, and the view asked for. Not a
    /// room event: the seq stays.
    public func update(for view: ViewSet) -> RoomUpdate {
        var u = RoomUpdate(cause: .event(type: "view.set"), room: room, layout: layout, seq: seq)
        u.view = view
        return u
    }

    /// The participant as the wall will use it: strings bounded, refused layers removed.
    private func admit(_ record: ParticipantRecord, into update: inout RoomUpdate) -> Participant? {
        guard !record.id.rawValue.isEmpty, record.id.rawValue.utf8.count <= limits.maxIDLength else {
            update.refusals.append(RosterRefusal(participant: record.id, code: .rosterRefused,
                                                 reason: "participant id is empty or longer than \(limits.maxIDLength) bytes"))
            return nil
        }
        var p = record.participant
        p.name = String(String.UnicodeScalarView(p.name.unicodeScalars.filter { !$0.properties.generalCategory.isControl })
            .prefix(limits.maxNameLength))
        p.streams = p.streams.compactMap { stream in
            var layers: [StreamLayer] = []
            for layer in stream.layers.prefix(limits.maxLayersPerStream) {
                if let refusal = policy.check(layer.url) {
                    update.refusals.append(RosterRefusal(participant: record.id, code: .urlRefused,
                                                         reason: "\(stream.kind.rawValue) layer \(layer.width)x\(layer.height): \(refusal)"))
                } else {
                    layers.append(layer)
                }
            }
            return layers.isEmpty ? nil : ParticipantStream(kind: stream.kind, layers: layers)
        }
        if p.sharesScreen, p.stream(.screen) == nil { p.sharesScreen = false }
        return p
    }
}

extension Unicode.GeneralCategory {
    fileprivate var isControl: Bool {
        switch self {
        case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .surrogate, .unassigned: true
        default: false
        }
    }
}
