import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import TesseraCore
import TesseraMedia
import TesseraRender

/// `/healthz` and Prometheus `/metrics` on a local address, for an operator's monitoring.
enum HealthServer {
    static func make(host: String, port: Int, kiosk: Kiosk, logger: Logger,
                     onListening: @escaping @Sendable (Int) async -> Void) -> some Service {
        let router = Router()
        router.get("/healthz") { _, _ -> Response in
            let problems = kiosk.healthProblems()
            let notes = kiosk.healthNotes()
            let body = (problems.isEmpty ? "ok\n" : problems.map { $0 + "\n" }.joined()) + notes.map { $0 + "\n" }.joined()
            return Response(status: problems.isEmpty ? .ok : .serviceUnavailable,
                            headers: [.contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        router.get("/metrics") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: kiosk.metricsText())))
        }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: nil),
                           onServerRunning: { channel in
                               let bound = channel.localAddress?.port ?? port
                               logger.info("health and metrics listening", metadata: ["address": "\(host):\(bound)"])
                               await onListening(bound)
                           }, logger: logger)
    }
}

extension Kiosk {
    /// What /metrics serves: this kiosk's registry in the Prometheus text format (version 0.0.4),
    /// with the figures other parts own (streams, room, signaling link) read in first.
    public func metricsText() -> String {
        let streams = media.stats.streams.map {
            StreamFigures(id: $0.id, state: $0.state.rawValue, fps: $0.fps, kbps: $0.kbps, reconnects: $0.reconnects,
                          framesDecoded: $0.framesDecoded, ffmpegLogSuppressed: $0.ffmpegLogSuppressed, framesSuperseded: $0.framesSuperseded,
                          framesSkippedNonReference: $0.framesSkippedNonReference, framesNotShown: $0.framesNotShown,
                          packetsSkippedBehind: $0.packetsSkippedBehind)
        }
        let now = ContinuousClock.now
        let signal = signalLink.map { link in
            SignalFigures(connected: link.connected,
                          disconnectedSeconds: link.connected ? 0 : Double((now - link.since) / .milliseconds(1)) / 1000,
                          beatAgeSeconds: Double((now - link.beat) / .milliseconds(1)) / 1000)
        }
        return metrics.exposition(streams: streams, participants: wall.currentRoom.participants.count, signal: signal,
                                  shedding: shedding.figures, renderScratchBytes: CPURenderer.scratchBytesInProcess)
    }
}
