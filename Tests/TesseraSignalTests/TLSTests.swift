import Foundation
import TesseraCore
import TesseraSignal
import TesseraSignalServer
import Testing

/// A throwaway CA and server certificates made with the `openssl` CLI in a temporary directory.
struct TestPKI {
    let directory: String
    var caFile: String { directory + "/ca.pem" }
    /// Certificate and key for `localhost` (and 127.0.0.1), signed by the CA.
    var localhost: SignalServerConfiguration.TLSFiles { .init(certificateChain: directory + "/localhost.pem", privateKey: directory + "/localhost.key") }
    /// Signed by the same CA, for another name.
    var otherHost: SignalServerConfiguration.TLSFiles { .init(certificateChain: directory + "/other.pem", privateKey: directory + "/other.key") }

    static let openssl: String? = ["/usr/bin/openssl", "/usr/local/bin/openssl", "/bin/openssl"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    static func make() throws -> TestPKI {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-pki-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let pki = TestPKI(directory: dir)
        try pki.run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Tessera Test CA",
                     "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        try pki.leaf("localhost", san: "DNS:localhost,IP:127.0.0.1")
        try pki.leaf("other", san: "DNS:signal.other.example")
        return pki
    }

    private func leaf(_ name: String, san: String) throws {
        try "subjectAltName=\(san)\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n"
            .write(toFile: directory + "/\(name).ext", atomically: true, encoding: .utf8)
        try run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name)"])
        try run(["x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", "\(name).pem", "-days", "2", "-extfile", "\(name).ext"])
    }

    private func run(_ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.openssl!)
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: directory)
        let errors = Pipe()
        p.standardError = errors
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw TestFailure("openssl \(arguments.first ?? "") failed: \(String(decoding: output, as: UTF8.self))")
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

/// wss on loopback against a private CA made at test time: the CA file is needed and enough, and
/// the certificate must name the host.
@Suite(.timeLimit(.minutes(2)), .enabled(if: TestPKI.openssl != nil, "needs the openssl CLI to make certificates"))
struct TLSTests {
    @Test func withTheCAFileTheWallConnectsOverWSS() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let store = RoomStore()
        try await fill(store, ids: 1...3)
        let backend = try await RunningBackend.start(store: store) { $0.tls = pki.localhost }
        let wall = RunningClient(url: "wss://localhost:\(backend.port)/signal") { $0.caFile = pki.caFile }
        try await eventually("snapshot over wss") { await wall.client.room.participants.count == 3 }
        try await store.setHand("p2", raised: true, in: "r")
        try await eventually("event over wss") { await wall.client.room["p2"]?.handRaised == true }
        #expect(await wall.client.disconnects.isEmpty)
        await wall.stop()
        await backend.stop()
    }

    @Test func withoutTheCAFileTheSystemRootsRefuseThePrivateCA() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let backend = try await RunningBackend.start { $0.tls = pki.localhost }
        let wall = RunningClient(url: "wss://localhost:\(backend.port)/signal")
        try await eventually("a refusal") { await !wall.client.disconnects.isEmpty }
        let refusal = try #require(await wall.client.disconnects.first)
        #expect(refusal.reason.hasPrefix("TLS refused the backend's certificate"), "\(refusal.reason)")
        #expect(refusal.reason.contains("set caFile"), "\(refusal.reason)")
        #expect(refusal.closeCode == nil)
        #expect(await wall.client.snapshotsApplied == 0)
        // The wall keeps trying (the operator may fix the trust store), and keeps refusing.
        try await eventually("a retry") { await wall.client.disconnects.count >= 2 }
        #expect(await wall.client.snapshotsApplied == 0)
        await wall.stop()
        await backend.stop()
    }

    @Test func aCertificateForAnotherNameIsRefused() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let backend = try await RunningBackend.start { $0.tls = pki.otherHost }
        let wall = RunningClient(url: "wss://localhost:\(backend.port)/signal") { $0.caFile = pki.caFile }
        try await eventually("a refusal") { await !wall.client.disconnects.isEmpty }
        let refusal = try #require(await wall.client.disconnects.first)
        #expect(refusal.reason.hasPrefix("TLS refused the backend's certificate"), "\(refusal.reason)")
        #expect(refusal.reason.contains("name localhost"), "\(refusal.reason)")
        #expect(await wall.client.snapshotsApplied == 0)
        await wall.stop()
        await backend.stop()
    }

    @Test(arguments: ["wss://127.0.0.1:8700/signal", "wss://[::1]:8700/signal"])
    func wssToAnIPAddressIsAConfigurationError(_ url: String) async throws {
        let client = SignalClient(configuration: .init(url: url, room: "r", wallID: "w", token: .value(wallToken)),
                                  logger: testLogger("test.tls"))
        await #expect(throws: SignalClientError.self) { try await client.run() }
    }

    @Test func anUnreadableCAFileIsAConfigurationError() async throws {
        let client = SignalClient(configuration: .init(url: "wss://localhost:1/signal", room: "r", wallID: "w",
                                                       token: .value(wallToken), caFile: "/nonexistent/ca.pem"),
                                  logger: testLogger("test.tls"))
        do {
            try await client.run()
            Issue.record("run() returned")
        } catch let error as SignalClientError {
            guard case .tls(let path, _) = error else { Issue.record("\(error)"); return }
            #expect(path == "/nonexistent/ca.pem")
        }
    }

    @Test func aBackendWithAMissingKeyFailsToStart() async throws {
        let server = SignalServer(configuration: .init(wallTokens: [SignalToken(secret: wallToken)], adminToken: SignalToken(secret: adminToken),
                                                       tls: .init(certificateChain: "/nonexistent/cert.pem", privateKey: "/nonexistent/key.pem")),
                                  logger: testLogger("test.tls"))
        await #expect(throws: SignalServerError.self) { try await server.run() }
    }
}
