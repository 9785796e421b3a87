package import CFFmpeg

/// A video encoder with its picture buffer: the first of `codecs` this libavcodec has, for
/// `width`x`height` yuv420p pictures at `fps` (time base 1/fps), no B-frames. `configure` sets
/// what differs per use (rate control, colour tags, private options go to `open`). Used by the
/// recorder (Output) and the test publisher.
package final class VideoEncoder {
    package let context: CodecContext
    /// The picture to fill before `send`, writable after `makeWritable()`.
    package let picture: FrameBox
    private let packet: PacketBox

    package init(codecs: [String], width: Int32, height: Int32, fps: Int32, gop: Int32,
                 configure: (UnsafeMutablePointer<AVCodecContext>, String) -> Void) throws(FFmpegError) {
        guard let codec = codecs.lazy.compactMap({ avcodec_find_encoder_by_name($0) }).first else {
            throw FFmpegError("avcodec_find_encoder_by_name(\(codecs.joined(separator: ", ")))", tessera_averror(ENOSYS))
        }
        context = try CodecContext(codec)
        packet = try PacketBox()
        picture = try FrameBox(width: width, height: height, format: AV_PIX_FMT_YUV420P)
        let c = context.pointer
        c.pointee.width = width; c.pointee.height = height
        c.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        c.pointee.time_base = AVRational(num: 1, den: fps)
        c.pointee.framerate = AVRational(num: fps, den: 1)
        c.pointee.gop_size = max(1, gop)
        c.pointee.max_b_frames = 0
        configure(c, context.name)
    }

    package var name: String { context.name }

    /// Opens the encoder. `globalHeader`: the container wants SPS/PPS in the stream's parameters
    /// (`Muxer.wantsGlobalHeader`), not in-band.
    package func open(globalHeader: Bool, options: AVOptions = AVOptions()) throws(FFmpegError) {
        if globalHeader { context.pointer.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
        let c = context.pointer, codec = context.codec
        let r = options.with { d in avcodec_open2(c, codec, &d) }
        guard r >= 0 else { throw FFmpegError("avcodec_open2(\(name))", r) }
    }

    package func makeWritable() throws(FFmpegError) {
        let r = av_frame_make_writable(picture.pointer)
        guard r >= 0 else { throw FFmpegError("av_frame_make_writable", r) }
    }

    /// Encodes `picture` with `pts` and hands every packet that comes out to `write`.
    package func send(pts: Int64, _ write: (UnsafeMutablePointer<AVPacket>) throws(FFmpegError) -> Void) throws(FFmpegError) {
        picture.pointer.pointee.pts = pts
        let r = avcodec_send_frame(context.pointer, picture.pointer)
        guard r >= 0 else { throw FFmpegError("avcodec_send_frame(\(name))", r) }
        try drain(write)
    }

    /// Flushes the encoder: the packets still inside go to `write`.
    package func flush(_ write: (UnsafeMutablePointer<AVPacket>) throws(FFmpegError) -> Void) throws(FFmpegError) {
        let r = avcodec_send_frame(context.pointer, nil)
        guard r >= 0 || r == tessera_averror_eof() else { throw FFmpegError("avcodec_send_frame(flush)", r) }
        try drain(write)
    }

    private func drain(_ write: (UnsafeMutablePointer<AVPacket>) throws(FFmpegError) -> Void) throws(FFmpegError) {
        while true {
            let r = avcodec_receive_packet(context.pointer, packet.pointer)
            if r == tessera_averror_eagain() || r == tessera_averror_eof() { return }
            guard r >= 0 else { throw FFmpegError("avcodec_receive_packet(\(name))", r) }
            defer { av_packet_unref(packet.pointer) }
            try write(packet.pointer)
        }
    }
}
