internal import CFFmpeg
import Foundation
import Logging
import TesseraCore
import TesseraFFmpeg

/// An opened video decoder (AVCodecContext), software or VAAPI.
final class Decoder {
    /// The context and the frame are owned by classes that free them, so an init that throws
    /// half-way (say avcodec_parameters_to_context) leaks neither.
    private let context: CodecContext
    private let frameBox: FrameBox
    var ctx: UnsafeMutablePointer<AVCodecContext> { context.pointer }
    private var frame: UnsafeMutablePointer<AVFrame> { frameBox.pointer }
    let codecName: String
    let hardware: Bool
    private let url: String
    private let device: HardwareDevice?
    private let logger: Logger
    /// Export VAAPI surfaces as dma-bufs; turned off for good at the first failure.
    private var exportDMABuf: Bool
    private var converter: FormatConverter?
    /// Pictures that needed a copy into yuv420p.
    private(set) var conversions = 0

    /// Decoder threads by picture size: one for tiles (no slice setup cost, least latency), a few
    /// slice threads for HD. Slice threads add no frame of delay; frame threads would add one per thread.
    static func threadCount(width: Int, height: Int) -> Int32 {
        let pixels = width * height
        if pixels <= 640 * 360 { return 1 }
        if pixels <= 1280 * 720 { return 2 }
        return 4
    }

    /// `threads` (count and FF_THREAD_SLICE or FF_THREAD_FRAME) only in tests, which need messages
    /// logged on a decoder's own threads; the wall uses `threadCount` slice threads.
    init(stream: UnsafeMutablePointer<AVStream>, url: String, hardwareDevice: HardwareDevice?, logger: Logger = .discarding("tessera.media"),
         threads: (count: Int32, type: Int32)? = nil) throws(MediaError) {
        let par = stream.pointee.codecpar!
        guard let codec = avcodec_find_decoder(par.pointee.codec_id) else {
            throw .noVideo(url: url, detail: "no decoder for codec \(String(cString: avcodec_get_name(par.pointee.codec_id)))")
        }
        do throws(FFmpegError) {
            context = try CodecContext(codec)
            frameBox = try FrameBox()
        } catch {
            throw .av(error, url)
        }
        let ctx = context.pointer
        // Before avcodec_open2, whose frame threads copy the context: their messages carry the stream.
        FFmpegLogScope.tag(ctx)
        codecName = String(cString: codec.pointee.name)
        self.url = url
        self.logger = logger
        device = hardwareDevice
        exportDMABuf = hardwareDevice?.exportDMABuf ?? false
        var rc = avcodec_parameters_to_context(ctx, par)
        if rc < 0 { throw .av("avcodec_parameters_to_context", url, rc) }
        ctx.pointee.pkt_timebase = stream.pointee.time_base
        let threadType = threads?.type ?? tessera_ff_thread_slice()
        // libavcodec turns frame threading off under AV_CODEC_FLAG_LOW_DELAY; only tests ask for it.
        if threadType == tessera_ff_thread_slice() { ctx.pointee.flags |= tessera_av_codec_flag_low_delay() }
        ctx.pointee.flags2 |= tessera_av_codec_flag2_fast()
        ctx.pointee.thread_count = threads?.count ?? Self.threadCount(width: Int(par.pointee.width), height: Int(par.pointee.height))
        ctx.pointee.thread_type = threadType
        if let hardwareDevice { tessera_codec_use_vaapi(ctx, hardwareDevice.ref) }
        hardware = hardwareDevice != nil
        rc = avcodec_open2(ctx, codec, nil)
        if rc < 0 { throw .av("avcodec_open2(\(codecName)\(hardware ? ", vaapi" : ""))", url, rc) }
    }


    /// Keyframes only (warm streams) or every frame (visible ones).
    var keyframesOnly: Bool {
        get { ctx.pointee.skip_frame == AVDISCARD_NONKEY }
        set { ctx.pointee.skip_frame = newValue ? AVDISCARD_NONKEY : AVDISCARD_DEFAULT }
    }

    /// Sends one packet (nil: flush). Returns the AVERROR code; EAGAIN means "receive first".
    func send(_ packet: Packet?) -> Int32 { avcodec_send_packet(ctx, packet?.pkt) }

    enum Output { case frame(DecodedFrame), again, end, failed(Int32) }

    /// The next decoded picture, moved into a new reference-counted `DecodedFrame`.
    func receive(decodedAt: ContinuousClock.Instant, arrivedAt: ContinuousClock.Instant?) -> Output {
        let rc = avcodec_receive_frame(ctx, frame)
        if rc == tessera_averror_eagain() { return .again }
        if rc == tessera_averror_eof() { return .end }
        if rc < 0 { return .failed(rc) }
        var out = frame
        if hardware && frame.pointee.format == AV_PIX_FMT_VAAPI.rawValue {
            if exportDMABuf {
                do {
                    let mapped = try DRMPrime.map(frame, url: url)
                    if let out = DRMPrime.frame(taking: mapped, decodedAt: decodedAt, arrivedAt: arrivedAt) {
                        av_frame_unref(frame)
                        return .frame(out)
                    }
                    logger.debug("\(url): exported VAAPI surface has a layout Core does not describe (see DRMPrime.description); downloading to NV12")
                } catch {
                    logger.debug("\(url): \(error); downloading VAAPI frames to NV12")
                }
                exportDMABuf = false
            }
            // The renderer cannot import dma-bufs (or the export failed): download to NV12.
            let sw = av_frame_alloc()!
            let rc = av_hwframe_transfer_data(sw, frame, 0)
            av_frame_copy_props(sw, frame)
            av_frame_unref(frame)
            if rc < 0 { var s: UnsafeMutablePointer<AVFrame>? = sw; av_frame_free(&s); return .failed(rc) }
            out = sw
            return .frame(DecodedFrame(taking: out, decodedAt: decodedAt, arrivedAt: arrivedAt))
        }
        if DecodedFrame.pixelFormat(frame.pointee.format) == nil {
            if converter == nil { converter = FormatConverter() }
            let converted = converter!.convert(frame)
            av_frame_unref(frame)
            guard let converted else { return .failed(tessera_averror(ENOSYS)) }
            conversions += 1
            return .frame(DecodedFrame(taking: converted, decodedAt: decodedAt, arrivedAt: arrivedAt))
        }
        let owned = av_frame_alloc()!
        av_frame_move_ref(owned, out)
        return .frame(DecodedFrame(taking: owned, decodedAt: decodedAt, arrivedAt: arrivedAt))
    }
}

/// A VAAPI device on a DRM render node, shared by the streams that decode on it.
final class HardwareDevice: @unchecked Sendable {
    let ref: UnsafeMutablePointer<AVBufferRef>
    let node: String
    /// Decoders on this device export frames as dma-bufs (`MediaConfiguration.exportDMABuf`).
    let exportDMABuf: Bool

    /// The first render node, if the machine has one.
    static func renderNode() -> String? {
        let nodes = (try? FileManager.default.contentsOfDirectory(atPath: "/dev/dri")) ?? []
        return nodes.filter { $0.hasPrefix("renderD") }.sorted().first.map { "/dev/dri/" + $0 }
    }

    /// Opens VAAPI on `node`; nil (logged at debug, as mpv does) when the node or driver cannot.
    static func open(node: String, exportDMABuf: Bool = false, logger: Logger) -> HardwareDevice? {
        var ref: UnsafeMutablePointer<AVBufferRef>? = nil
        let rc = av_hwdevice_ctx_create(&ref, AV_HWDEVICE_TYPE_VAAPI, node, nil, 0)
        guard rc >= 0, let ref else {
            logger.debug("VAAPI unavailable on \(node): \(FFmpegLibraries.errorText(rc)); decoding in software")
            return nil
        }
        return HardwareDevice(ref: ref, node: node, exportDMABuf: exportDMABuf)
    }

    private init(ref: UnsafeMutablePointer<AVBufferRef>, node: String, exportDMABuf: Bool) {
        self.ref = ref; self.node = node; self.exportDMABuf = exportDMABuf
    }
    deinit { var r: UnsafeMutablePointer<AVBufferRef>? = ref; av_buffer_unref(&r) }
}
