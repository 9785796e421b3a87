import Foundation
import TesseraCore
import TesseraMedia
import TesseraSignal

/// Everything `tessera run` decides, with its defaults in one place.
public struct KioskConfiguration: Sendable {
    public enum Backend: String, Sendable, CaseIterable {
        case drm, headless
        /// What `tessera run` drives unless told otherwise (`--backend`): the displays. Tests and
        /// benchmarks choose `.headless` themselves.
        public static let `default` = Backend.drm
    }
    public enum Keyboard: String, Sendable, CaseIterable {
        /// libinput when an input device is readable, else the terminal when standard input is one.
        case auto
        case libinput, terminal, none
    }

    /// Where the room comes from.
    public enum RoomSource: Sendable {
        /// A signaling backend.
        case signal(SignalClientConfiguration)
        /// A fixed roster from the kiosk's own configuration (stream URLs count as local config).
        case local(Room)
    }

    public var layoutPath: String
    public var room: RoomSource
    public var backend: Backend = .default
    public var renderer: RendererKind = .cpu
    /// Headless: write DIR/<output-id>.png at least every `snapshotInterval` and at exit.
    public var snapshotDirectory: String?
    public var snapshotInterval: Duration = .seconds(1)
    /// Headless pacing; nil paces each output at its mode's refresh (60 when the mode has none).
    public var headlessFPS: Double?
    /// Stop by itself after this long (demos, tests).
    public var exitAfter: Duration?
    /// HOST:PORT for /healthz and /metrics; nil for none.
    public var healthAddress: String?
    public var keyboard: Keyboard = .auto
    /// How often the layout file is checked for changes.
    public var reloadInterval: Duration = .milliseconds(250)
    public var media = MediaConfiguration()
    /// Handle SIGTERM and SIGINT (the CLI); tests stop the kiosk with `shutdown()`.
    public var handleSignals = true
    /// Caps shutdown at 7 s of graceful stop plus 2 s of cancellation, after which ServiceLifecycle
    /// ends the process (a fatal error): SIGTERM always ends `tessera run` within 10 s. For the
    /// CLI's own process only, never where the kiosk shares a process (tests, benchmarks).
    public var boundedShutdown = false
    /// Threads each CPU renderer converts tiles on (default: the cores shared among the outputs).
    public var workersPerOutput: Int?
    /// Shed decode and draw work when the machine cannot keep up (LoadShedder.swift).
    public var loadShedding = true

    public init(layoutPath: String, room: RoomSource) {
        self.layoutPath = layoutPath; self.room = room
    }
}
