import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TesseraInput
import TesseraLayout

/// The keyboards the kiosk reads: chosen at start (`KioskConfiguration.Keyboard`), each on its own
/// thread; their key presses become the layout's shortcuts on the `Wall`. All stop at shutdown.
/// Health reads their failures.
final class Keyboards: Service, Sendable {
    private let choice: KioskConfiguration.Keyboard
    private let wall: Wall
    private let metrics: KioskMetrics
    private let logger: Logger
    private let sources = Mutex<[any KeyboardSource]>([])

    init(choice: KioskConfiguration.Keyboard, wall: Wall, metrics: KioskMetrics, logger: Logger) {
        self.choice = choice; self.wall = wall; self.metrics = metrics; self.logger = logger
    }

    /// A key press from any keyboard: the layout's shortcut for it, if any, is applied.
    @discardableResult
    func press(_ key: KeyPress) -> Action? {
        var mods = Set<Modifier>()
        if key.ctrl { mods.insert(.ctrl) }
        if key.alt { mods.insert(.alt) }
        if key.shift { mods.insert(.shift) }
        if key.logo { mods.insert(.superKey) }
        metrics.count("keys")
        return wall.handleKey(KeyCombo(modifiers: mods, key: key.keysym))
    }

    func run() async {
        add(chosen())
        try? await gracefulShutdown()
        sources.withLock { ks in ks.forEach { $0.stop() }; ks.removeAll() }
    }

    /// What `choice` asks for on this machine: `.auto` takes libinput where an input device is
    /// readable, else the terminal where standard input is one.
    private func chosen() -> [any KeyboardSource] {
        switch choice {
        case .none: return []
        case .libinput: return [LibinputKeyboard()]
        case .terminal: return [TerminalKeyboard()]
        case .auto:
            if !LibinputKeyboard.readableEventDevices().isEmpty { return [LibinputKeyboard()] }
            if isatty(STDIN_FILENO) == 1 { return [TerminalKeyboard()] }
            logger.info("no keyboard: no readable /dev/input device and standard input is not a terminal")
            return []
        }
    }

    /// Starts reading keys from `new` (tests add a pipe-backed terminal keyboard this way).
    func add(_ new: [any KeyboardSource]) {
        for source in new {
            do {
                try source.start { [self] key in press(key) }
                sources.withLock { $0.append(source) }
                logger.info("reading keys", metadata: ["from": "\(source.name)"])
            } catch {
                logger.warning("keyboard unavailable", metadata: ["from": "\(source.name)", "reason": "\(error)"])
                if source is LibinputKeyboard, choice == .auto, isatty(STDIN_FILENO) == 1 {
                    add([TerminalKeyboard()])
                }
            }
        }
    }

    /// Keyboards whose reading loop ended on its own, with why (for /healthz).
    var failures: [(name: String, failure: String)] {
        sources.withLock { $0.compactMap { k in k.failure.map { (k.name, "\($0)") } } }
    }
}
