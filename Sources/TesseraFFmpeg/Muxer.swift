package import CFFmpeg

/// One video stream into a container: a file, or a network URL. Built in two steps because an
/// encoder must know before it opens whether the container wants global headers: `init` makes
/// the output context, `start` takes the stream's codec parameters (from an encoder, or copied
/// from a clip), opens the output and writes the header. deinit writes the trailer if `finish`
/// was not called, closes the output and frees the context, on every path.
package final class Muxer {
    package let context: UnsafeMutablePointer<AVFormatContext>
    package let stream: UnsafeMutablePointer<AVStream>
    private let target: String
    /// The time base of the packets `write` is given.
    private var sourceTimeBase = AVRational(num: 1, den: 90000)
    private var opened = false
    package private(set) var headerWritten = false

    /// `format`: the container's short name ("mpegts", "flv"), or nil for the one the name says.
    package init(target: String, format: String?) throws(FFmpegError) {
        self.target = target
        var ptr: UnsafeMutablePointer<AVFormatContext>? = nil
        let r = avformat_alloc_output_context2(&ptr, nil, format, target)
        guard r >= 0, let oc = ptr else { throw FFmpegError("avformat_alloc_output_context2", r) }
        guard let s = avformat_new_stream(oc, nil) else {
            avformat_free_context(oc)
            throw .noMemory("avformat_new_stream")
        }
        context = oc
        stream = s
    }

    /// Whether the container wants SPS/PPS in the codec parameters (AVFMT_GLOBALHEADER) rather
    /// than in-band: an encoder then opens with `globalHeader`.
    package var wantsGlobalHeader: Bool { context.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0 }
    private var needsFile: Bool { context.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 }

    /// Fills the stream's codec parameters with `parameters` (an AVERROR code; named `operation`
    /// in errors), opens the output (through `interrupt` when given) and writes the header.
    /// `live`: every packet leaves at once (no muxer buffering).
    package func start(timeBase: AVRational, operation: String, live: Bool = false,
                       interrupt: AVIOInterruptCB? = nil, ioOptions: AVOptions = AVOptions(), headerOptions: AVOptions = AVOptions(),
                       parameters: (UnsafeMutablePointer<AVCodecParameters>) -> Int32) throws(FFmpegError) {
        var r = parameters(stream.pointee.codecpar)
        guard r >= 0 else { throw FFmpegError(operation, r) }
        sourceTimeBase = timeBase
        stream.pointee.time_base = timeBase
        if live {
            context.pointee.flags |= AVFMT_FLAG_FLUSH_PACKETS
            context.pointee.max_delay = 0
        }
        if needsFile {
            let oc = context, target = target
            if var cb = interrupt {
                r = ioOptions.with { d in avio_open2(&oc.pointee.pb, target, AVIO_FLAG_WRITE, &cb, &d) }
            } else {
                r = ioOptions.with { d in avio_open2(&oc.pointee.pb, target, AVIO_FLAG_WRITE, nil, &d) }
            }
            guard r >= 0 else { throw FFmpegError("avio_open2", r) }
            opened = true
        }
        let oc = context
        r = headerOptions.with { d in avformat_write_header(oc, &d) }
        guard r >= 0 else { throw FFmpegError("avformat_write_header", r) }
        headerWritten = true
    }

    /// Writes one packet given in the time base `start` was told. `interleaved`: through the
    /// muxer's interleaving queue (files); else at once (live).
    package func write(_ packet: UnsafeMutablePointer<AVPacket>, interleaved: Bool = false) throws(FFmpegError) {
        av_packet_rescale_ts(packet, sourceTimeBase, stream.pointee.time_base)
        packet.pointee.stream_index = stream.pointee.index
        let r = interleaved ? av_interleaved_write_frame(context, packet) : av_write_frame(context, packet)
        guard r >= 0 else { throw FFmpegError(interleaved ? "av_interleaved_write_frame" : "av_write_frame", r) }
    }

    /// Writes the trailer and closes the output.
    package func finish() throws(FFmpegError) {
        guard headerWritten else { return }
        headerWritten = false
        let r = av_write_trailer(context)
        if opened { avio_closep(&context.pointee.pb); opened = false }
        guard r >= 0 else { throw FFmpegError("av_write_trailer", r) }
    }

    deinit {
        if headerWritten { av_write_trailer(context) }
        if opened { avio_closep(&context.pointee.pb) }
        avformat_free_context(context)
    }
}
