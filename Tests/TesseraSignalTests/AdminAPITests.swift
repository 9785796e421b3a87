import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TesseraCore
import TesseraSignal
import TesseraSignalServer
import Testing

struct HTTPReply: Sendable {
    var status: Int
    var body: Data
    var text: String { String(decoding: body, as: UTF8.self) }
    /// The `error` of a `{"error":"…"}` body.
    var error: String? { (try? JSONDecoder().decode([String: String].self, from: body))?["error"] }
    func decode<T: Decodable>(_: T.Type) throws -> T { try JSONDecoder().decode(T.self, from: body) }
}

/// One admin call against the backend on loopback. `authorization` nil sends no header.
func adminCall(_ port: Int, _ method: String, _ path: String, body: String? = nil,
               authorization: String? = "Bearer \(adminToken)") async throws -> HTTPReply {
    var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
    request.httpMethod = method
    request.timeoutInterval = 30
    if let authorization { request.setValue(authorization, forHTTPHeaderField: "Authorization") }
    if let body {
        request.httpBody = Data(body.utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
    }
    let session = URLSession(configuration: .ephemeral)
    defer { session.finishTasksAndInvalidate() }
    let (data, response) = try await session.data(for: request)
    return HTTPReply(status: (response as? HTTPURLResponse)?.statusCode ?? -1, body: data)
}

/// The admin API of the reference backend, over HTTP on loopback, with a wall attached to see
/// that every call reaches walls as the documented event.
@Suite(.timeLimit(.minutes(2)))
struct AdminAPITests {
    static let routes: [(method: String, path: String, body: String?)] = [
        ("GET", "/rooms/r", nil),
        ("POST", "/rooms/r/participants", #"{"id":"p9","name":"Lin"}"#),
        ("PUT", "/rooms/r/participants/p9", #"{"name":"Lin"}"#),
        ("DELETE", "/rooms/r/participants/p1", nil),
        ("POST", "/rooms/r/hands/p1", nil),
        ("DELETE", "/rooms/r/hands/p1", nil),
        ("POST", "/rooms/r/speaker", #"{"id":"p1"}"#),
        ("POST", "/rooms/r/layout", #"{"preset":"hands"}"#),
    ]

    @Test func healthzNeedsNoToken() async throws {
        let backend = try await RunningBackend.start()
        let reply = try await adminCall(backend.port, "GET", "/healthz", authorization: nil)
        #expect(reply.status == 200)
        #expect(reply.text == "ok\n")
        await backend.stop()
    }

    @Test func everyRoomRouteRefusesAMissingOrWrongToken() async throws {
        let store = RoomStore()
        try await fill(store, ids: 1...2)
        let backend = try await RunningBackend.start(store: store)
        let seq = try await store.view(of: "r").seq
        let bad: [String?] = [nil, "Bearer wrong", "Bearer \(adminToken)x", "Basic \(adminToken)",
                              "Bearer \(wallToken)", "Bearer "]
        for route in Self.routes {
            for authorization in bad {
                let reply = try await adminCall(backend.port, route.method, route.path, body: route.body, authorization: authorization)
                #expect(reply.status == 401, "\(route.method) \(route.path) with \(authorization ?? "no header")")
                #expect(reply.error?.contains("admin token") == true)
                #expect(!reply.text.contains(adminToken))
            }
        }
        #expect(try await store.view(of: "r").seq == seq, "a refused call changes nothing")
        await backend.stop()
    }

    @Test func everyRouteWorksAndReachesTheWall() async throws {
        let store = RoomStore()
        try await fill(store, ids: 1...2)
        let backend = try await RunningBackend.start(store: store)
        let port = backend.port
        let wall = RunningClient(url: backend.url)
        try await eventually("snapshot") { await wall.client.room.participants.count == 2 }

        // Join with every field.
        let join = #"{"id":"p9","name":"Lin","role":"teacher","sharesScreen":true,"streams":[{"kind":"screen","layers":[{"width":1920,"height":1080,"url":"srt://media.example:9000?streamid=p9"}]}]}"#
        var reply = try await adminCall(port, "POST", "/rooms/r/participants", body: join)
        #expect(reply.status == 200)
        let joined = try reply.decode(ParticipantRecord.self)
        #expect(joined.id == "p9" && joined.version == 1 && joined.role == .teacher && joined.sharesScreen)
        try await eventually("join") { await wall.client.room["p9"]?.stream(.screen) != nil }

        // POST again: an update of the fields given; the rest is kept.
        reply = try await adminCall(port, "POST", "/rooms/r/participants", body: #"{"id":"p9","name":"Lin Y"}"#)
        #expect(reply.status == 200)
        let updated = try reply.decode(ParticipantRecord.self)
        #expect(updated.version == 2 && updated.name == "Lin Y" && updated.role == .teacher && updated.streams == joined.streams)
        try await eventually("update") { await wall.client.room["p9"]?.name == "Lin Y" }

        // PUT takes the id from the path; the body needs none.
        reply = try await adminCall(port, "PUT", "/rooms/r/participants/p10", body: #"{"name":"Ada","role":"guest"}"#)
        #expect(reply.status == 200)
        #expect(try reply.decode(ParticipantRecord.self).id == "p10")
        reply = try await adminCall(port, "PUT", "/rooms/r/participants/p10", body: #"{"id":"ignored","name":"Ada L"}"#)
        #expect(try reply.decode(ParticipantRecord.self).id == "p10")
        try await eventually("put") { await wall.client.room["p10"]?.name == "Ada L" }
        #expect(await wall.client.room["ignored"] == nil)

        // Hands.
        reply = try await adminCall(port, "POST", "/rooms/r/hands/p9")
        #expect(reply.status == 200 && reply.text == #"{"ok":true}"#)
        try await eventually("hand raised") { await wall.client.room["p9"]?.handRaised == true }
        let seqAfterRaise = try await store.view(of: "r").seq
        reply = try await adminCall(port, "POST", "/rooms/r/hands/p9")
        #expect(reply.status == 200)
        #expect(try await store.view(of: "r").seq == seqAfterRaise, "raising a raised hand sends no event")
        reply = try await adminCall(port, "DELETE", "/rooms/r/hands/p9")
        #expect(reply.status == 200)
        try await eventually("hand lowered") { await wall.client.room["p9"]?.handRaised == false }

        // Speaker: set, then clear with null.
        reply = try await adminCall(port, "POST", "/rooms/r/speaker", body: #"{"id":"p10"}"#)
        #expect(reply.status == 200)
        try await eventually("speaker") { await wall.client.room.activeSpeaker == "p10" }
        reply = try await adminCall(port, "POST", "/rooms/r/speaker", body: #"{"id":null}"#)
        #expect(reply.status == 200)
        try await eventually("speaker cleared") {
            let lastSeq = try await store.view(of: "r").seq
            return await wall.client.lastSeq == lastSeq
        }
        #expect(await wall.client.room.activeSpeaker == nil)

        // Layout, with applyAt passed through.
        reply = try await adminCall(port, "POST", "/rooms/r/layout", body: #"{"preset":"hands","applyAt":1767225600000}"#)
        #expect(reply.status == 200)
        #expect(try reply.decode(LayoutSelection.self) == LayoutSelection(preset: "hands", rev: 1, applyAt: 1_767_225_600_000))
        try await eventually("layout") { await wall.client.layout?.preset == "hands" }
        #expect(await wall.client.layout?.applyAt == 1_767_225_600_000)

        // Leave.
        reply = try await adminCall(port, "DELETE", "/rooms/r/participants/p9")
        #expect(reply.status == 200)
        try await eventually("leave") { await wall.client.room["p9"] == nil }

        // The room as the admin sees it, with the wall and what it reported.
        try await eventually("wall reported") {
            guard let view = try? await adminCall(port, "GET", "/rooms/r").decode(RoomView.self) else { return false }
            return view.walls.first?.status?.seq == view.seq
        }
        reply = try await adminCall(port, "GET", "/rooms/r")
        #expect(reply.status == 200)
        let view = try reply.decode(RoomView.self)
        #expect(view.snapshot.room == "r")
        #expect(view.snapshot.participants.map(\.id) == ["p1", "p2", "p10"])
        #expect(view.snapshot.layout?.preset == "hands")
        #expect(view.walls.map(\.wallId) == ["wall-test"])
        #expect(view.seq == 12)

        await wall.stop()
        await backend.stop()
    }

    /// Ids in paths are percent-decoded: a space, non-ASCII letters and a slash (`%2F`) all name
    /// the participant the body named.
    @Test(arguments: [("a b", "a%20b"), ("été", "%C3%A9t%C3%A9"), ("a/b", "a%2Fb"), ("100%", "100%25")])
    func idsInPathsArePercentDecoded(_ id: String, _ encoded: String) async throws {
        let store = RoomStore()
        let backend = try await RunningBackend.start(store: store)
        let port = backend.port
        let body = String(decoding: try JSONEncoder().encode(["id": id]), as: UTF8.self)
        #expect(try await adminCall(port, "POST", "/rooms/r/participants", body: body).status == 200)
        var reply = try await adminCall(port, "POST", "/rooms/r/hands/\(encoded)")
        #expect(reply.status == 200, "\(reply.text)")
        #expect(try await store.view(of: "r").snapshot.participants.first?.handRaisedOrder != nil)
        reply = try await adminCall(port, "PUT", "/rooms/r/participants/\(encoded)", body: #"{"name":"Renamed"}"#)
        #expect(reply.status == 200, "\(reply.text)")
        #expect(try await store.view(of: "r").snapshot.participants.map(\.name) == ["Renamed"])
        reply = try await adminCall(port, "DELETE", "/rooms/r/participants/\(encoded)")
        #expect(reply.status == 200, "\(reply.text)")
        #expect(try await store.view(of: "r").snapshot.participants.isEmpty)
        await backend.stop()
    }

    struct BadCall: CustomTestStringConvertible, Sendable {
        var method: String
        var path: String
        var body: String?
        var status: Int
        /// A word the error message must contain.
        var mentions: String
        var testDescription: String { "\(method) \(path) \(body ?? "") → \(status)" }
    }

    @Test(arguments: [
        BadCall(method: "POST", path: "/rooms/r/participants", body: #"{"id":"#, status: 400, mentions: "not valid"),
        BadCall(method: "POST", path: "/rooms/r/participants", body: "not json", status: 400, mentions: "not valid"),
        BadCall(method: "POST", path: "/rooms/r/participants", body: #"{"name":"No Id"}"#, status: 400, mentions: "id"),
        BadCall(method: "POST", path: "/rooms/r/participants", body: #"{"id":"p5","role":"headmaster"}"#, status: 400, mentions: "bad request body"),
        BadCall(method: "POST", path: "/rooms/r/participants", body: #"{"id":"p5","streams":"all"}"#, status: 400, mentions: "streams"),
        BadCall(method: "POST", path: "/rooms/r/participants", body: #"{"id":""}"#, status: 400, mentions: "participant id"),
        BadCall(method: "PUT", path: "/rooms/r/participants/p5", body: #"{"name":7}"#, status: 400, mentions: "name"),
        BadCall(method: "POST", path: "/rooms/r/speaker", body: "{", status: 400, mentions: "bad request body"),
        BadCall(method: "POST", path: "/rooms/r/layout", body: "{}", status: 400, mentions: "preset"),
        BadCall(method: "POST", path: "/rooms/r/layout", body: #"{"preset":""}"#, status: 400, mentions: "preset"),
        BadCall(method: "POST", path: "/rooms/r/layout", body: #"{"preset":"grid","applyAt":"soon"}"#, status: 400, mentions: "applyAt"),
        BadCall(method: "POST", path: "/rooms/bad%20room/participants", body: #"{"id":"p5"}"#, status: 400, mentions: "room name"),
        BadCall(method: "GET", path: "/rooms/nowhere", body: nil, status: 404, mentions: "room nowhere"),
        BadCall(method: "DELETE", path: "/rooms/r/participants/nobody", body: nil, status: 404, mentions: "nobody"),
        BadCall(method: "POST", path: "/rooms/r/hands/nobody", body: nil, status: 404, mentions: "nobody"),
        BadCall(method: "DELETE", path: "/rooms/r/hands/nobody", body: nil, status: 404, mentions: "nobody"),
        BadCall(method: "POST", path: "/rooms/r/speaker", body: #"{"id":"nobody"}"#, status: 404, mentions: "nobody"),
    ])
    func badCallsGetAStatusAndAMessage(_ call: BadCall) async throws {
        let store = RoomStore()
        try await fill(store, ids: 1...2)
        let backend = try await RunningBackend.start(store: store)
        let seq = try await store.view(of: "r").seq
        let reply = try await adminCall(backend.port, call.method, call.path, body: call.body)
        #expect(reply.status == call.status)
        let message = try #require(reply.error, "body: \(reply.text)")
        #expect(message.contains(call.mentions), "\(message)")
        #expect(try await store.view(of: "r").seq == seq, "a refused call changes nothing")
        await backend.stop()
    }
}
