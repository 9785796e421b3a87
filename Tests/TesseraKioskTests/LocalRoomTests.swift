import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import TesseraCore
import TesseraInput
import TesseraMedia
@testable import TesseraKiosk
import Testing

@Suite struct LocalRoomTests {
    /// A static roster from the kiosk's own configuration, with streams nobody publishes: the tiles
    /// show offline slates, and /healthz says why the wall is unhealthy.
    @Test func unpublishedStreamsGoOfflineAndHealthSaysSo() async throws {
        LoggingSystem.bootstrapForTests()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-local-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let people = (1...3).map { n in
            Participant(id: ParticipantID("p\(n)"), name: "Participant \(n)", joinOrder: n, streams: [
                ParticipantStream(kind: .camera, layers: [StreamLayer(width: 320, height: 180, url: "udp://127.0.0.1:\(Ports.base + 900 + n)")])])
        }
        var config = KioskConfiguration.forTests(Room(participants: people), fps: 10)
        config.media.offlineAfter = .milliseconds(500)
        config.media.openTimeout = .milliseconds(500)
        config.snapshotDirectory = dir
        let kiosk = try Kiosk(configuration: config)
        let run = Task { try await kiosk.run() }
        try await eventually("three streams offline") {
            let s = kiosk.media.stats
            return s.streams.count == 3 && s.streams(in: .offline) == 3
        }
        try await eventually("health port") { kiosk.healthPort != nil }
        try await eventually("/healthz 503") {
            let (body, status) = try await get("http://127.0.0.1:\(kiosk.healthPort!)/healthz")
            return status == 503 && body.contains("all 3 streams are offline")
        }
        // Keys from a local keyboard work without a backend.
        #expect(kiosk.press(KeyPress(keysym: "2")) == .selectPreset("speaker"))
        await kiosk.shutdown()
        try await run.value
        #expect(kiosk.media.openStreams.isEmpty)
    }

    @Test(.enabled(if: LibinputKeyboard.readableEventDevices().isEmpty,
                   "this machine has readable input devices, so the refusal cannot be seen here"))
    func libinputSaysWhatIsMissingWhereNoInputDeviceIsReadable() throws {
        #expect(throws: InputError.self) { try LibinputKeyboard().start { _ in } }
    }
}
