import Foundation
internal import CFFmpeg
import TesseraCore
import TesseraFFmpeg

/// Records BGRA pictures (an output as the viewer sees it) to a video file through libavformat:
/// the container from the file name (.mp4, .mkv, …), the first encoder of `codecs` this FFmpeg
/// has, pictures converted to yuv420p by swscale. Frame i has pts i at `fps`. `finish` flushes the
/// encoder and writes the trailer; a recorder dropped without it finishes in deinit (errors lost).
/// Used from one thread (the render thread when an output records).
public final class VideoRecorder {
    public let path: String
    /// The picture size (every appended buffer must have it).
    public let size: Size
    public let fps: Int
    /// The encoder in use ("libx264", "mpeg4").
    public var codecName: String { encoder.name }
    public private(set) var framesWritten = 0

    private let muxer: Muxer
    private let encoder: VideoEncoder
    private let scaler: Scaler
    private var finished = false

    public init(path: String, size: Size, fps: Int = 30, codecs: [String] = ["libx264", "mpeg4"]) throws(OutputError) {
        guard size.width > 0, size.height > 0, size.width % 2 == 0, size.height % 2 == 0,
              size.width <= 16_384, size.height <= 16_384, (1...1000).contains(fps) else {
            throw .config("recording \(path): \(size.width)x\(size.height) at \(fps) fps is not an even, non-empty size up to 16384 (yuv420p needs even sides) at 1-1000 fps")
        }
        self.path = path; self.size = size; self.fps = fps
        do throws(FFmpegError) {
            muxer = try Muxer(target: path, format: nil)
            encoder = try VideoEncoder(codecs: codecs, width: Int32(size.width), height: Int32(size.height), fps: Int32(fps), gop: Int32(fps)) { c, name in
                if name == "libx264" {
                    _ = av_opt_set(c.pointee.priv_data, "preset", "veryfast", 0)
                    _ = av_opt_set(c.pointee.priv_data, "crf", "20", 0)
                } else {
                    c.pointee.bit_rate = Int64(max(2_000_000, size.width * size.height * fps / 4))
                }
            }
            try encoder.open(globalHeader: muxer.wantsGlobalHeader)
            let context = encoder.context.pointer
            try muxer.start(timeBase: context.pointee.time_base, operation: "avcodec_parameters_from_context") {
                avcodec_parameters_from_context($0, context)
            }
            scaler = try Scaler(width: Int32(size.width), height: Int32(size.height))
        } catch {
            throw OutputError(error, path: path)
        }
    }

    deinit {
        if !finished { try? finish() }
    }

    /// Encodes one picture (BGRA, `size`) as the next frame.
    public func append(_ buffer: any CPUBuffer) throws(OutputError) {
        guard !finished else { throw .config("recording \(path) is finished") }
        guard buffer.size == size else {
            throw .config("recording \(path) is \(size.width)x\(size.height); got a \(buffer.size.width)x\(buffer.size.height) picture")
        }
        do throws(FFmpegError) {
            try encoder.makeWritable()
            try scaler.convert(buffer, into: encoder.picture.pointer)
            try encoder.send(pts: Int64(framesWritten), write)
        } catch {
            throw OutputError(error, path: path)
        }
        framesWritten += 1
    }

    /// Flushes the encoder, writes the trailer and closes the file.
    public func finish() throws(OutputError) {
        guard !finished else { return }
        finished = true
        do throws(FFmpegError) {
            try encoder.flush(write)
            try muxer.finish()
        } catch {
            throw OutputError(error, path: path)
        }
    }

    private func write(_ packet: UnsafeMutablePointer<AVPacket>) throws(FFmpegError) {
        // One frame long: without a duration MP4's edit list ends at the last frame's start and
        // players (and decoders honouring it) drop that frame.
        if packet.pointee.duration <= 0 { packet.pointee.duration = 1 }
        try muxer.write(packet, interleaved: true)
    }

    /// BGRA → yuv420p at the same size.
    private final class Scaler {
        let context: OpaquePointer
        let height: Int32
        init(width: Int32, height: Int32) throws(FFmpegError) {
            guard let sws = sws_getContext(width, height, AV_PIX_FMT_BGRA, width, height, AV_PIX_FMT_YUV420P, Int32(SWS_BILINEAR), nil, nil, nil) else {
                throw FFmpegError("sws_getContext(bgra → yuv420p)", tessera_averror(EINVAL))
            }
            context = sws; self.height = height
        }
        deinit { sws_freeContext(context) }

        func convert(_ buffer: any CPUBuffer, into f: UnsafeMutablePointer<AVFrame>) throws(FFmpegError) {
            let stride = buffer.stride, height = height, context = context
            let r = buffer.withBytes { span in
                span.withUnsafeBytes { raw -> Int32 in
                    var src: [UnsafePointer<UInt8>?] = [raw.baseAddress!.assumingMemoryBound(to: UInt8.self), nil, nil, nil]
                    var srcStride: [Int32] = [Int32(stride), 0, 0, 0]
                    var dst: [UnsafeMutablePointer<UInt8>?] = [tessera_frame_plane_mut(f, 0), tessera_frame_plane_mut(f, 1), tessera_frame_plane_mut(f, 2), nil]
                    var dstStride: [Int32] = [tessera_frame_linesize(f, 0), tessera_frame_linesize(f, 1), tessera_frame_linesize(f, 2), 0]
                    return sws_scale(context, &src, &srcStride, 0, height, &dst, &dstStride)
                }
            }
            guard r > 0 else { throw FFmpegError("sws_scale(bgra → yuv420p)", r) }
        }
    }
}

/// Reads a video file back into BGRA pictures (libavformat + the stream's decoder + swscale): how
/// tests and `tessera` check a recording.
public enum VideoFileReader {
    /// Every frame of the first video stream, in order.
    public static func frames(of path: String, limit: Int = 10_000) throws(OutputError) -> [MemoryBuffer] {
        var fmt: UnsafeMutablePointer<AVFormatContext>?
        var r = avformat_open_input(&fmt, path, nil, nil)
        guard r >= 0, let input = fmt else { throw .ffmpeg(operation: "avformat_open_input", code: r, path: path) }
        defer { avformat_close_input(&fmt) }
        r = avformat_find_stream_info(input, nil)
        guard r >= 0 else { throw .ffmpeg(operation: "avformat_find_stream_info", code: r, path: path) }
        var decoder: UnsafePointer<AVCodec>?
        let index = av_find_best_stream(input, AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0)
        guard index >= 0, let decoder else { throw .ffmpeg(operation: "av_find_best_stream(video)", code: index, path: path) }
        let ctx = try make(path) { () throws(FFmpegError) in try CodecContext(decoder) }
        r = avcodec_parameters_to_context(ctx.pointer, input.pointee.streams[Int(index)]!.pointee.codecpar)
        guard r >= 0 else { throw .ffmpeg(operation: "avcodec_parameters_to_context", code: r, path: path) }
        r = avcodec_open2(ctx.pointer, decoder, nil)
        guard r >= 0 else { throw .ffmpeg(operation: "avcodec_open2(decoder)", code: r, path: path) }
        let packet = try make(path) { () throws(FFmpegError) in try PacketBox() }
        let frame = try make(path) { () throws(FFmpegError) in try FrameBox() }
        var out: [MemoryBuffer] = []
        func receive() throws(OutputError) {
            while out.count < limit {
                let r = avcodec_receive_frame(ctx.pointer, frame.pointer)
                if r == tessera_averror_eagain() || r == tessera_averror_eof() { return }
                guard r >= 0 else { throw .ffmpeg(operation: "avcodec_receive_frame", code: r, path: path) }
                out.append(try bgra(frame.pointer, path: path))
                av_frame_unref(frame.pointer)
            }
        }
        while out.count < limit, av_read_frame(input, packet.pointer) >= 0 {
            defer { av_packet_unref(packet.pointer) }
            guard packet.pointer.pointee.stream_index == index else { continue }
            r = avcodec_send_packet(ctx.pointer, packet.pointer)
            guard r >= 0 else { throw .ffmpeg(operation: "avcodec_send_packet", code: r, path: path) }
            try receive()
        }
        _ = avcodec_send_packet(ctx.pointer, nil)
        try receive()
        return out
    }

    private static func bgra(_ f: UnsafeMutablePointer<AVFrame>, path: String) throws(OutputError) -> MemoryBuffer {
        let w = Int(f.pointee.width), h = Int(f.pointee.height)
        guard let sws = sws_getContext(Int32(w), Int32(h), AVPixelFormat(rawValue: f.pointee.format), Int32(w), Int32(h), AV_PIX_FMT_BGRA,
                                       Int32(SWS_BILINEAR), nil, nil, nil) else {
            throw .ffmpeg(operation: "sws_getContext(→ bgra)", code: tessera_averror(EINVAL), path: path)
        }
        defer { sws_freeContext(sws) }
        var bytes = [UInt8](repeating: 0, count: w * h * 4)
        let r = bytes.withUnsafeMutableBytes { raw -> Int32 in
            var src: [UnsafePointer<UInt8>?] = (0..<4).map { UnsafePointer(tessera_frame_plane_mut(f, Int32($0))) }
            var srcStride: [Int32] = (0..<4).map { tessera_frame_linesize(f, Int32($0)) }
            var dst: [UnsafeMutablePointer<UInt8>?] = [raw.baseAddress!.assumingMemoryBound(to: UInt8.self), nil, nil, nil]
            var dstStride: [Int32] = [Int32(w * 4), 0, 0, 0]
            return sws_scale(sws, &src, &srcStride, 0, Int32(h), &dst, &dstStride)
        }
        guard r > 0 else { throw .ffmpeg(operation: "sws_scale(→ bgra)", code: r, path: path) }
        return MemoryBuffer(size: Size(width: w, height: h), bgra: bytes)
    }
}
