import Foundation
import Testing
@testable import TesseraKiosk

/// Issue 15, item 6: /metrics through swift-prometheus, a registry per kiosk, the same names.
@Suite struct MetricsTests {
    func stream(_ id: String, _ state: String, decoded: Int = 0, reconnects: Int = 0) -> StreamFigures {
        StreamFigures(id: id, state: state, fps: 25, kbps: 800, reconnects: reconnects, framesDecoded: decoded, ffmpegLogSuppressed: 0)
    }

    @Test func twoKiosksInOneProcessKeepTheirOwnSeries() {
        let a = KioskMetrics(outputIDs: ["main"]), b = KioskMetrics(outputIDs: ["main"])
        a.update(output: "main") { $0.framesPresented += 3; $0.frameSecondsSum += 0.03; $0.frameSecondsMax = 0.012 }
        a.count("keys")
        let ta = a.exposition(streams: [], participants: 4, signal: nil)
        let tb = b.exposition(streams: [], participants: 0, signal: nil)
        #expect(ta.contains("tessera_output_frames_total{output=\"main\"} 3\n"))
        #expect(ta.contains("tessera_render_frame_seconds_count{output=\"main\"} 3\n"))
        #expect(ta.contains("tessera_render_frame_seconds_max{output=\"main\"} 0.012\n"))
        #expect(ta.contains("tessera_events_total{event=\"keys\"} 1\n"))
        #expect(ta.contains("tessera_participants 4"))
        #expect(tb.contains("tessera_output_frames_total{output=\"main\"} 0\n"))
        #expect(!tb.contains("tessera_events_total"))
    }

    @Test func aClosedStreamsSeriesGoAndReopenedCountsStartOver() {
        let m = KioskMetrics(outputIDs: ["main"])
        var text = m.exposition(streams: [stream("p1", "playing", decoded: 50, reconnects: 2), stream("p2", "offline")], participants: 2, signal: nil)
        #expect(text.contains("tessera_stream_up{stream=\"p1\",state=\"playing\"} 1"))
        #expect(text.contains("tessera_stream_frames_decoded_total{stream=\"p1\"} 50\n"))
        #expect(text.contains("tessera_streams{state=\"offline\"} 1"))
        // p2 closed; p1 reopened, its decoder's count restarted at 7.
        text = m.exposition(streams: [stream("p1", "playing", decoded: 7)], participants: 1, signal: nil)
        #expect(!text.contains("stream=\"p2\""))
        #expect(text.contains("tessera_stream_frames_decoded_total{stream=\"p1\"} 7\n"))
        #expect(text.contains("tessera_stream_reconnects_total{stream=\"p1\"} 0\n"))
    }

    @Test func labelValuesFromOutsideAreEscaped() {
        let m = KioskMetrics(outputIDs: [])
        let text = m.exposition(streams: [stream("p\"1\\\nx", "playing")], participants: 1, signal: nil)
        #expect(text.contains(#"tessera_stream_fps{stream="p\"1\\\nx"} 25"#))
        #expect(!text.split(separator: "\n").contains { $0.hasPrefix("x") }, "no line injected into the exposition")
    }

    @Test func theSignalLinkAppearsOnlyWithABackend() {
        let m = KioskMetrics(outputIDs: ["main"])
        #expect(!m.exposition(streams: [], participants: 0, signal: nil).contains("tessera_signal_connected"))
        let text = m.exposition(streams: [], participants: 0, signal: SignalFigures(connected: false, disconnectedSeconds: 12.5, beatAgeSeconds: 1))
        #expect(text.contains("tessera_signal_connected 0"))
        #expect(text.contains("tessera_signal_disconnected_seconds 12.5"))
    }

    @Test func sheddingCountsKeepClosedStreamsAndPerStreamSeriesAppearOnceShed() {
        let m = KioskMetrics(outputIDs: ["main"])
        var p1 = stream("p1", "playing"), p2 = stream("p2", "playing")
        p1.framesNotShown = 5; p1.framesSuperseded = 2
        var text = m.exposition(streams: [p1, p2], participants: 2, signal: nil, shedding: LoadShedding.Figures(level: 2, changes: 2))
        #expect(text.contains("tessera_shed_level 2"))
        #expect(text.contains("tessera_shed_level_changes_total 2\n"))
        #expect(text.contains("tessera_stream_frames_skipped_total{stream=\"p1\",reason=\"not_shown\"} 5\n"))
        #expect(!text.contains("tessera_stream_frames_skipped_total{stream=\"p2\""), "p2 shed nothing")
        #expect(text.contains("tessera_stream_frames_superseded_total{stream=\"p2\"} 0\n"))
        #expect(text.contains("tessera_frames_skipped_total{reason=\"not_shown\"} 5\n"))
        // p1 closes; p2 sheds 3: the total keeps p1's 5.
        p2.framesNotShown = 3
        text = m.exposition(streams: [p2], participants: 1, signal: nil, shedding: LoadShedding.Figures(level: 2, changes: 2))
        #expect(text.contains("tessera_frames_skipped_total{reason=\"not_shown\"} 8\n"))
        #expect(text.contains("tessera_stream_frames_skipped_total{stream=\"p2\",reason=\"not_shown\"} 3\n"))
        #expect(!text.contains("stream=\"p1\""))
    }
}
