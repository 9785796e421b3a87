import Foundation
internal import CFFmpeg
import TesseraCore

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
    public let codecName: String
    public private(set) var framesWritten = 0

    private var format: UnsafeMutablePointer<AVFormatContext>?
    private let codec: CodecContext
    private let stream: UnsafeMutablePointer<AVStream>
    private let yuv: FrameBox
    private let packet: PacketBox
    private let scaler: OpaquePointer
    private var finished = false

    public init(path: String, size: Size, fps: Int = 30, codecs: [String] = ["libx264", "mpeg4"]) throws(OutputError) {
        guard size.width > 0, size.height > 0, size.width % 2 == 0, size.height % 2 == 0 else {
            throw .config("recording \(path): \(size.width)x\(size.height) is not an even, non-empty size (yuv420p needs even sides)")
        }
        self.path = path; self.size = size; self.fps = fps
        var fmt: UnsafeMutablePointer<AVFormatContext>?
        var r = avformat_alloc_output_context2(&fmt, nil, nil, path)
        guard r >= 0, let fmt else { throw .ffmpeg(operation: "avformat_alloc_output_context2 (container from the file name)", code: r, path: path) }
        format = fmt
        var found: (UnsafePointer<AVCodec>, String)?
        for name in codecs { if let c = avcodec_find_encoder_by_name(name) { found = (c, name); break } }
        guard let (encoder, name) = found else {
            avformat_free_context(fmt)
            throw .ffmpeg(operation: "avcodec_find_encoder_by_name(\(codecs.joined(separator: ", ")))", code: tessera_averror(ENOSYS), path: path)
        }
        codecName = name
        do {
            codec = try CodecContext(encoder, operation: "avcodec_alloc_context3(\(name))")
            yuv = try FrameBox(); packet = try PacketBox()
        } catch { avformat_free_context(fmt); throw error }
        guard let s = avformat_new_stream(fmt, nil) else {
            avformat_free_context(fmt)
            throw .ffmpeg(operation: "avformat_new_stream", code: tessera_averror(ENOMEM), path: path)
        }
        stream = s
        let c = codec.pointer
        c.pointee.width = Int32(size.width); c.pointee.height = Int32(size.height)
        c.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        c.pointee.time_base = AVRational(num: 1, den: Int32(fps))
        c.pointee.framerate = AVRational(num: Int32(fps), den: 1)
        c.pointee.gop_size = Int32(max(1, fps))
        c.pointee.max_b_frames = 0
        if name == "libx264" {
            _ = av_opt_set(c.pointee.priv_data, "preset", "veryfast", 0)
            _ = av_opt_set(c.pointee.priv_data, "crf", "20", 0)
        } else {
            c.pointee.bit_rate = Int64(max(2_000_000, size.width * size.height * fps / 4))
        }
        // AVFMT_GLOBALHEADER → AV_CODEC_FLAG_GLOBAL_HEADER (1 << 22): MP4/MKV want extradata.
        if fmt.pointee.oformat.pointee.flags & 0x0040 != 0 { c.pointee.flags |= Int32(1 << 22) }
        r = avcodec_open2(c, encoder, nil)
        guard r >= 0 else { avformat_free_context(fmt); format = nil; throw .ffmpeg(operation: "avcodec_open2(\(name))", code: r, path: path) }
        r = avcodec_parameters_from_context(s.pointee.codecpar, c)
        guard r >= 0 else { avformat_free_context(fmt); format = nil; throw .ffmpeg(operation: "avcodec_parameters_from_context", code: r, path: path) }
        s.pointee.time_base = c.pointee.time_base
        if fmt.pointee.oformat.pointee.flags & tessera_avfmt_nofile() == 0 {
            r = avio_open(&fmt.pointee.pb, path, 2 /* AVIO_FLAG_WRITE */)
            guard r >= 0 else { avformat_free_context(fmt); format = nil; throw .ffmpeg(operation: "avio_open", code: r, path: path) }
        }
        r = avformat_write_header(fmt, nil)
        guard r >= 0 else {
            avio_closep(&fmt.pointee.pb); avformat_free_context(fmt); format = nil
            throw .ffmpeg(operation: "avformat_write_header", code: r, path: path)
        }
        yuv.pointer.pointee.width = Int32(size.width); yuv.pointer.pointee.height = Int32(size.height)
        yuv.pointer.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        r = av_frame_get_buffer(yuv.pointer, 0)
        guard r >= 0 else { avio_closep(&fmt.pointee.pb); avformat_free_context(fmt); format = nil; throw .ffmpeg(operation: "av_frame_get_buffer(yuv420p)", code: r, path: path) }
        guard let sws = sws_getContext(Int32(size.width), Int32(size.height), AV_PIX_FMT_BGRA, Int32(size.width), Int32(size.height),
                                       AV_PIX_FMT_YUV420P, Int32(SWS_BILINEAR), nil, nil, nil) else {
            avio_closep(&fmt.pointee.pb); avformat_free_context(fmt); format = nil
            throw .ffmpeg(operation: "sws_getContext(bgra → yuv420p)", code: tessera_averror(EINVAL), path: path)
        }
        scaler = sws
    }

    deinit {
        if !finished { try? finish() }
        sws_freeContext(scaler)
        if let format {
            if format.pointee.oformat.pointee.flags & tessera_avfmt_nofile() == 0 { avio_closep(&format.pointee.pb) }
            avformat_free_context(format)
        }
    }

    /// Encodes one picture (BGRA, `size`) as the next frame.
    public func append(_ buffer: any CPUBuffer) throws(OutputError) {
        guard !finished else { throw .config("recording \(path) is finished") }
        guard buffer.size == size else {
            throw .config("recording \(path) is \(size.width)x\(size.height); got a \(buffer.size.width)x\(buffer.size.height) picture")
        }
        var r = av_frame_make_writable(yuv.pointer)
        guard r >= 0 else { throw .ffmpeg(operation: "av_frame_make_writable", code: r, path: path) }
        let stride = buffer.stride
        r = buffer.withBytes { span in
            span.withUnsafeBytes { raw -> Int32 in
                var src: [UnsafePointer<UInt8>?] = [raw.baseAddress!.assumingMemoryBound(to: UInt8.self), nil, nil, nil]
                var srcStride: [Int32] = [Int32(stride), 0, 0, 0]
                let f = yuv.pointer
                var dst: [UnsafeMutablePointer<UInt8>?] = [tessera_frame_plane_mut(f, 0), tessera_frame_plane_mut(f, 1), tessera_frame_plane_mut(f, 2), nil]
                var dstStride: [Int32] = [tessera_frame_linesize(f, 0), tessera_frame_linesize(f, 1), tessera_frame_linesize(f, 2), 0]
                return sws_scale(scaler, &src, &srcStride, 0, Int32(size.height), &dst, &dstStride)
            }
        }
        guard r > 0 else { throw .ffmpeg(operation: "sws_scale(bgra → yuv420p)", code: r, path: path) }
        yuv.pointer.pointee.pts = Int64(framesWritten)
        r = avcodec_send_frame(codec.pointer, yuv.pointer)
        guard r >= 0 else { throw .ffmpeg(operation: "avcodec_send_frame(\(codecName))", code: r, path: path) }
        framesWritten += 1
        try drain()
    }

    /// Flushes the encoder, writes the trailer and closes the file.
    public func finish() throws(OutputError) {
        guard !finished, let format else { return }
        finished = true
        var r = avcodec_send_frame(codec.pointer, nil)
        guard r >= 0 else { throw .ffmpeg(operation: "avcodec_send_frame(flush)", code: r, path: path) }
        try drain()
        r = av_write_trailer(format)
        guard r >= 0 else { throw .ffmpeg(operation: "av_write_trailer", code: r, path: path) }
        if format.pointee.oformat.pointee.flags & tessera_avfmt_nofile() == 0 { avio_closep(&format.pointee.pb) }
    }

    private func drain() throws(OutputError) {
        while true {
            let r = avcodec_receive_packet(codec.pointer, packet.pointer)
            if r == tessera_averror_eagain() || r == tessera_averror_eof() { return }
            guard r >= 0 else { throw .ffmpeg(operation: "avcodec_receive_packet(\(codecName))", code: r, path: path) }
            // One frame long: without a duration MP4's edit list ends at the last frame's start and
            // players (and decoders honouring it) drop that frame.
            if packet.pointer.pointee.duration <= 0 { packet.pointer.pointee.duration = 1 }
            av_packet_rescale_ts(packet.pointer, codec.pointer.pointee.time_base, stream.pointee.time_base)
            packet.pointer.pointee.stream_index = stream.pointee.index
            let w = av_interleaved_write_frame(format, packet.pointer)
            guard w >= 0 else { throw .ffmpeg(operation: "av_interleaved_write_frame", code: w, path: path) }
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
        let ctx = try CodecContext(decoder, operation: "avcodec_alloc_context3(decoder)")
        r = avcodec_parameters_to_context(ctx.pointer, input.pointee.streams[Int(index)]!.pointee.codecpar)
        guard r >= 0 else { throw .ffmpeg(operation: "avcodec_parameters_to_context", code: r, path: path) }
        r = avcodec_open2(ctx.pointer, decoder, nil)
        guard r >= 0 else { throw .ffmpeg(operation: "avcodec_open2(decoder)", code: r, path: path) }
        let packet = try PacketBox(), frame = try FrameBox()
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
