import Foundation
import Logging
import ServiceLifecycle
import TesseraMedia
import TesseraSignal

extension Kiosk {
    /// What is wrong now, for /healthz; empty when healthy.
    public func healthProblems() -> [String] {
        var problems: [String] = []
        let now = metrics.uptime
        for o in metrics.outputFigures {
            if let at = o.lastPresentAt {
                if now - at > 5 { problems.append("output \(o.id): no frame presented for \(Int(now - at)) s") }
            } else if now > 10 {
                problems.append("output \(o.id): nothing presented since start")
            }
        }
        let streams = media.stats.streams
        let offline = streams.filter { $0.state == .offline }.count
        if !streams.isEmpty && offline == streams.count { problems.append("all \(streams.count) streams are offline") }
        if let link = signalLink, let stalled = Watchdog.stalledFor(link) {
            problems.append("signal: the client has not run for \(stalled) s (hung)")
        }
        for k in keyboards.failures {
            problems.append("keyboard \(k.name): stopped reading (\(k.failure)); shortcuts do not work until tessera restarts")
        }
        return problems
    }

    /// What /healthz adds to its body without failing: the wall keeps showing the last room it had
    /// while the backend is away, so a lost backend is reported, not a failure of the wall.
    public func healthNotes() -> [String] {
        guard let link = signalLink, !link.connected else { return [] }
        let down = Int((ContinuousClock.now - link.since) / .seconds(1))
        return ["signal: disconnected for \(down) s" + (link.lastError.map { ", last error: \($0)" } ?? "")]
    }
}

/// systemd's side of health: `READY=1` once the outputs are lit, `WATCHDOG=1` every
/// `WatchdogSec`/2 only while every output keeps presenting and the signaling client (when there
/// is one) keeps running, `STOPPING=1` when shutdown begins. A hung render thread or a hung client
/// gets the service restarted; a backend that is merely unreachable does not stop the pings (see
/// /healthz). Without `$NOTIFY_SOCKET` it sends nothing.
struct Watchdog: Service {
    let notify: SystemdNotify
    let metrics: KioskMetrics
    /// Ends once the outputs are lit (the output service finishes it).
    let outputsLit: AsyncStream<Void>
    let signalLink: @Sendable () -> SignalLinkStatus?
    let logger: Logger

    func run() async {
        var lit = false
        for await _ in outputsLit.cancelOnGracefulShutdown() { lit = true; break }
        guard lit, !Task.isCancelled, !Task.isShuttingDownGracefully else {
            notify.send("STOPPING=1")
            return
        }
        notify.send("READY=1")
        if let interval = notify.watchdogInterval { await feed(every: interval) } else { try? await gracefulShutdown() }
        notify.send("STOPPING=1")
    }

    private func feed(every interval: Duration) async {
        let readyAt = metrics.uptime
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let alive = Self.outputsAlive(metrics.outputFigures, now: metrics.uptime, readyAt: readyAt)
            let stalled = signalLink().flatMap { Self.stalledFor($0) }
            if !alive {
                logger.error("an output stopped presenting; not feeding the watchdog")
            } else if let stalled {
                logger.error("the signaling client has not run for \(stalled) s; not feeding the watchdog")
            } else {
                notify.send("WATCHDOG=1")
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// Whether every output is presenting: its last present under 10 s ago, or, before its first,
    /// under 60 s since READY. (The grace once counted from the process's start: a GPU driver that
    /// took over 30 s to set up — llvmpipe in a slow VM — had the wall killed at every start.)
    static func outputsAlive(_ outputs: [OutputFigures], now: Double, readyAt: Double) -> Bool {
        outputs.allSatisfy { o in o.lastPresentAt.map { now - $0 < 10 } ?? (now - readyAt < 60) }
    }

    /// A client whose liveness beat (once a second) is more than 10 s old is hung: seconds, or nil.
    static func stalledFor(_ link: SignalLinkStatus, now: ContinuousClock.Instant = .now) -> Int? {
        let age = now - link.beat
        return age > .seconds(10) ? Int(age / .seconds(1)) : nil
    }
}
