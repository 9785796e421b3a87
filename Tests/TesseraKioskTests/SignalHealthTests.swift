import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TesseraCore
import TesseraLayout
import TesseraSignal
@testable import TesseraKiosk
import Testing

/// /healthz, /metrics and the watchdog cover the control plane: a lost backend is reported (the
/// picture is fine, so /healthz stays 200), a hung signaling client fails health and the watchdog.
@Suite(.serialized) struct SignalHealthTests {
    @Test func aLostBackendIsReportedWithItsLastErrorWhileHealthzStaysOK() async throws {
        let peer = try StuckPeer(.finAtOnce)
        defer { peer.stop() }
        var config = KioskConfiguration(layoutPath: "\(repoRoot)/Layouts/single-1080p.json", room: .signal(SignalClientConfiguration(
            url: "ws://127.0.0.1:\(peer.port)/signal", room: "r", wallID: "wall-health", token: .value("t"),
            backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(200)))))
        config.backend = .headless
        config.headlessFPS = 10
        config.healthAddress = "127.0.0.1:0"
        config.keyboard = .none
        config.handleSignals = false
        let kiosk = try Kiosk(configuration: config)
        let run = Task { try await kiosk.run() }
        try await eventually("health listening") { kiosk.healthPort != nil }
        let port = try #require(kiosk.healthPort)
        try await eventually("a reported lost backend") {
            let (body, status) = try await get("http://127.0.0.1:\(port)/healthz")
            return status == 200 && body.hasPrefix("ok\n") && body.contains("signal: disconnected for")
                && body.contains("closed the connection before the WebSocket upgrade")
        }
        let (metrics, _) = try await get("http://127.0.0.1:\(port)/metrics")
        #expect(metrics.contains("tessera_signal_connected 0"))
        #expect(metrics.contains("tessera_signal_disconnected_seconds "))
        #expect(metrics.contains("tessera_signal_client_beat_age_seconds "))
        #expect(kiosk.signalLink?.connected == false)
        await kiosk.shutdown()
        _ = try? await run.value
    }

    /// `hello.capabilities.outputs` lists the layout's outputs with their modes.
    @Test func helloAdvertisesTheLayoutsOutputs() throws {
        let layout = try LayoutFiles.load("\(repoRoot)/Layouts/single-1080p.json").get()
        let base = SignalClientConfiguration(url: "ws://h/signal", room: "r", wallID: "w", token: .value("t"))
        let outputs = SignalBridge.advertising(layout.outputs, in: base).capabilities.outputs
        #expect(outputs == layout.outputs.map {
            OutputCapability(id: $0.id, connector: $0.connector, width: $0.mode.width, height: $0.mode.height, refresh: $0.mode.refresh)
        })
        #expect(outputs.first?.width == 1920 && outputs.first?.height == 1080)
    }

    @Test func aClientWhoseBeatStoppedIsHung() {
        let now = ContinuousClock.now
        var link = SignalLinkStatus(connected: false, since: now - .seconds(400), lastError: "x", beat: now - .seconds(1))
        #expect(Watchdog.stalledFor(link, now: now) == nil, "a backend away for long is not a hung client")
        link.beat = now - .seconds(12)
        #expect(Watchdog.stalledFor(link, now: now) == 12)
    }
}
