import Foundation
import Logging
import TesseraCore
import TesseraMedia
import TesseraTestMedia
@testable import TesseraKiosk
import Testing

/// Latency figures of the real loop: a stamped live stream into a slowly refreshed headless output.
@Suite(.serialized) struct LatencyTests {
    /// Pictures come every 333 ms and the output refreshes every 500 ms: a picture that waited for
    /// the refresh would wait 250 ms in the median (uniform over 0–500 ms); drawn into the buffer
    /// as it arrives (drawn into `Output.nextBuffer` between refreshes), it waits a few milliseconds (47 ms in the median on a
    /// 2-core machine with four builds beside it). A median under 100 ms over 20 pictures tells the
    /// two apart (by chance without prepare: about 0.3%) with a wide margin for a busy machine.
    @Test func picturesReachTheBufferBetweenRefreshesAndAreMeasured() async throws {
        LoggingSystem.bootstrapForTests()
        let port = Ports.base + 950
        var o = TestSourceOptions()
        o.fps = 3; o.gop = 3
        let publisher = TestPublisher(url: "udp://127.0.0.1:\(port)", options: o)
        publisher.start()
        defer { publisher.stop(); publisher.join(timeout: .seconds(5)) }
        var people = Room.synthetic(count: 1).participants
        people[0].streams = [ParticipantStream(kind: .camera, layers: [StreamLayer(width: 320, height: 180, url: "udp://127.0.0.1:\(port)")])]
        var config = KioskConfiguration.forTests(Room(participants: people), fps: 2)
        config.media.policy = URLPolicy(allowedSchemes: ["udp"], allowedHosts: ["127.0.0.1"])
        let kiosk = try Kiosk(configuration: config)
        let run = Task { try await kiosk.run() }
        defer { run.cancel() }

        try await eventually("the stream plays") { kiosk.media.stats.streams(in: .playing) == 1 }
        kiosk.metrics.resetLatency()
        try await eventually("20 pictures measured") { (kiosk.metrics.latency["main"]?.arrivalToBuffer.totalCount ?? 0) >= 20 }
        let l = try #require(kiosk.metrics.latency["main"])
        let arrival = try #require(OutputLatency.summary(l.arrivalToBuffer))
        let decoded = try #require(OutputLatency.summary(l.arrivalToDecoded))
        let capture = try #require(OutputLatency.summary(l.captureToBuffer), "the publisher stamps every picture")
        #expect(arrival.p50 < 100, "median arrival → buffer \(arrival.p50) ms: pictures wait for the 500 ms refresh")
        #expect(arrival.p50 >= decoded.p50 && capture.p50 >= arrival.p50, "each span contains the one before it")
        #expect(arrival.count == Int(l.decodedToBuffer.totalCount))

        let port2 = try #require(kiosk.healthPort)
        let (metrics, status) = try await get("http://127.0.0.1:\(port2)/metrics")
        #expect(status == 200)
        #expect(metrics.contains("tessera_picture_latency_seconds{output=\"main\",span=\"arrival_to_buffer\",quantile=\"0.99\"}"))
        #expect(metrics.contains("tessera_picture_latency_seconds_count{output=\"main\",span=\"capture_to_buffer\"}"))
        await kiosk.shutdown()
        try await run.value
    }
}
