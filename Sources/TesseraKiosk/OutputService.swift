import ServiceLifecycle

/// The render threads' service: lights the outputs (`Kiosk.startOutputs`, which throws when one
/// cannot start), says so on `lit` (the watchdog then sends `READY=1`), and at shutdown stops and
/// joins the render threads, writes the last snapshots and closes the streams.
struct OutputService: Service {
    let kiosk: Kiosk
    let lit: AsyncStream<Void>.Continuation

    func run() async throws {
        defer { lit.finish() }
        do { try kiosk.startOutputs() } catch {
            kiosk.stopOutputs()
            throw error
        }
        lit.yield()
        lit.finish()
        try? await gracefulShutdown()
        kiosk.stopOutputs()
    }
}
