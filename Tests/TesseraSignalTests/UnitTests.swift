import Foundation
import TesseraCore
import TesseraSignal
import Testing

@Suite struct CodecTests {
    static let record = ParticipantRecord(Participant(id: "p1", name: "Ada", role: .teacher, joinOrder: 0,
                                                      handRaisedOrder: 3, sharesScreen: true, streams: camera("p1")), version: 4)

    @Test(arguments: [
        SignalMessage.hello(Hello(wallId: "w", nodeId: "n", room: "r", token: "t", resume: ResumeRequest(sessionId: "s", lastSeq: 9))),
        .welcome(Welcome(version: 1, sessionId: "s", heartbeatMs: 10000, maxMessageBytes: 262144, resumed: true)),
        .snapshot(Snapshot(room: "r", participants: [record], activeSpeaker: "p1", layout: LayoutSelection(preset: "grid", rev: 2))),
        .participantJoined(record), .participantUpdated(record), .participantLeft(ParticipantRef(id: "p1")),
        .speakerActive(SpeakerActive(id: nil)), .handRaised(HandRaised(id: "p1", order: 3, version: 5)),
        .handLowered(HandLowered(id: "p1", version: 6)), .layoutSet(LayoutSelection(preset: "grid", rev: 2, applyAt: 1_700_000_000_000)),
        .layoutChanged(LayoutChanged(preset: "grid", rev: 2, source: .keyboard)),
        .subscribe(SubscribeRequest(streams: [Subscription(participant: "p1", maxHeight: 360)])),
        .status(WallStatus(seq: 3, preset: "grid", streams: [StreamHealth(participant: "p1", state: .stalled, lastFrameAgeMs: 900, reconnects: 2)])),
        .ping(Heartbeat(t: 1)), .pong(Heartbeat(t: 1)),
        .error(SignalError(code: .urlRefused, message: "scheme \"file\" is not allowed", participant: "p1")),
        .bye(Bye(reason: "maintenance", retryAfterMs: 5000)),
        .hello(Hello(wallId: "w", nodeId: "n", room: "r", token: "t", minor: 1)),
        .welcome(Welcome(version: 1, sessionId: "s", heartbeatMs: 10000, maxMessageBytes: 262144, resumed: false, minor: 1)),
        .viewChanged(ViewChanged(page: 2, spotlight: nil, labels: false, source: .keyboard)),
        .viewChanged(ViewChanged(page: 0, spotlight: "p1", labels: true, source: .backend)),
        .viewSet(ViewSet(page: 1, spotlight: .some(nil), labels: nil, rev: 3)),
        .viewSet(ViewSet(spotlight: .some("p1"), rev: 4)),
        .viewSet(ViewSet(labels: true, rev: 5)),
    ])
    func roundTrips(_ m: SignalMessage) throws {
        let seq: Int? = m.isRoomEvent ? 12 : nil
        let text = SignalCodec.encode(m, seq: seq)
        let back = try SignalCodec.decode(text)
        #expect(back.message == m)
        #expect(back.seq == seq)
        #expect(back.version == 1)
    }

    /// A cleared speaker is written `{"id":null}` (absent and null both read as cleared).
    @Test func aClearedSpeakerIsWrittenAsNull() throws {
        let text = SignalCodec.encode(.speakerActive(SpeakerActive(id: nil)), seq: 3)
        #expect(text.contains(#""data":{"id":null}"#), "\(text)")
        for data in [#"{}"#, #"{"id":null}"#] {
            let e = try SignalCodec.decode(#"{"v":1,"type":"speaker.active","seq":3,"data":"# + data + "}")
            #expect(e.message == .speakerActive(SpeakerActive(id: nil)))
        }
    }

    /// `view.set`: absent keeps, null clears the spotlight.
    @Test func aViewSetSaysAbsentAndNullApart() throws {
        #expect(SignalCodec.encode(.viewSet(ViewSet(spotlight: .some(nil), rev: 1))).contains(#""spotlight":null"#))
        #expect(!SignalCodec.encode(.viewSet(ViewSet(page: 1, rev: 1))).contains("spotlight"))
        let kept = ViewSet(page: 4, spotlight: .some("p1"), labels: true, rev: 1)
        #expect(kept.merged(with: ViewSet(page: 5, rev: 2)) == ViewSet(page: 5, spotlight: .some("p1"), labels: true, rev: 2))
        #expect(kept.merged(with: ViewSet(spotlight: .some(nil), rev: 3)) == ViewSet(page: 4, spotlight: .some(nil), labels: true, rev: 3))
    }

    @Test func unknownErrorCodesSurvive() throws {
        let e = try SignalCodec.decode(#"{"v":1,"type":"error","data":{"code":"room-closed","message":"m","fatal":true}}"#)
        #expect(e.message == .error(SignalError(code: .other("room-closed"), message: "m", fatal: true)))
    }
}

@Suite struct URLPolicyTests {
    @Test(arguments: [
        ("rtsp://cam.example/p1", true), ("RTSPS://cam.example:322/p1", true), ("srt://10.0.0.5:9000?streamid=p1", true),
        ("file:///etc/passwd", false), ("concat:a|b", false), ("http://cam.example/x.m3u8", false), ("https://x/y", false),
        ("data:video/mp4;base64,AA", false), ("subfile:,start,0,end,1,:/etc/passwd", false), ("pipe:0", false),
        ("udp://239.0.0.1:1234", false), ("rtsp://", false), ("rtsp://cam example/p", false), ("", false),
    ])
    func defaultPolicy(_ url: String, _ allowed: Bool) {
        #expect((StreamURLPolicy().check(url) == nil) == allowed, "\(url)")
    }

    @Test func hostAllowlistAndLANSchemes() {
        let policy = StreamURLPolicy(allowedSchemes: ["rtsp", "udp"], allowedHosts: ["media.lan"])
        #expect(policy.check("rtsp://media.lan/a") == nil)
        #expect(policy.check("udp://media.lan:5000") == nil)
        #expect(policy.check("rtsp://evil.example/a") != nil)
    }
}

@Suite struct RoomTrackerTests {
    func snapshot(_ ids: [Int], url: (Int) -> String = { "rtsp://m/p\($0)" }) -> Snapshot {
        Snapshot(room: "r", participants: ids.map { n in
            ParticipantRecord(Participant(id: ParticipantID("p\(n)"), name: "P\(n)", joinOrder: n,
                                          streams: [ParticipantStream(kind: .camera, layers: [StreamLayer(width: 640, height: 360, url: url(n))])]),
                              version: 1)
        }, activeSpeaker: nil, layout: nil)
    }

    @Test func aSnapshotThatMatchesTheRoomChangesNoStreams() {
        var t = RoomTracker()
        _ = t.apply(snapshot: snapshot(Array(1...250)), seq: 10)
        let again = t.apply(snapshot: snapshot(Array(1...250)), seq: 10)
        #expect(!again.hasStreamChanges)
        #expect(again.room.participants.count == 250)
    }

    @Test func aSnapshotReportsOnlyWhatChanged() {
        var t = RoomTracker()
        _ = t.apply(snapshot: snapshot(Array(1...10)), seq: 1)
        let u = t.apply(snapshot: snapshot(Array(2...11), url: { $0 == 5 ? "rtsp://m/p5-new" : "rtsp://m/p\($0)" }), seq: 2)
        #expect(u.left == ["p1"])
        #expect(u.joined == ["p11"])
        #expect(u.streamsChanged == ["p5"])
    }

    @Test func eventsAreIdempotentAndGapsAreDetected() {
        var t = RoomTracker()
        _ = t.apply(snapshot: snapshot([1]), seq: 5)
        let rec = ParticipantRecord(Participant(id: "p2", name: "P2", joinOrder: 2), version: 1)
        guard case .applied(let u) = t.apply(event: .participantJoined(rec), seq: 6) else { Issue.record("not applied"); return }
        #expect(u.joined == ["p2"])
        guard case .duplicate = t.apply(event: .participantJoined(rec), seq: 6) else { Issue.record("not a duplicate"); return }
        guard case .gap(7, 9) = t.apply(event: .participantLeft(ParticipantRef(id: "p2")), seq: 9) else { Issue.record("no gap"); return }
        // An older version of a participant (replayed) does not undo a newer one.
        var renamed = rec; renamed.version = 3; renamed.name = "New"
        _ = t.apply(event: .participantUpdated(renamed), seq: 7)
        _ = t.apply(event: .participantUpdated(rec), seq: 8)
        #expect(t.room["p2"]?.name == "New")
    }

    @Test func namesAreBoundedPlainText() {
        var t = RoomTracker(limits: RosterLimits(maxNameLength: 8))
        let rec = ParticipantRecord(Participant(id: "p1", name: "Bob\u{202E}\u{0007}\nDROP TABLE", joinOrder: 0), version: 1)
        _ = t.apply(snapshot: Snapshot(room: "r", participants: [rec], activeSpeaker: nil, layout: nil), seq: 1)
        #expect(t.room["p1"]?.name == "BobDROP ")
    }

    @Test func participantCapIsEnforced() {
        var t = RoomTracker(limits: RosterLimits(maxParticipants: 3))
        let u = t.apply(snapshot: snapshot(Array(1...5)), seq: 1)
        #expect(u.room.participants.count == 3)
        #expect(u.refusals.map(\.code) == [.rosterRefused, .rosterRefused])
    }
}

@Suite struct TokenAndBackoffTests {
    @Test func tokenFromFileIsTrimmedAndRedacted() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-token-\(UUID().uuidString)").path
        try "s3cret\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let token = try SignalToken.load(from: .file(path))
        #expect(token.secret == "s3cret")
        #expect(!"\(token)".contains("s3cret"))
        #expect(token.matches("s3cret") && !token.matches("s3cre") && !token.matches("s3cretx"))
    }

    @Test func missingEnvironmentTokenIsAnError() {
        #expect(throws: SignalToken.LoadError.self) { try SignalToken.load(from: .environment("TESSERA_TEST_UNSET_\(UUID().uuidString.prefix(8))")) }
    }

    @Test func backoffGrowsToItsCapWithJitter() {
        let b = Backoff(initial: .milliseconds(100), maximum: .seconds(2))
        #expect(b.delay(attempt: 0, random: 0) == .milliseconds(50))
        #expect(b.delay(attempt: 0, random: 1) == .milliseconds(100))
        #expect(b.delay(attempt: 3, random: 1) == .milliseconds(800))
        #expect(b.delay(attempt: 20, random: 1) == .seconds(2))
        #expect(b.delay(attempt: 20, random: 0) == .seconds(1))
    }

    @Test func subscriptionsFollowTheTallestTile() {
        let black = Color(red: 0, green: 0, blue: 0)
        func tile(_ id: ParticipantID?, _ h: Int) -> Tile {
            Tile(participant: id, zone: "z", rect: Rect(x: 0, y: 0, width: h * 16 / 9, height: h), fit: .cover, background: black)
        }
        let scene = Scene(preset: "p", page: 0, pageCount: 1, outputs: [OutputScene(
            id: "o", size: Size(width: 1920, height: 1080), rotation: .none, background: black, tiles: [
                tile("p1", 180), tile("p1", 720), tile(nil, 1080),
            ])])
        #expect(Subscription.from(scene: scene) == [Subscription(participant: "p1", maxHeight: 720)])
    }
}
