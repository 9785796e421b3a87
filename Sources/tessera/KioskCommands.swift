import ArgumentParser
import Foundation
import Logging
import Synchronization
import TesseraCore
import TesseraKiosk
import TesseraMedia
import TesseraSignal

/// The kiosk's subcommands (`run`, `doctor`, `demo`), listed first in `tessera --help`.
let kioskCommands: [any ParsableCommand.Type] = [Run.self, Doctor.self, Demo.self]

extension KioskConfiguration.Backend: ExpressibleByArgument {}
extension KioskConfiguration.Keyboard: ExpressibleByArgument {}

/// Options shared by `run` and `demo`.
struct StreamGateOptions: ParsableArguments {
    @Option(name: .customLong("allow-scheme"), help: ArgumentHelp(
        "Also accept stream URLs with this scheme from the backend (repeatable). By default only rtsp, rtsps and srt; "
        + "udp and rtp belong on a trusted LAN only.", valueName: "SCHEME"))
    var allowSchemes: [String] = []
    @Option(name: .customLong("allow-host"), help: ArgumentHelp(
        "Accept stream URLs only from these hosts (repeatable); default any host.", valueName: "HOST"))
    var allowHosts: [String] = []

    /// Both gates: Signal's (the roster) and Media's (the open).
    func apply(to signal: inout StreamURLPolicy, media: inout URLPolicy) {
        Self.apply(schemes: allowSchemes, hosts: allowHosts, to: &signal, media: &media)
    }

    static func apply(schemes: [String], hosts: [String], to signal: inout StreamURLPolicy, media: inout URLPolicy) {
        let schemes = Set(schemes.map { $0.lowercased() })
        signal.allowedSchemes.formUnion(schemes)
        media.allowedSchemes.formUnion(schemes)
        if !hosts.isEmpty {
            signal.allowedHosts = Set(hosts.map { $0.lowercased() })
            media.allowedHosts = Set(hosts.map { $0.lowercased() })
        }
    }
}

/// Exit codes: 0 after a clean shutdown; 1 the layout is invalid or an output cannot start; 64 bad command line.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the wall: signal → room → scene → media → render → output, until SIGTERM/SIGINT.",
        discussion: """
            Keys from the layout's shortcuts work from every keyboard (libinput) or, in development, from the terminal. \
            The layout file is watched: a valid edit applies within a second, an invalid one is logged and the last good \
            layout stays. /healthz and /metrics listen on --health.
            """)

    @Option(help: "The layout file.") var layout: String
    @Option(help: "WebSocket URL of the signaling backend, e.g. ws://10.0.0.5:8700/signal.") var signal: String?
    @Option(help: "File holding the wall's token (else $TESSERA_WALL_TOKEN).") var tokenFile: String?
    @Option(help: "wss: PEM file of the CA that signs the backend's certificate (else the system's roots).") var signalCaFile: String?
    @Option(help: "Room on the backend.") var room: String = "demo"
    @Option(help: "This wall's id on the backend (default: the host name).") var wallId: String?
    @Option(help: "Output backend: drm or headless.") var backend: KioskConfiguration.Backend = .default
    @Option(help: "Renderer: gles or cpu.") var renderer: RendererKind = .cpu
    @Option(help: "Headless: write DIR/<output-id>.png each second and at exit.") var snapshotDir: String?
    @Option(help: "Stop after this many seconds.") var exitAfter: Double?
    @Option(help: "Headless: frames per second of each output (default: its mode's refresh).") var fps: Double?
    @Option(help: "HOST:PORT for /healthz and /metrics; \"off\" for none.") var health: String = "127.0.0.1:9110"
    @Option(help: "Keyboard: auto, libinput, terminal or none.") var keyboard: KioskConfiguration.Keyboard = .auto
    @Option(help: "Without --signal: a local room of N synthetic participants.") var participants: Int = 0
    @Option(help: "Without --signal: stream URL of participant N ({n} becomes N, {n+K} becomes N+K).") var streamUrlTemplate: String?
    @Option(help: "Print a progress line every this many seconds (0: never).") var progress: Double = 0
    @Flag(inversion: .prefixedNo, help: "Under overload, skip non-reference frames and show small tiles at fewer pictures a second (docs/media.md).") var loadShedding = true
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"
    @OptionGroup var gates: StreamGateOptions

    func validate() throws {
        if signal == nil && participants == 0 && streamUrlTemplate != nil {
            throw ValidationError("--stream-url-template needs --participants N")
        }
        if signalCaFile != nil && signal == nil { throw ValidationError("--signal-ca-file needs --signal") }
        // Values also come from tessera.env (TESSERA_*): NaN and infinity trapped in Duration conversions.
        if let exitAfter, !(exitAfter.isFinite && exitAfter > 0) { throw ValidationError("--exit-after must be a positive number of seconds") }
        if let fps, !(fps.isFinite && fps > 0 && fps <= 1000) { throw ValidationError("--fps must be between 0 and 1000") }
        if !(progress.isFinite && progress >= 0) { throw ValidationError("--progress must be 0 (never) or a number of seconds") }
        if !(0...10_000).contains(participants) { throw ValidationError("--participants must be 0 to 10000") }
        if snapshotDir != nil && backend != .headless { throw ValidationError("--snapshot-dir works with --backend headless only") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
    }

    func run() throws {
        bootstrapLogging(level: Logger.Level(rawValue: logLevel)!)
        var config = try makeConfiguration()
        config.handleSignals = true
        config.boundedShutdown = true
        let kiosk: Kiosk
        do { kiosk = try Kiosk(configuration: config) } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        let progressEvery = progress
        let printer = progressEvery > 0 ? ProgressPrinter(every: progressEvery) { kiosk.statusLine() } : nil
        defer { printer?.stop() }
        do { try blockingRun { try await kiosk.run() } } catch {
            printError("run: \(error)")
            throw ExitCode(1)
        }
    }

    func makeConfiguration() throws -> KioskConfiguration {
        var signalPolicy = StreamURLPolicy()
        var mediaConfig = MediaConfiguration()
        gates.apply(to: &signalPolicy, media: &mediaConfig.policy)
        let source: KioskConfiguration.RoomSource
        if let signal {
            let token: SignalToken.Source = tokenFile.map { .file($0) } ?? .environment("TESSERA_WALL_TOKEN")
            source = .signal(SignalClientConfiguration(url: signal, room: room, wallID: wallId ?? ProcessInfo.processInfo.hostName,
                                                       token: token, caFile: signalCaFile, urlPolicy: signalPolicy))
        } else {
            var people = Room.synthetic(count: participants).participants
            if let template = streamUrlTemplate {
                for i in people.indices {
                    let url = URLTemplate.expand(template, n: i + 1)
                    people[i].streams = [ParticipantStream(kind: .camera, layers: [StreamLayer(width: 320, height: 180, url: url)])]
                }
            }
            source = .local(Room(participants: people))
        }
        var config = KioskConfiguration(layoutPath: layout, room: source)
        config.backend = backend
        config.renderer = renderer
        config.snapshotDirectory = snapshotDir
        config.exitAfter = exitAfter.map { .milliseconds(Int64($0 * 1000)) }
        config.headlessFPS = fps
        config.healthAddress = health == "off" ? nil : health
        config.keyboard = keyboard
        config.media = mediaConfig
        config.loadShedding = loadShedding
        return config
    }
}

/// Exit codes: 0 nothing wrong; 1 a problem was found; 64 bad command line.
struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check what the wall needs: DRM device and permissions, input devices, the layout, connectors, the backend.")

    @Option(help: "The layout file to check.") var layout: String?
    @Option(help: "WebSocket URL of the signaling backend, to check it is reachable.") var signal: String?
    @Option(help: "The wall's token file, to check it is readable.") var tokenFile: String?

    func run() throws {
        let findings = TesseraKiosk.Doctor.check(.init(layoutPath: layout, signalURL: signal, tokenFile: tokenFile))
        for f in findings { print(f) }
        let problems = findings.filter { $0.level == .problem }.count
        let warnings = findings.filter { $0.level == .warning }.count
        print(problems == 0 ? "doctor: no problems (\(plural(warnings, "warning")))" : "doctor: \(plural(problems, "problem")), \(plural(warnings, "warning"))")
        if problems > 0 { throw ExitCode(1) }
    }
}

/// Logs go to standard error, one line each; under systemd, with each line's priority for the
/// journal (`journalctl -p err` shows the errors).
func bootstrapLogging(level: Logger.Level) {
    let journal = JournalLogHandler.standardErrorIsJournal()
    LoggingSystem.bootstrap { label in
        var h = RedactingLogHandler(journal ? JournalLogHandler(label: label) : StreamLogHandler.standardError(label: label))
        h.logLevel = level
        return h
    }
}

/// Runs async work from a synchronous command and waits for it (the CLI's root command is synchronous).
func blockingRun(_ body: @escaping @Sendable () async throws -> Void) throws {
    let result = Mutex<Result<Void, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do { try await body(); result.withLock { $0 = .success(()) } } catch { result.withLock { $0 = .failure(error) } }
        done.signal()
    }
    done.wait()
    try result.withLock { $0! }.get()
}

/// Prints `line()` every few seconds on its own thread.
final class ProgressPrinter: Sendable {
    private let worker = WorkerThread(name: "progress")
    init(every seconds: Double, _ line: @escaping @Sendable () -> String) {
        let started = Date()
        worker.start { [worker] in
            while worker.sleep(for: .seconds(seconds)) {
                print(String(format: "[%5.1fs] ", Date().timeIntervalSince(started)) + line())
            }
        }
    }
    func stop() { worker.stop(timeout: .seconds(2)) }
}
