import Foundation
@testable import TesseraKiosk
import Testing

@Suite struct DoctorTests {
    @Test func reportsLayoutErrorsMissingDevicesAndAnUnreachableBackend() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-doctor-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: "\(dir)/dri", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(dir)/input", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "{ \"version\": 1, \"wall\": {} }".write(toFile: "\(dir)/bad.json", atomically: true, encoding: .utf8)
        var inputs = Doctor.Inputs(layoutPath: "\(dir)/bad.json", signalURL: "ws://127.0.0.1:1/signal", tokenFile: "\(dir)/missing-token")
        inputs.driDirectory = "\(dir)/dri"
        inputs.inputDirectory = "\(dir)/input"
        inputs.connectTimeout = 1
        let findings = Doctor.check(inputs)
        let problems = findings.filter { $0.level == .problem }.map(\.description)
        // The layout's own lines, as `tessera validate` prints them, then what to do.
        #expect(problems.contains { $0.contains("layout: \(dir)/bad.json:") })
        #expect(problems.contains { $0.contains("`tessera validate \(dir)/bad.json`") })
        #expect(problems.contains { $0.contains("drm: no \(dir)/dri/card* device") })
        #expect(problems.contains { $0.contains("signal: cannot reach 127.0.0.1:1") })
        #expect(problems.contains { $0.contains("token file \(dir)/missing-token is not readable") })
        #expect(findings.contains { $0.level == .warning && $0.area == "input" })
    }

    @Test func aGoodLayoutIsOK() {
        let findings = Doctor.check(Doctor.Inputs(layoutPath: "\(repoRoot)/Layouts/lecture-theatre.json"))
        #expect(findings.contains { $0.level == .ok && $0.area == "layout" && $0.message.contains("4 output(s), 4 preset(s)") })
    }
}
