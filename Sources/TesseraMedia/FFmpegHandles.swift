package import CFFmpeg
import Foundation
import TesseraCore
import TesseraFFmpeg

// The C handles Media holds, each in a final class whose deinit frees it. None of these cross
// threads while in use: a stream's thread owns its Interrupt (shared read-only with whoever stops
// it), InputContext, Decoder and Packet; DecodedFrame is immutable once made.

/// The interrupt callback state of one stream (see `tessera_interrupt` in the CFFmpeg shim):
/// `stop()` ends any blocking libavformat call of the stream at once, from any thread;
/// `arm(_:)` bounds the next ones in time.
package final class Interrupt: @unchecked Sendable {
    package let state: UnsafeMutablePointer<tessera_interrupt>

    package init() { state = tessera_interrupt_new()! }
    deinit { av_free(state) }

    package func stop() { tessera_interrupt_set_stop(state, 1) }
    var isStopped: Bool { tessera_interrupt_stopped(state) != 0 }
    /// Blocking calls from now on fail once `timeout` has passed; nil: no deadline.
    func arm(_ timeout: Duration?) {
        tessera_interrupt_arm(state, timeout.map { Int64($0.microseconds) } ?? 0)
    }
    /// True when the deadline (not a stop) cut the last call off.
    var deadlinePassed: Bool { !isStopped && tessera_interrupt_check(state) != 0 }
}

extension Duration {
    var microseconds: Double { Double(components.seconds) * 1e6 + Double(components.attoseconds) / 1e12 }
}

/// An opened demuxer (AVFormatContext from avformat_open_input).
package final class InputContext {
    private(set) var ctx: UnsafeMutablePointer<AVFormatContext>
    let url: CheckedURL
    package let videoIndex: Int32

    /// Opens `url` with the fences the policy gave it, the low-latency options, and `interrupt`
    /// installed; finds the video stream. Every blocking step is bounded by `interrupt`'s deadline.
    package init(_ url: CheckedURL, interrupt: Interrupt, ioTimeout: Duration, probeSize: Int = 32768) throws(MediaError) {
        self.url = url
        // The log callback carries the RTSP redirect guard (tessera_redirect_guard in the shim).
        FFmpegLog.installIfNone()
        guard var ctx = avformat_alloc_context() else { throw .av("avformat_alloc_context", url.redacted, tessera_averror(ENOMEM)) }
        tessera_interrupt_install(ctx, interrupt.state)
        FFmpegLogScope.tag(ctx)
        tessera_interrupt_set_target(interrupt.state, url.url, url.host)
        ctx.pointee.flags |= tessera_avfmt_flag_nobuffer()
        if url.isMPEGTS {
            // No parser: it would hold each picture until the next one starts (a frame of delay).
            // One PES is one access unit in MPEG-TS; keyframes are found from the NAL types.
            ctx.pointee.flags |= AVFMT_FLAG_NOPARSE | AVFMT_FLAG_NOFILLIN
        }
        var options = AVOptions()
        options.set("protocol_whitelist", url.protocolWhitelist)
        options.set("format_whitelist", url.formatWhitelist)
        options.set("probesize", String(probeSize))
        // RTMP: FLV creates its streams at their first packets, so the stream info must be read;
        // the AVC sequence header and the first keyframe come first, and 0.1 s is enough for them.
        options.set("analyzeduration", url.isMPEGTS ? "0" : url.scheme == "rtmp" ? "100000" : "500000")
        options.set("fpsprobesize", "0")
        let us = String(Int(ioTimeout.microseconds))
        options.set("rw_timeout", us)
        switch url.scheme {
        case "udp", "rtp":
            options.set("timeout", us)
            // No circular buffer thread: the kernel's socket buffer is the only queue, so a packet
            // reaches the demuxer as soon as this thread asks, and a stream costs no 5 MiB FIFO.
            options.set("fifo_size", "0")
            options.set("overrun_nonfatal", "1")
            options.set("buffer_size", "262144")
            options.set("reuse", "1")
        case "tcp":
            options.set("timeout", us)
        case "srt":
            options.set("timeout", us)
            options.set("connect_timeout", String(Int(ioTimeout.microseconds / 1000)))
            if !url.url.contains("latency=") { options.set("latency", "20000") }
        case "rtsp", "rtsps":
            // RTSP 'timeout' is the socket I/O timeout in µs (FFmpeg 5.1 dropped 'stimeout').
            options.set("timeout", us)
            // Interleaved over the RTSP connection only: no RTP/RTCP ports are bound (FFmpeg binds
            // them on the wildcard address), and a transport reply cannot name another host
            // (`source=`) to send RTP/RTCP to. A server that refuses TCP (461) is not played.
            options.set("rtsp_transport", "tcp")
            options.set("reorder_queue_size", "0")
            options.set("max_delay", "0")
        default:
            break
        }
        let format = url.forcedFormat.flatMap { av_find_input_format($0) }
        var ptr: UnsafeMutablePointer<AVFormatContext>? = ctx
        let rc = options.with { dict in avformat_open_input(&ptr, url.url, format, &dict) }
        guard rc >= 0, let opened = ptr else {
            // avformat_open_input frees the context on failure.
            if tessera_interrupt_redirect_refused(interrupt.state) != 0 {
                let host = String(cString: tessera_interrupt_refused_host(interrupt.state))
                throw .refused(url: url.url, reason: "the RTSP server redirected to host \"\(host)\", which is not the host the URL policy allowed (\(url.host)); redirects to other hosts are not followed")
            }
            if interrupt.deadlinePassed { throw .timedOut(operation: "avformat_open_input", url: url.redacted, seconds: ioTimeout.seconds) }
            throw .av("avformat_open_input", url.redacted, rc)
        }
        ctx = opened
        self.ctx = ctx
        // MPEG-TS names its codecs in the PMT and carries SPS/PPS in-band: the decoder needs no
        // probing, and probing would hold the first picture back. Other inputs (RTMP/FLV, files)
        // may not know their streams until they read some packets.
        if !Self.hasKnownVideo(ctx) {
            let rc = avformat_find_stream_info(ctx, nil)
            if rc < 0 {
                var p: UnsafeMutablePointer<AVFormatContext>? = ctx
                avformat_close_input(&p)
                if interrupt.deadlinePassed { throw .timedOut(operation: "avformat_find_stream_info", url: url.redacted, seconds: ioTimeout.seconds) }
                throw .av("avformat_find_stream_info", url.redacted, rc)
            }
        }
        let index = av_find_best_stream(ctx, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        guard index >= 0 else {
            var p: UnsafeMutablePointer<AVFormatContext>? = ctx
            avformat_close_input(&p)
            throw .noVideo(url: url.redacted, detail: FFmpegLibraries.errorText(index))
        }
        videoIndex = index
        // Nothing but the picture is demuxed further (audio and data packets are discarded early).
        for i in 0..<Int(ctx.pointee.nb_streams) where Int32(i) != index {
            ctx.pointee.streams[i]!.pointee.discard = AVDISCARD_ALL
        }
    }

    deinit {
        var p: UnsafeMutablePointer<AVFormatContext>? = ctx
        avformat_close_input(&p)
    }

    private static func hasKnownVideo(_ ctx: UnsafeMutablePointer<AVFormatContext>) -> Bool {
        for i in 0..<Int(ctx.pointee.nb_streams) {
            let par = ctx.pointee.streams[i]!.pointee.codecpar.pointee
            if par.codec_type == AVMEDIA_TYPE_VIDEO && par.codec_id != AV_CODEC_ID_NONE { return true }
        }
        return false
    }

    package var videoStream: UnsafeMutablePointer<AVStream> { ctx.pointee.streams[Int(videoIndex)]! }

    /// Frames per second the container declares (0 when it does not say).
    package var declaredFPS: Double {
        let r = videoStream.pointee.avg_frame_rate
        if r.num > 0 && r.den > 0 { return Double(r.num) / Double(r.den) }
        let g = videoStream.pointee.r_frame_rate
        return g.num > 0 && g.den > 0 && g.num / g.den < 240 ? Double(g.num) / Double(g.den) : 0
    }

    /// Reads the next packet into `packet`; returns the AVERROR code (0 on success).
    package func read(into packet: Packet) -> Int32 { av_read_frame(ctx, packet.pkt) }

    /// Back to the start (looping files).
    package func rewind() -> Bool {
        av_seek_frame(ctx, -1, 0, AVSEEK_FLAG_BACKWARD) >= 0
    }
}

/// One AVPacket, reused for every read of a stream.
package final class Packet {
    private let box: PacketBox
    package var pkt: UnsafeMutablePointer<AVPacket> { box.pointer }
    package init() throws(MediaError) {
        do throws(FFmpegError) { box = try PacketBox() } catch { throw .av(error, "") }
    }
    package func unref() { av_packet_unref(pkt) }
    var streamIndex: Int32 { pkt.pointee.stream_index }
    var isKey: Bool { pkt.pointee.flags & tessera_av_pkt_flag_key() != 0 }
    var size: Int { Int(pkt.pointee.size) }
    /// Whether the packet starts a picture the decoder can begin at: the demuxer's flag, or for
    /// H.264/HEVC (where the parser is off) an IDR/IRAP or SPS NAL unit in the Annex B bytes.
    func isKeyframe(codec: UInt32) -> Bool {
        if isKey { return true }
        guard let data = pkt.pointee.data, pkt.pointee.size > 4 else { return false }
        let n = Int(pkt.pointee.size)
        let h264 = codec == AV_CODEC_ID_H264.rawValue, hevc = codec == AV_CODEC_ID_HEVC.rawValue
        guard h264 || hevc else { return false }
        var i = 0
        while i + 3 < n {
            if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
                let header = data[i + 3]
                if h264 { let t = header & 0x1f; if t == 5 || t == 7 { return true } }
                else { let t = (header >> 1) & 0x3f; if (16...21).contains(t) || t == 33 { return true } }
                i += 3
            } else {
                i += 1
            }
        }
        return false
    }

    var isCorrupt: Bool { pkt.pointee.flags & AV_PKT_FLAG_CORRUPT != 0 }

    /// The presentation time in seconds (the decode time when there is none); nil when neither is
    /// set or the stream's time base is no time base. Both come from the stream: any value.
    func mediaSeconds(_ timeBase: AVRational) -> Double? {
        let p = pkt.pointee, none = tessera_av_nopts_value()
        let t = p.pts != none ? p.pts : p.dts
        guard t != none, timeBase.num > 0, timeBase.den > 0 else { return nil }
        let s = Double(t) * Double(timeBase.num) / Double(timeBase.den)
        return s.isFinite ? s : nil
    }
}
