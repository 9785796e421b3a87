// swift-tools-version: 6.0
// Tessera: a video-wall compositor for Linux kiosks. The target list follows the data flow
// (signal → room → layout → scene → media → render → output); see docs/ARCHITECTURE.md.
import PackageDescription

let package = Package(
    name: "Tessera",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tessera", targets: ["tessera"]),
        .executable(name: "tessera-signal", targets: ["tessera-signal"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Signal: WebSocket client (swift-websocket) and the reference backend (Hummingbird).
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        // Kiosk: latency from a picture's arrival to the output buffer, per output.
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // Kiosk: /metrics through swift-metrics' handler types, exported by swift-prometheus from a
        // registry of the kiosk's own.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C libraries, each imported by exactly one Swift target.
        .systemLibrary(name: "CFFmpeg", pkgConfig: "libavformat",
                       providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavutil-dev", "libswscale-dev"])]),
        .systemLibrary(name: "CDRM", pkgConfig: "libdrm", providers: [.apt(["libdrm-dev", "libgbm-dev"])]),
        .systemLibrary(name: "CEGL", pkgConfig: "egl", providers: [.apt(["libegl-dev", "libgles-dev"])]),
        .systemLibrary(name: "CInput", pkgConfig: "libinput", providers: [.apt(["libinput-dev", "libxkbcommon-dev", "libudev-dev"])]),
        .systemLibrary(name: "CSwscale", pkgConfig: "libswscale", providers: [.apt(["libswscale-dev"])]),
        // FreeType, HarfBuzz, FriBidi and fontconfig in one module (harfbuzz.pc brings freetype2's flags).
        .systemLibrary(name: "CText", pkgConfig: "harfbuzz",
                       providers: [.apt(["libfreetype-dev", "libharfbuzz-dev", "libfribidi-dev", "libfontconfig-dev"])]),

        // Shared value types and role protocols; no C.
        .target(name: "TesseraCore", dependencies: [.product(name: "Logging", package: "swift-log")]),
        // Layout model, JSON decoding with positions, validation, tiler, scene builder; no C.
        .target(name: "TesseraLayout", dependencies: ["TesseraCore"]),
        // Middle row: they meet in TesseraCore and never import one another.
        // FFmpeg's handles, error text, encoder and muxer, shared by Media (decode, test publisher)
        // and Output (snapshots, recordings).
        .target(name: "TesseraFFmpeg", dependencies: ["CFFmpeg"]),
        .target(name: "TesseraMedia", dependencies: ["TesseraCore", "TesseraFFmpeg", "CFFmpeg", .product(name: "Logging", package: "swift-log")]),
        // The test publisher (libx264 → MPEG-TS/SRT/RTMP/files, or replayed clips) and its test
        // pattern: linked by the CLI (testsrc, demo, bench) and the tests, never by the kiosk.
        .target(name: "TesseraTestMedia", dependencies: ["TesseraCore", "TesseraFFmpeg", "TesseraMedia", "CFFmpeg"]),
        // Optimized in debug builds too: the CPU renderer's per-pixel colour pass runs a hundred
        // times slower unoptimized, which made debug walls (the tests', soak-ci's) miss refreshes.
        // The CPU renderer's colour pass in C, compiled for AVX2, SSE4.1 and the baseline and chosen
        // at run time (Swift's SIMD types cannot ask for more than the baseline's SSE2); optimised in
        // debug builds too, as the tests draw thousands of tiles.
        .target(name: "CColour", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "TesseraRender", dependencies: ["TesseraCore", "CEGL", "CSwscale", "CText", "CColour", .product(name: "Logging", package: "swift-log")],
                swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        // FFmpeg's encoders (PNG snapshots, recordings) are the output side's; decoding is Media's.
        .target(name: "TesseraOutput", dependencies: ["TesseraCore", "TesseraFFmpeg", "CDRM", "CFFmpeg", .product(name: "Logging", package: "swift-log")]),
        // Signal's pure part: messages and codec, room tracker, URL gate, tokens, the backend's room
        // store; no sockets, so the fuzz harnesses take it without NIO.
        .target(name: "TesseraSignalCore", dependencies: ["TesseraCore"]),
        .target(name: "TesseraSignal", dependencies: [
            "TesseraCore", "TesseraSignalCore",
            .product(name: "WSClient", package: "swift-websocket"),
            .product(name: "WSCore", package: "swift-websocket"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The reference signaling backend as a library, so tests run it in-process.
        .target(name: "TesseraSignalServer", dependencies: [
            "TesseraSignal", "TesseraSignalCore", "TesseraCore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "TesseraInput", dependencies: ["TesseraCore", "CInput"]),
        // Composition root.
        .target(name: "TesseraKiosk", dependencies: [
            "TesseraCore", "TesseraLayout", "TesseraMedia", "TesseraRender",
            "TesseraOutput", "TesseraSignal", "TesseraInput",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .executableTarget(name: "tessera", dependencies: [
            "TesseraKiosk", "TesseraLayout", "TesseraCore", "TesseraMedia", "TesseraTestMedia", "TesseraFFmpeg", "TesseraRender", "TesseraOutput",
            // Kiosk: `run` reads keys and talks to a backend; `demo` runs the reference backend in-process.
            "TesseraInput", "TesseraSignal", "TesseraSignalServer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "tessera-signal", dependencies: [
            "TesseraSignalServer", "TesseraSignal", "TesseraCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        .testTarget(name: "TesseraCoreTests", dependencies: ["TesseraCore"]),
        .testTarget(name: "TesseraLayoutTests", dependencies: ["TesseraLayout", "TesseraCore"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "TesseraMediaTests", dependencies: ["TesseraMedia", "TesseraTestMedia", "TesseraFFmpeg", "TesseraCore", "CFFmpeg",
                                                      .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "TesseraRenderTests", dependencies: ["TesseraRender", "TesseraOutput", "TesseraCore", "TesseraLayout", "TesseraMedia", "CColour",
                                                       .product(name: "Logging", package: "swift-log")],
                    exclude: ["Golden"]),
        .testTarget(name: "TesseraSignalTests", dependencies: [
            "TesseraSignal", "TesseraSignalServer", "TesseraCore",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "WSClient", package: "swift-websocket"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            // A scripted fake backend (silent after welcome) for the dead-peer test.
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .testTarget(name: "TesseraKioskTests", dependencies: [
            "TesseraKiosk", "TesseraCore", "TesseraLayout", "TesseraMedia", "TesseraTestMedia", "TesseraSignal", "TesseraSignalServer",
            "TesseraInput", "TesseraOutput",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "TesseraSystemTests", dependencies: [
            "TesseraMedia", "TesseraFFmpeg", "TesseraRender", "TesseraOutput", "TesseraInput", "TesseraKiosk",
        ]),
    ],
    swiftLanguageModes: [.v6]
)

// Fuzzing (`make fuzz`, shared/notes/fuzzing.md): one libFuzzer executable with a harness per kind of
// outside input. Declared only when TESSERA_FUZZ is set, because it links libFuzzer's driver and is
// built with -sanitize=fuzzer,address -parse-as-library in a build folder of its own (.build-fuzz).
if Context.environment["TESSERA_FUZZ"] != nil {
    package.targets.append(.executableTarget(name: "tessera-fuzz", dependencies: [
        "TesseraCore", "TesseraLayout", "TesseraSignalCore", "TesseraMedia",
    ], path: "Fuzz/Sources"))
}
