import Foundation
import TesseraCore
import TesseraSignalCore

/// Lines of a fuzz input, as messages: one input is a short conversation, so the fuzzer reaches
/// events applied on top of a snapshot, and reports after a hello.
private func messages(_ bytes: UnsafeRawBufferPointer) -> [String] {
    String(decoding: bytes, as: UTF8.self).split(separator: "\n", maxSplits: 32, omittingEmptySubsequences: true).map(String.init)
}

private func decode(_ text: String, from sender: SignalPeer? = nil) -> SignalEnvelope? {
    do throws(SignalDecodingError) { return try SignalCodec.decode(text, from: sender) } catch { return nil }
}

/// What a wall does with messages from a backend: decode, then apply snapshots and room events to
/// its room tracker (the URL gate and roster limits included) and merge the updates as the
/// kiosk's queue does when it falls behind; anything decoded is encoded again.
let signalClientHarness = Harness(name: "signal-client", summary: "backend → wall messages: decode, room tracker, update merging") { bytes in
    var tracker = RoomTracker()
    var pending: RoomUpdate?
    for text in messages(bytes) {
        guard let envelope = decode(text, from: .backend) else { continue }
        _ = decode(SignalCodec.encode(envelope))
        let message = envelope.message
        if case .snapshot(let s) = message {
            let update = tracker.apply(snapshot: s, seq: envelope.seq ?? 0)
            pending = pending.map { $0.merged(with: update) } ?? update
        } else if message.isRoomEvent, let seq = envelope.seq {
            if case .applied(let update) = tracker.apply(event: message, seq: seq) {
                pending = pending.map { $0.merged(with: update) } ?? update
            }
        }
    }
}

/// Runs `body` to completion on the concurrency pool and waits for it (the store is an actor).
private func blocking(_ body: @escaping @Sendable () async -> Void) {
    let done = DispatchSemaphore(value: 0)
    Task {
        await body()
        done.signal()
    }
    done.wait()
}

/// What the backend does with messages from a wall: the first must be a hello (version and token
/// checked, then attached to a room with a participant); each later one goes through
/// `RoomStore.receive`, as the server's connection handler does; then the admin view of the room is
/// encoded as the admin API would.
let signalServerHarness = Harness(name: "signal-server", summary: "wall → backend messages: decode, hello, room store effects, admin view") { bytes in
    let texts = messages(bytes)
    blocking {
        let store = RoomStore(ringCapacity: 64, maxParticipantsPerRoom: 16)
        let token = SignalToken(secret: "fuzz-token")
        _ = try? await store.upsert(ParticipantInput(id: "p1", name: "P1", streams: [ParticipantStream(kind: .camera, layers: [
            StreamLayer(width: 320, height: 180, fps: 15, url: "rtsp://media.example/p1")])]), in: "r")
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(64))
        var room: String?
        for text in texts {
            guard let envelope = decode(text, from: .wall) else { continue }
            if let attached = room {
                if case .bye = await store.receive(envelope.message, from: id, room: attached) { break }
                continue
            }
            guard case .hello(let hello) = envelope.message, hello.versions.contains(SignalProtocol.version),
                  token.matches(hello.token) else { break }
            do {
                try await store.attach(id, hello: hello, heartbeatMs: 1000, maxMessageBytes: 1 << 16, queueCapacity: 64,
                                       continuation: continuation)
                room = hello.room
            } catch { break }
        }
        if let room, let view = try? await store.view(of: room) {
            _ = try? JSONEncoder().encode(view)
            await store.detach(id, room: room)
        }
        continuation.finish()
        for await _ in stream {}
    }
}
