import Foundation
import NIOWebSocket
import TesseraCore
@testable import TesseraSignal
import TesseraSignalServer
import Testing
import WSClient

/// What the wall says to the backend: its capabilities, refusals within the backend's rate, and
/// how it answers a backend that says bye.
@Suite(.timeLimit(.minutes(3)))
struct WallOutboundTests {
    /// `hello.capabilities.schemes` is what the URL gate accepts, `--allow-scheme` additions
    /// included.
    @Test func helloNamesTheSchemesTheWallAccepts() async throws {
        let backend = try await ScriptedBackend.start { _ in }
        var policy = StreamURLPolicy()
        policy.allowedSchemes.formUnion(["udp", "rtp"])
        let wall = RunningClient(url: backend.url, policy: policy)
        try await eventually("hello") { await !backend.log.hellos.isEmpty }
        #expect(await backend.log.hellos[0].capabilities.schemes == ["rtp", "rtsp", "rtsps", "srt", "udp"])
        await wall.stop()
        await backend.stop()
    }

    /// `outputs` is what the configuration says the wall has (the kiosk fills it from the layout).
    @Test func helloNamesTheWallsOutputs() async throws {
        let backend = try await ScriptedBackend.start { _ in }
        let outputs = [OutputCapability(id: "left", connector: "HDMI-A-1", width: 1920, height: 1080, refresh: 60)]
        let wall = RunningClient(url: backend.url) { $0.capabilities.outputs = outputs }
        try await eventually("hello") { await !backend.log.hellos.isEmpty }
        #expect(await backend.log.hellos[0].capabilities.outputs == outputs)
        await wall.stop()
        await backend.stop()
    }

    /// An older wall's outputs were bare names; a backend still reads them.
    @Test func outputsAsBareNamesStillDecode() throws {
        let text = #"{"v":1,"type":"hello","data":{"versions":[1],"wallId":"w","nodeId":"n","room":"r","token":"t","capabilities":{"schemes":["rtsp"],"codecs":["h264"],"maxDecodes":1,"outputs":["HDMI-A-1"]}}}"#
        guard case .hello(let h) = try SignalCodec.decode(text).message else { Issue.record("not a hello"); return }
        #expect(h.capabilities.outputs == [OutputCapability(id: "HDMI-A-1")])
    }
}
