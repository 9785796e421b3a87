import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import TesseraCore
import TesseraSignal
import TesseraSignalServer

/// `tessera-signal`: the reference signaling backend for demos, tests and a teacher's tablet.
/// Tokens come from files or the environment only, never from arguments.
@main
struct TesseraSignalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera-signal",
        abstract: "Reference signaling backend for Tessera walls (WebSocket /signal, admin API /rooms).",
        discussion: """
        Wall token: --wall-token-file, else $TESSERA_WALL_TOKEN. Admin token: --admin-token-file, else \
        $TESSERA_ADMIN_TOKEN. Admin calls send `Authorization: Bearer <admin token>`; see docs/signaling.md.
        """)

    @Option(help: "Address to listen on, HOST:PORT.")
    var listen = "127.0.0.1:8700"

    @Option(help: "File holding the token walls present in hello.")
    var wallTokenFile: String?

    @Option(help: "File holding the admin API token.")
    var adminTokenFile: String?

    @Option(help: "Room to fill with synthetic participants.")
    var room = "demo"

    @Option(help: "Fill the room with this many synthetic participants.")
    var participants = 0

    @Option(help: "Stream URL for synthetic participants; {n} is 1…N ({n+K}: N+K), {id} the id, {height} the layer height (180 and 720 layers when present).")
    var streamURLTemplate = "rtsp://127.0.0.1:8554/p{n}"

    @Option(help: "Seconds between heartbeats the backend asks walls for.")
    var heartbeat = 10

    @Option(help: "Events kept for resume, per room.")
    var ringCapacity = 4096

    @Option(help: "PEM certificate chain to serve wss:// and https:// (with --tls-key); without it, plain ws/http.")
    var tlsCert: String?

    @Option(help: "PEM private key for --tls-cert.")
    var tlsKey: String?

    @Option(help: "Seconds a connection may take to send its WebSocket upgrade (or admin request) before it is closed.")
    var upgradeTimeout = 5.0

    @Option(help: "Connections open at once; over it new ones are closed at once (default: 1024, and 64 below the open-file limit).")
    var maxConnections: Int?

    @Option(help: "On shutdown, the seconds each wall is asked (bye.retryAfterMs) to wait before reconnecting.")
    var byeRetryAfter = 5.0

    func validate() throws {
        guard parseListen() != nil else { throw ValidationError("--listen must be HOST:PORT, e.g. 0.0.0.0:8700") }
        guard participants >= 0, participants <= 1000 else { throw ValidationError("--participants must be 0…1000") }
        guard heartbeat >= 1 else { throw ValidationError("--heartbeat must be at least 1 second") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        guard upgradeTimeout.isFinite, upgradeTimeout >= 0.1, upgradeTimeout <= 3600 else {
            throw ValidationError("--upgrade-timeout must be 0.1…3600 seconds")
        }
        guard byeRetryAfter.isFinite, byeRetryAfter >= 0, byeRetryAfter <= 60 else {
            throw ValidationError("--bye-retry-after must be 0…60 seconds")
        }
        if let maxConnections, !(1...1_000_000).contains(maxConnections) {
            throw ValidationError("--max-connections must be 1…1000000")
        }
    }

    func parseListen() -> (String, Int)? {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
              (0...65535).contains(port) else { return nil }
        let host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return host.isEmpty ? nil : (host, port)
    }

    func run() async throws {
        let journal = JournalLogHandler.standardErrorIsJournal()
        LoggingSystem.bootstrap { RedactingLogHandler(journal ? JournalLogHandler(label: $0) : StreamLogHandler.standardError(label: $0)) }
        let logger = Logger(label: "tessera.signal.server")
        let wallToken = try SignalToken.load(from: wallTokenFile.map { .file($0) } ?? .environment("TESSERA_WALL_TOKEN"))
        let adminToken = try SignalToken.load(from: adminTokenFile.map { .file($0) } ?? .environment("TESSERA_ADMIN_TOKEN"))
        let (host, port) = parseListen()!
        let store = RoomStore(ringCapacity: ringCapacity)
        for input in Self.syntheticParticipants(count: participants, template: streamURLTemplate) {
            try await store.upsert(input, in: room)
        }
        if participants > 0 { logger.info("room filled", metadata: ["room": "\(room)", "participants": "\(participants)"]) }
        let server = SignalServer(
            configuration: .init(host: host, port: port, wallTokens: [wallToken], adminToken: adminToken,
                                 heartbeat: .seconds(heartbeat),
                                 tls: tlsCert.map { .init(certificateChain: $0, privateKey: tlsKey!) },
                                 upgradeTimeout: .milliseconds(Int64(upgradeTimeout * 1000)), maxConnections: maxConnections,
                                 byeRetryAfter: .milliseconds(Int64(byeRetryAfter * 1000))),
            store: store, logger: logger)
        var groupConfiguration = ServiceGroupConfiguration(services: [server], gracefulShutdownSignals: [.sigterm, .sigint],
                                                           logger: logger)
        // The server closes every connection on shutdown; these bounds hold even if something does not.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(6)
        groupConfiguration.maximumCancellationDuration = .seconds(2)
        let group = ServiceGroup(configuration: groupConfiguration)
        try await group.run()
    }

    static func syntheticParticipants(count: Int, template: String) -> [ParticipantInput] {
        (1...max(1, count)).prefix(count).map { n in
            let id = "p\(n)"
            func url(_ height: Int) -> String {
                URLTemplate.expand(template, n: n).replacingOccurrences(of: "{id}", with: id)
                    .replacingOccurrences(of: "{height}", with: "\(height)")
            }
            let layers = template.contains("{height}")
                ? [StreamLayer(width: 320, height: 180, fps: 15, url: url(180)), StreamLayer(width: 1280, height: 720, fps: 30, url: url(720))]
                : [StreamLayer(width: 640, height: 360, fps: 30, url: url(360))]
            return ParticipantInput(id: ParticipantID(id), name: n == 1 ? "Teacher" : "Participant \(n)",
                                    role: n == 1 ? .teacher : .student, streams: [ParticipantStream(kind: .camera, layers: layers)])
        }
    }
}
