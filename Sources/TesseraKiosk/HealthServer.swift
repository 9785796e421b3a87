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
                     body: .init(byteBuffer: ByteBuffer(string: PrometheusText.render(kiosk: kiosk))))
        }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: nil),
                           onServerRunning: { channel in
                               let bound = channel.localAddress?.port ?? port
                               logger.info("health and metrics listening", metadata: ["address": "\(host):\(bound)"])
                               await onListening(bound)
                           }, logger: logger)
    }
}

/// The Prometheus text exposition format (version 0.0.4).
public enum PrometheusText {
    public static func render(kiosk: Kiosk) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: [(String, String)], value: Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for s in samples {
                let labels = s.labels.isEmpty ? "" : "{" + s.labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
                out += "\(name)\(labels) \(number(s.value))\n"
            }
        }
        let streams = kiosk.media.stats.streams
        family("tessera_stream_up", "gauge", "1 for the stream's current state (connecting, playing, stalled, offline).",
               streams.flatMap { s in StreamState.allCases.map { st in ([("stream", s.id), ("state", st.rawValue)], s.state == st ? 1.0 : 0) } })
        family("tessera_stream_fps", "gauge", "Frames decoded per second, per stream.", streams.map { ([("stream", $0.id)], $0.fps) })
        family("tessera_stream_kbps", "gauge", "Input bit rate per stream.", streams.map { ([("stream", $0.id)], $0.kbps) })
        family("tessera_stream_reconnects_total", "counter", "Reconnects per stream.", streams.map { ([("stream", $0.id)], Double($0.reconnects)) })
        family("tessera_stream_frames_decoded_total", "counter", "Frames decoded per stream.",
               streams.map { ([("stream", $0.id)], Double($0.framesDecoded)) })
        family("tessera_ffmpeg_log_suppressed_total", "counter", "FFmpeg messages about a stream dropped by the per-stream log rate limit.",
               streams.map { ([("stream", $0.id)], Double($0.ffmpegLogSuppressed)) })
        family("tessera_streams", "gauge", "Open streams by state.",
               StreamState.allCases.map { st in ([("state", st.rawValue)], Double(streams.filter { $0.state == st }.count)) })
        let outputs = kiosk.metrics.outputFigures
        family("tessera_output_frames_total", "counter", "Frames presented per output.", outputs.map { ([("output", $0.id)], Double($0.framesPresented)) })
        family("tessera_output_dropped_frames_total", "counter", "Refresh ticks passed without a new picture (drawing took too long).",
               outputs.map { ([("output", $0.id)], Double($0.framesDropped)) })
        family("tessera_output_render_errors_total", "counter", "Failed draws per output.", outputs.map { ([("output", $0.id)], Double($0.renderErrors)) })
        out += "# HELP tessera_render_frame_seconds Time to draw and present one frame.\n# TYPE tessera_render_frame_seconds summary\n"
        for o in outputs {
            out += "tessera_render_frame_seconds_sum{output=\"\(escape(o.id))\"} \(number(o.frameSecondsSum))\n"
            out += "tessera_render_frame_seconds_count{output=\"\(escape(o.id))\"} \(o.framesPresented)\n"
        }
        family("tessera_render_frame_seconds_max", "gauge", "Slowest frame so far per output.", outputs.map { ([("output", $0.id)], $0.frameSecondsMax) })
        family("tessera_render_prepares_total", "counter", "Draws between refreshes that put newly arrived pictures in the next buffer.",
               outputs.map { ([("output", $0.id)], Double($0.prepares)) })
        family("tessera_render_prepare_seconds_max", "gauge", "Slowest round of draws between refreshes so far (all outputs of a render thread).",
               outputs.map { ([("output", $0.id)], $0.prepareSecondsMax) })
        out += "# HELP tessera_picture_latency_seconds Stream pictures' way to the output buffer since the start: arrival_to_decoded "
            + "(packet read to picture decoded), decoded_to_buffer (wait for the refresh and the draw), arrival_to_buffer (both), "
            + "capture_to_buffer (from the publisher's stamp, stamped streams only). Quantile 1 is the maximum.\n"
            + "# TYPE tessera_picture_latency_seconds summary\n"
        for (id, l) in kiosk.metrics.latency.sorted(by: { $0.key < $1.key }) {
            let spans = [("arrival_to_decoded", l.arrivalToDecoded), ("decoded_to_buffer", l.decodedToBuffer),
                         ("arrival_to_buffer", l.arrivalToBuffer), ("capture_to_buffer", l.captureToBuffer)]
            for (span, h) in spans {
                guard let s = OutputLatency.summary(h) else { continue }
                let labels = "output=\"\(escape(id))\",span=\"\(span)\""
                for (q, v) in [("0.5", s.p50), ("0.99", s.p99), ("1", s.max)] {
                    out += "tessera_picture_latency_seconds{\(labels),quantile=\"\(q)\"} \(seconds(v))\n"
                }
                out += "tessera_picture_latency_seconds_sum{\(labels)} \(seconds(s.mean * Double(s.count)))\n"
                out += "tessera_picture_latency_seconds_count{\(labels)} \(s.count)\n"
            }
        }
        let counts = kiosk.metrics.counts
        family("tessera_events_total", "counter", "Kiosk events: keys, presets, layout reloads (applied and rejected).",
               counts.keys.sorted().map { ([("event", $0)], Double(counts[$0]!)) })
        out += shedding(kiosk: kiosk, streams: streams)
        family("tessera_participants", "gauge", "Participants in the room.", [([], Double(kiosk.wall.currentRoom.participants.count))])
        family("tessera_uptime_seconds", "gauge", "Seconds since the kiosk started.", [([], kiosk.metrics.uptime)])
        let process = ProcessFigures.now()
        family("tessera_process_malloc_inuse_bytes", "gauge", "Bytes malloc has handed out and not got back (mallinfo2 uordblks + hblkhd).",
               [([], Double(process.mallocInUse))])
        family("tessera_render_scratch_bytes", "gauge", "Bytes the CPU renderer keeps for scaling tiles (one scratch per worker, at most the largest tile shown).",
               [([], Double(CPURenderer.scratchBytesInProcess))])
        family("tessera_process_open_fds", "gauge", "Open file descriptors.", [([], Double(process.openFDs))])
        family("tessera_process_threads", "gauge", "Threads of the process.", [([], Double(process.threads))])
        if let link = kiosk.signalLink {
            let now = ContinuousClock.now
            family("tessera_signal_connected", "gauge", "1 while the wall holds a welcomed connection to the signaling backend.",
                   [([], link.connected ? 1 : 0)])
            family("tessera_signal_disconnected_seconds", "gauge", "Seconds since the link to the backend went down (0 while connected).",
                   [([], link.connected ? 0 : Double((now - link.since) / .milliseconds(1)) / 1000)])
            family("tessera_signal_client_beat_age_seconds", "gauge", "Seconds since the signaling client last ran its liveness beat (about 1 when healthy).",
                   [([], Double((now - link.beat) / .milliseconds(1)) / 1000)])
        }
        return out
    }

    /// Milliseconds as seconds, to the microsecond.
    static func seconds(_ ms: Double) -> String { String(format: "%.6f", ms / 1000) }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }
}
