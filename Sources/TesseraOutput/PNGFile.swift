import Foundation
internal import CFFmpeg
import TesseraCore
import TesseraFFmpeg

/// Why writing or reading a picture failed: the operation and FFmpeg's error text.
public enum OutputError: Error, CustomStringConvertible {
    case ffmpeg(operation: String, code: Int32, path: String?)
    case io(operation: String, path: String, errno: Int32)
    case drm(operation: String, device: String, errno: Int32)
    case noDevice(String)
    case config(String)

    public var description: String {
        switch self {
        case .ffmpeg(let op, let code, let path):
            "\(op) failed: \(ffmpegErrorText(code))" + (path.map { " (\($0))" } ?? "")
        case .io(let op, let path, let e): "\(op) \(path) failed: \(String(cString: strerror(e)))"
        case .drm(let op, let device, let e): "\(op) on \(device) failed: \(String(cString: strerror(e)))"
        case .noDevice(let why): why
        case .config(let why): why
        }
    }
}

extension OutputError {
    /// A failed libav* call, with the file it was for.
    init(_ error: FFmpegError, path: String? = nil) { self = .ffmpeg(operation: error.operation, code: error.code, path: path) }
}

/// Creates an FFmpeg handle, a failure as an `OutputError` for `path`.
func make<T>(_ path: String? = nil, _ body: () throws(FFmpegError) -> T) throws(OutputError) -> T {
    do throws(FFmpegError) { return try body() } catch { throw OutputError(error, path: path) }
}

/// PNG pictures through libavcodec's "png" encoder and decoder: snapshots of outputs, and the
/// golden images tests compare with.
public enum PNGFile {
    /// Encodes `buffer` (BGRA) as an RGB PNG (alpha dropped: scan-out ignores it) and returns the bytes.
    public static func encode(_ buffer: any CPUBuffer) throws(OutputError) -> [UInt8] {
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_PNG) else {
            throw .ffmpeg(operation: "avcodec_find_encoder(png)", code: tessera_averror(ENOSYS), path: nil)
        }
        let ctx = try make { () throws(FFmpegError) in try CodecContext(codec) }
        let w = buffer.size.width, h = buffer.size.height
        ctx.pointer.pointee.width = Int32(w)
        ctx.pointer.pointee.height = Int32(h)
        ctx.pointer.pointee.pix_fmt = AV_PIX_FMT_RGB24
        ctx.pointer.pointee.time_base = AVRational(num: 1, den: 1)
        // zlib level 1 and the "up" filter: half the deflate time of the default level 6 on a 4K
        // wall, about 12 % larger files (a 16-display preview spends its time here).
        ctx.pointer.pointee.compression_level = 1
        var r = AVOptions([("pred", "up")]).with { avcodec_open2(ctx.pointer, codec, &$0) }
        guard r >= 0 else { throw .ffmpeg(operation: "avcodec_open2(png)", code: r, path: nil) }
        let frame = try make { () throws(FFmpegError) in try FrameBox(width: Int32(w), height: Int32(h), format: AV_PIX_FMT_RGB24) }
        let dstStride = Int(frame.pointer.pointee.linesize.0)
        let dst = frame.pointer.pointee.data.0!
        buffer.withBytes { span in
            span.withUnsafeBytes { src in
                let s = buffer.stride
                for y in 0..<h {
                    let row = src.baseAddress!.advanced(by: y * s).assumingMemoryBound(to: UInt8.self)
                    let out = dst.advanced(by: y * dstStride)
                    for x in 0..<w {
                        out[x * 3] = row[x * 4 + 2]; out[x * 3 + 1] = row[x * 4 + 1]; out[x * 3 + 2] = row[x * 4]
                    }
                }
            }
        }
        r = avcodec_send_frame(ctx.pointer, frame.pointer)
        guard r >= 0 else { throw .ffmpeg(operation: "avcodec_send_frame(png)", code: r, path: nil) }
        let packet = try make { () throws(FFmpegError) in try PacketBox() }
        r = avcodec_receive_packet(ctx.pointer, packet.pointer)
        guard r >= 0 else { throw .ffmpeg(operation: "avcodec_receive_packet(png)", code: r, path: nil) }
        defer { av_packet_unref(packet.pointer) }
        return Array(UnsafeBufferPointer(start: packet.pointer.pointee.data, count: Int(packet.pointer.pointee.size)))
    }

    /// Writes `buffer` to `path` as PNG, replacing any file there.
    public static func write(_ buffer: any CPUBuffer, to path: String) throws(OutputError) {
        let bytes = try encode(buffer)
        do { try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw .io(operation: "write", path: path, errno: Int32((error as NSError).code))
        }
    }

    /// Reads a PNG file into a BGRA buffer (any PNG pixel format libavcodec decodes).
    public static func read(_ path: String) throws(OutputError) -> MemoryBuffer {
        guard let data = FileManager.default.contents(atPath: path) else { throw .io(operation: "read", path: path, errno: ENOENT) }
        return try decode(Array(data), path: path)
    }

    public static func decode(_ bytes: [UInt8], path: String? = nil) throws(OutputError) -> MemoryBuffer {
        guard let codec = avcodec_find_decoder(AV_CODEC_ID_PNG) else {
            throw .ffmpeg(operation: "avcodec_find_decoder(png)", code: tessera_averror(ENOSYS), path: path)
        }
        let ctx = try make(path) { () throws(FFmpegError) in try CodecContext(codec) }
        var r = avcodec_open2(ctx.pointer, codec, nil)
        guard r >= 0 else { throw .ffmpeg(operation: "avcodec_open2(png decoder)", code: r, path: path) }
        let packet = try make(path) { () throws(FFmpegError) in try PacketBox() }
        r = av_new_packet(packet.pointer, Int32(bytes.count))
        guard r >= 0 else { throw .ffmpeg(operation: "av_new_packet", code: r, path: path) }
        defer { av_packet_unref(packet.pointer) }
        bytes.withUnsafeBufferPointer { packet.pointer.pointee.data.update(from: $0.baseAddress!, count: bytes.count) }
        r = avcodec_send_packet(ctx.pointer, packet.pointer)
        guard r >= 0 else { throw .ffmpeg(operation: "avcodec_send_packet(png)", code: r, path: path) }
        let frame = try make(path) { () throws(FFmpegError) in try FrameBox() }
        r = avcodec_receive_frame(ctx.pointer, frame.pointer)
        guard r >= 0 else { throw .ffmpeg(operation: "avcodec_receive_frame(png)", code: r, path: path) }
        let f = frame.pointer.pointee
        let w = Int(f.width), h = Int(f.height)
        let format = AVPixelFormat(rawValue: f.format)
        var out = [UInt8](repeating: 255, count: w * h * 4)
        let stride = Int(f.linesize.0)
        guard let src = f.data.0 else { throw .ffmpeg(operation: "png frame has no data", code: tessera_averror(EINVAL), path: path) }
        let bpp: Int
        switch format {
        case AV_PIX_FMT_RGB24: bpp = 3
        case AV_PIX_FMT_RGBA: bpp = 4
        default: throw .ffmpeg(operation: "PNG pixel format \(f.format) (only RGB and RGBA are read)", code: tessera_averror(ENOSYS), path: path)
        }
        for y in 0..<h {
            let row = src.advanced(by: y * stride)
            for x in 0..<w {
                let o = (y * w + x) * 4
                out[o] = row[x * bpp + 2]; out[o + 1] = row[x * bpp + 1]; out[o + 2] = row[x * bpp]
                out[o + 3] = bpp == 4 ? row[x * bpp + 3] : 255
            }
        }
        return MemoryBuffer(size: Size(width: w, height: h), bgra: out)
    }
}
