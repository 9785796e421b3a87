import Logging
import TesseraLayout
import ServiceLifecycle
import TesseraMedia
import TesseraSignal

/// Carries the wall's traffic with the signaling backend: the client's `RoomUpdate`s into the
/// `Wall`, the wall's reports (layout and view changes, subscriptions) and the streams' health
/// (every 2 s) out to the client. Without a backend it only drains the wall's reports. At shutdown
/// it ends the reports, which also drops a preset switch still waiting for its `applyAt`.
struct SignalBridge: Service {
    let wall: Wall
    let media: MediaEngine
    let client: SignalClient?
    var healthInterval: Duration = .seconds(2)

    func run() async {
        await withDiscardingTaskGroup { tasks in
            if let client {
                tasks.addTask { for await update in client.updates { wall.apply(update) } }
                tasks.addTask { await forwardReports(to: client) }
                tasks.addTask { await reportHealth(to: client) }
            } else {
                tasks.addTask { for await _ in wall.reports {} }
            }
            try? await gracefulShutdown()
            wall.finishReports()
            tasks.cancelAll()
        }
    }

    func forwardReports(to client: SignalClient) async {
        await client.showing(preset: wall.currentView.preset)
        for await report in wall.reports {
            switch report {
            case .layoutChanged(let change): await client.layoutChanged(change)
            case .viewChanged(let change): await client.viewChanged(change)
            case .subscriptions(let subs): await client.subscribe(subs)
            }
        }
    }

    func reportHealth(to client: SignalClient) async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let health = media.openStreams.compactMap { id -> StreamHealth? in
                guard let s = media.mailbox(for: id)?.snapshot else { return nil }
                let state = StreamHealth.State(rawValue: s.state.rawValue) ?? .connecting
                return StreamHealth(participant: id.participant, kind: id.kind, state: state, fps: s.fps, kbps: s.kbps,
                                    lastFrameAgeMs: s.lastFrameAgeMs.map { Int($0) }, reconnects: s.reconnects)
            }
            await client.report(health: health)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: healthInterval) }
        }
    }

    /// The signaling configuration with the layout's outputs in `hello.capabilities.outputs`,
    /// unless it names some already.
    static func advertising(_ outputs: [OutputConfig], in config: SignalClientConfiguration) -> SignalClientConfiguration {
        var config = config
        if config.capabilities.outputs.isEmpty {
            config.capabilities.outputs = outputs.map {
                OutputCapability(id: $0.id, connector: $0.connector, width: $0.mode.width, height: $0.mode.height, refresh: $0.mode.refresh)
            }
        }
        return config
    }
}
