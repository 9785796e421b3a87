import Foundation
import NIOWebSocket
import TesseraCore
@testable import TesseraSignal
import TesseraSignalServer
import Testing
import WSClient

/// Resume either delivers every missed event or falls back to a snapshot, never a silent gap; the
/// wall resumes only a session whose snapshot it applied; repeated gaps back off.
@Suite(.timeLimit(.minutes(2)))
struct ResumeTests {
    /// The first connection's welcome and snapshot, for a later resume.
    func firstSession(_ url: String) async throws -> (session: String, seq: Int) {
        let s = try await rawSession(url, send: [helloText()], waitForReplies: 2)
        guard case .welcome(let w)? = s.received.first?.message, let seq = s.received.last?.seq else {
            throw TestFailure("no welcome and snapshot: \(s.received)")
        }
        return (w.sessionId, seq)
    }

    func resumeHello(_ session: String, _ lastSeq: Int) -> String {
        SignalCodec.encode(.hello(Hello(wallId: "raw", nodeId: "n", room: "r", token: wallToken,
                                        resume: ResumeRequest(sessionId: session, lastSeq: lastSeq))))
    }

    /// The finding: a ring larger than the wall's queue (8,192 events) let a resume of 9,000 events
    /// through; 8,191 arrived and the rest were dropped without a word. Here at a smaller scale: a
    /// queue of 64, 150 missed events, all still in the ring.
    @Test func aResumeLargerThanTheWallsQueueGetsASnapshot() async throws {
        let store = RoomStore(ringCapacity: 1000)
        try await fill(store, ids: 1...2)
        let backend = try await RunningBackend.start(store: store) { $0.maxQueuedPerWall = 64 }
        let (session, seq) = try await firstSession(backend.url)
        for n in 1...150 { try await store.upsert(ParticipantInput(id: "p1", name: "P1 \(n)"), in: "r") }

        let s = try await rawSession(backend.url, send: [resumeHello(session, seq)], waitForReplies: 2)
        guard case .welcome(let w)? = s.received.first?.message else { throw TestFailure("no welcome") }
        #expect(!w.resumed)
        guard case .snapshot(let snap)? = s.received.last?.message else { throw TestFailure("no snapshot: \(s.received.last!)") }
        #expect(s.received.last?.seq == seq + 150)
        #expect(snap.participants.first { $0.id == "p1" }?.name == "P1 150")
        await backend.stop()
    }

    /// Up to what the ring and the queue hold, a resume delivers every missed event, in order.
    @Test(arguments: [(ring: 100, missed: 100, resumed: true), (ring: 100, missed: 101, resumed: false),
                      (ring: 100, missed: 0, resumed: true)])
    func aResumeDeliversEveryMissedEventOrASnapshot(_ c: (ring: Int, missed: Int, resumed: Bool)) async throws {
        let store = RoomStore(ringCapacity: c.ring)
        try await fill(store, ids: 1...2)
        let backend = try await RunningBackend.start(store: store)
        let (session, seq) = try await firstSession(backend.url)
        for n in 0..<c.missed { try await store.upsert(ParticipantInput(id: "p2", name: "P2 \(n)"), in: "r") }

        let expected = c.resumed ? 1 + c.missed : 2
        let s = try await rawSession(backend.url, send: [resumeHello(session, seq)], waitForReplies: expected)
        guard case .welcome(let w)? = s.received.first?.message else { throw TestFailure("no welcome") }
        #expect(w.resumed == c.resumed)
        if c.resumed {
            #expect(s.received.dropFirst().map(\.seq) == (0..<c.missed).map { seq + 1 + $0 })
        } else {
            #expect(s.received.last?.message.type == "snapshot")
        }
        await backend.stop()
    }

    /// Finding 3: after a welcome whose snapshot never came, the wall resumed with the new
    /// session's id and its old seq; a backend that answered `resumed:true` left it without the
    /// room. The wall resumes only a session whose snapshot it applied.
    @Test func aSessionWhoseSnapshotFailedIsNotResumed() async throws {
        let backend = try await ScriptedBackend.start { c in
            switch c.number {
            case 1:  // welcome, then gone before the snapshot
                try await c.welcome(session: "s.1")
                try await c.outbound.close(.goingAway, reason: "restarting")
            case 2:
                try await c.welcome(session: "s.2")
                try await c.send(.snapshot(Snapshot(room: "r", participants: [typicalParticipant(1)], activeSpeaker: nil, layout: nil)), seq: 3)
                try await Task.sleep(for: .milliseconds(100))
                try await c.outbound.close(.goingAway, reason: "restarting")
            default:
                try await c.welcome(session: "s.\(c.number)", resumed: true)
            }
        }
        let wall = RunningClient(url: backend.url)
        try await eventually("three connections") { await backend.log.hellos.count >= 3 }
        let hellos = await backend.log.hellos
        #expect(hellos[0].resume == nil)
        #expect(hellos[1].resume == nil, "s.1 never delivered its snapshot")
        #expect(hellos[2].resume == ResumeRequest(sessionId: "s.2", lastSeq: 3))
        await wall.stop()
        await backend.stop()
    }

    /// Finding 4: a backend whose every connection has a gap made the wall reconnect with no delay
    /// (517 connects in 8 s). The first gap resumes at once; the second in a row waits the backoff.
    @Test func repeatedGapsBackOff() async throws {
        let backend = try await ScriptedBackend.start { c in
            try await c.welcome(session: "s.\(c.number)", resumed: c.hello.resume != nil)
            if c.hello.resume == nil {
                try await c.send(.snapshot(Snapshot(room: "r", participants: [], activeSpeaker: nil, layout: nil)), seq: 0)
            }
            try await c.send(.speakerActive(SpeakerActive(id: nil)), seq: 1_000_000)  // always a gap
        }
        let wall = RunningClient(url: backend.url) { $0.backoff = Backoff(initial: .seconds(1), maximum: .seconds(1)) }
        try await eventually("three connections") { await backend.log.hellos.count >= 3 }
        try await Task.sleep(for: .seconds(2))
        // Without the backoff this is hundreds; with it at most one more per 0.5 s.
        #expect(await backend.log.hellos.count < 10)
        let gaps = await wall.client.disconnects.filter { $0.reason.contains("where 1 was expected") }
        #expect(gaps.count >= 2)
        await wall.stop()
        await backend.stop()
    }
}
