import Foundation
import NIOCore
import NIOWebSocket
import TesseraCore
@testable import TesseraSignal
import TesseraSignalServer
import Testing
import WSClient

/// The message size limits hold for whole frames as for fragmented ones: a peer that writes a
/// message as one frame (Python `websockets` does) is held to the documented message limit, not
/// to a smaller frame limit. Framing is controlled by raw peers, not by our own writers.
@Suite(.timeLimit(.minutes(2)))
struct MessageSizeTests {
    static func snapshotText(participants n: Int) -> String {
        SignalCodec.encode(.snapshot(Snapshot(room: "r", participants: (0..<n).map(typicalParticipant), activeSpeaker: nil,
                                              layout: LayoutSelection(preset: "grid", rev: 1))), seq: n)
    }

    /// The largest room the wall accepts (`RosterLimits.maxParticipants`, 1,000) fits the wall's
    /// 4 MiB limit many times over: a typical participant costs about 320 bytes of snapshot (1,000:
    /// about 320 KB).
    @Test func theLargestRoomsSnapshotFitsTheWallsLimitWithMargin() {
        let cap = RosterLimits().maxParticipants
        let empty = Self.snapshotText(participants: 0).utf8.count
        let full = Self.snapshotText(participants: cap).utf8.count
        let perParticipant = Double(full - empty) / Double(cap)
        #expect(perParticipant < 400, "measured \(perParticipant) bytes per participant")
        #expect(full * 8 < SignalClientConfiguration(url: "ws://h/signal", room: "r", wallID: "w", token: .value("t")).maxMessageBytes,
                "\(full) bytes for \(cap) participants")
    }

    @Test func aWholeFrameSnapshotOfTheLargestRoomReachesTheWall() async throws {
        let snapshot = Self.snapshotText(participants: RosterLimits().maxParticipants)
        #expect(snapshot.utf8.count > 64 << 10)
        let backend = try await ScriptedBackend.start { c in
            try await c.welcome(session: "s.\(c.number)")
            try await c.send(text: snapshot)  // one frame
        }
        let wall = RunningClient(url: backend.url)
        try await eventually("the snapshot") { await wall.client.room.participants.count == RosterLimits().maxParticipants }
        #expect(await !wall.client.disconnects.contains { $0.closeCode != nil })
        await wall.stop()
        await backend.stop()
    }

    /// Over the wall's limit, whole frame: the wall closes with 1009 and says why, in its log and
    /// in `disconnects`.
    @Test func aWholeFrameOverTheWallsLimitIsClosedWith1009AndExplained() async throws {
        let snapshot = Self.snapshotText(participants: 400)
        let backend = try await ScriptedBackend.start { c in
            try await c.welcome(session: "s.\(c.number)")
            try await c.send(text: snapshot)
        }
        let wall = RunningClient(url: backend.url) { $0.maxMessageBytes = 64 << 10 }
        // The one with a close code: on a loaded machine an attempt may time out first.
        try await eventually("a 1009") { await wall.client.disconnects.contains { $0.closeCode != nil } }
        let d = try #require(await wall.client.disconnects.first { $0.closeCode != nil })
        #expect(d.closeCode == 1009, "\(d)")
        #expect(d.byWall, "\(d)")
        #expect(d.reason.contains("65536 bytes"), "\(d)")
        #expect(await wall.client.snapshotsApplied == 0)
        await wall.stop()
        await backend.stop()
    }

    /// The same over fragments: the limit is per message.
    @Test func aFragmentedMessageOverTheWallsLimitIsClosedWith1009AndExplained() async throws {
        let snapshot = Self.snapshotText(participants: 400)
        let backend = try await ScriptedBackend.start { c in
            try await c.welcome(session: "s.\(c.number)")
            let bytes = Array(snapshot.utf8)
            let half = bytes.count / 2
            try await c.outbound.write(.custom(.init(fin: false, opcode: .text, data: .init(bytes: bytes[..<half]))))
            try await c.outbound.write(.custom(.init(fin: true, opcode: .continuation, data: .init(bytes: bytes[half...]))))
        }
        let wall = RunningClient(url: backend.url) { $0.maxMessageBytes = 64 << 10 }
        try await eventually("a 1009") { await wall.client.disconnects.contains { $0.closeCode != nil } }
        let d = try #require(await wall.client.disconnects.first { $0.closeCode != nil })
        #expect(d.closeCode == 1009 && d.byWall, "\(d)")
        #expect(d.reason.contains("65536 bytes"), "\(d)")
        await wall.stop()
        await backend.stop()
    }

    /// The backend takes a whole-frame message up to its 256 KiB limit from a wall.
    @Test func theBackendTakesAWholeFrameMessageOver64KiB() async throws {
        let backend = try await RunningBackend.start()
        let streams = (0..<3000).map { Subscription(participant: ParticipantID("p\($0)"), maxHeight: 720) }
        let subscribe = SignalCodec.encode(.subscribe(SubscribeRequest(streams: streams)))
        #expect(subscribe.utf8.count > 64 << 10 && subscribe.utf8.count < 256 << 10)
        let ping = SignalCodec.encode(.ping(Heartbeat(t: 5)))
        let s = try await rawSession(backend.url, send: [helloText(), subscribe, ping], afterFirst: 2, waitForReplies: 3,
                                     maxFrameSize: 1 << 20)
        #expect(s.received.map(\.message.type) == ["welcome", "snapshot", "pong"])
        #expect(s.closeCode == 1000)
        await backend.stop()
    }

    @Test func aWholeFrameOverTheBackendsLimitIsClosedWith1009() async throws {
        let backend = try await RunningBackend.start()
        let huge = SignalCodec.encode(.status(WallStatus(seq: 0, preset: String(repeating: "x", count: 300 << 10), streams: [])))
        let s = try await rawSession(backend.url, send: [helloText(), huge], afterFirst: 2, waitForReplies: 5, maxFrameSize: 1 << 20)
        #expect(s.received.map(\.message.type) == ["welcome", "snapshot"])
        #expect(s.closeCode == 1009)
        await backend.stop()
    }
}
