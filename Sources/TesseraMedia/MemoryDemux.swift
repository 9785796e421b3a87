internal import CFFmpeg
import Foundation
import TesseraCore
import TesseraFFmpeg

/// Demuxes and decodes MPEG-TS bytes held in memory, through a custom AVIOContext (no network, no
/// files), the way a live MPEG-TS stream is played: same demuxer flags, keyframe wait, decoder and
/// frame hand-over (which reads the capture stamp). The `mpegts` fuzz harness feeds it arbitrary
/// bytes; nothing here may trap whatever they are.
public enum MemoryDemux {
    /// Plays `bytes` to their end (at most `maxPackets` packets); returns the pictures decoded.
    @discardableResult
    public static func decodeMPEGTS(_ bytes: UnsafeRawBufferPointer, maxPackets: Int = 4096) -> Int {
        FFmpegLog.installIfNone()
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
        var input = tessera_mem_input(data: base.assumingMemoryBound(to: UInt8.self), size: bytes.count, pos: 0)
        return withUnsafeMutablePointer(to: &input) { m -> Int in
            guard let io = tessera_mem_avio(m) else { return 0 }
            defer { tessera_mem_avio_free(io) }
            guard let ctx = avformat_alloc_context() else { return 0 }
            ctx.pointee.pb = io
            ctx.pointee.flags |= tessera_avfmt_flag_custom_io() | tessera_avfmt_flag_nobuffer() | 0x0020 | 0x0010
            var options = AVOptions()
            options.set("format_whitelist", "mpegts")
            options.set("probesize", "32768")
            options.set("analyzeduration", "0")
            options.set("fpsprobesize", "0")
            var ptr: UnsafeMutablePointer<AVFormatContext>? = ctx
            let rc = options.with { dict in avformat_open_input(&ptr, "", av_find_input_format("mpegts"), &dict) }
            guard rc >= 0, let opened = ptr else { return 0 } // freed by avformat_open_input
            defer { var p: UnsafeMutablePointer<AVFormatContext>? = opened; avformat_close_input(&p) }
            return play(opened, maxPackets: maxPackets)
        }
    }

    private static func play(_ ctx: UnsafeMutablePointer<AVFormatContext>, maxPackets: Int) -> Int {
        let index = av_find_best_stream(ctx, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        guard index >= 0, let stream = ctx.pointee.streams[Int(index)] else { return 0 }
        guard let decoder = try? Decoder(stream: stream, url: "memory", hardwareDevice: nil) else { return 0 }
        let codecID = stream.pointee.codecpar.pointee.codec_id.rawValue
        guard let packet = try? Packet() else { return 0 }
        let clock = ContinuousClock()
        var waitingForKey = true
        var pictures = 0
        func receive() {
            while case .frame(let frame) = decoder.receive(decodedAt: clock.now, arrivedAt: clock.now) {
                pictures += 1
                if let stamp = frame.captureMicros { _ = WallClock.age(ofStamp: stamp, now: WallClock.micros()) }
            }
        }
        for _ in 0..<maxPackets {
            guard input(ctx, packet) >= 0 else { break }
            defer { packet.unref() }
            guard packet.streamIndex == index else { continue }
            if waitingForKey {
                guard packet.isKeyframe(codec: codecID) else { continue }
                waitingForKey = false
            }
            _ = decoder.send(packet)
            receive()
        }
        _ = decoder.send(nil)
        receive()
        return pictures
    }

    private static func input(_ ctx: UnsafeMutablePointer<AVFormatContext>, _ packet: Packet) -> Int32 {
        av_read_frame(ctx, packet.pkt)
    }
}
