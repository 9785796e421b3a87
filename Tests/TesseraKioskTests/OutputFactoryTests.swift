import Testing
import TesseraCore
import TesseraKiosk
import TesseraOutput

/// The one place renderers and backends are paired, by what each declares.
@Suite("Output factory")
struct OutputFactoryTests {
    struct Case: Sendable, CustomStringConvertible {
        var renderer: RendererKind
        var offers: BackendCapabilities
        /// The buffers chosen, or nil for a refusal.
        var buffers: BackendCapabilities?
        /// For a refusal: what the message tells the user to do.
        var advice: String = ""
        var description: String { "\(renderer.rawValue) on \(offers)" }
    }

    static let cases: [Case] = [
        Case(renderer: .cpu, offers: [.cpuBuffers, .gpuSurfaces], buffers: .cpuBuffers),
        Case(renderer: .gles, offers: [.cpuBuffers, .gpuSurfaces], buffers: .gpuSurfaces),
        Case(renderer: .cpu, offers: .cpuBuffers, buffers: .cpuBuffers),
        Case(renderer: .gles, offers: .gpuSurfaces, buffers: .gpuSurfaces),
        // A DRM card without dumb buffers: the CPU renderer has nothing to draw into.
        Case(renderer: .cpu, offers: .gpuSurfaces, buffers: nil, advice: "use --renderer gles"),
        Case(renderer: .gles, offers: .cpuBuffers, buffers: nil, advice: "use --renderer cpu"),
        Case(renderer: .gles, offers: [], buffers: nil, advice: "use another backend"),
    ]

    @Test("a renderer pairs with a backend where what it draws into meets what the outputs hand out", arguments: cases)
    func pairing(_ c: Case) throws {
        if let buffers = c.buffers {
            #expect(try OutputFactory.pair(c.renderer, backend: "DRM", capabilities: c.offers, device: "/dev/dri/card1") == buffers)
        } else {
            let error = #expect(throws: OutputPairingError.self) {
                try OutputFactory.pair(c.renderer, backend: "DRM", capabilities: c.offers, device: "/dev/dri/card1")
            }
            let text = "\(try #require(error))"
            #expect(text.contains("the \(c.renderer.rawValue) renderer"), "names the renderer: \(text)")
            #expect(text.contains("DRM backend on /dev/dri/card1"), "names the backend and device: \(text)")
            #expect(text.contains(c.advice), "says what to do: \(text)")
        }
    }

    @Test("headless: the CPU renderer gets memory buffers, GLES its own offscreen targets; both draw and commit",
          arguments: RendererKind.allCases)
    func headless(_ kind: RendererKind) throws {
        let size = Size(width: 32, height: 18)
        let setup = try OutputFactory.headless([.init(id: "o", panelSize: size)], refresh: nil, renderer: kind, workers: 1)
        defer { setup.close() }
        #expect(setup.buffers == kind.targetKinds)
        let output = try #require(setup.backend.headlessOutputs.first)
        let buffer = try #require(try output.nextBuffer())
        #expect((buffer is any CPUBuffer) == (kind == .cpu))
        let scene = OutputScene(id: "o", size: size, rotation: .none, background: Color(red: 200, green: 10, blue: 20), tiles: [])
        _ = try setup.renderer.draw(scene, sources: FrameSourceTable(), into: buffer)
        try output.commit()
        let picture = try output.snapshot(readingWith: setup.renderer)
        #expect(picture[16, 9].red > 190 && picture[16, 9].green < 20, "read back \(picture[16, 9])")
    }

    @Test("an output refuses a commit without a buffer handed out, and a scene of another rotation")
    func commitNeedsABuffer() throws {
        let size = Size(width: 32, height: 18)
        let setup = try OutputFactory.headless([.init(id: "o", panelSize: size)], refresh: nil, renderer: .cpu, workers: 1)
        defer { setup.close() }
        let output = try #require(setup.backend.headlessOutputs.first)
        #expect(throws: OutputError.self) { try output.commit() }
        #expect(output.framesPresented == 0)
        let turned = OutputScene(id: "o", size: Size(width: 18, height: 32), rotation: .quarter, background: Color(red: 0, green: 0, blue: 0), tiles: [])
        #expect(throws: OutputSceneError.rotation(output: "o", panel: .none, scene: .quarter)) {
            try output.render(turned, with: setup.renderer, sources: FrameSourceTable())
        }
    }
}
