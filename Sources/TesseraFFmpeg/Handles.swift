package import CFFmpeg
import Synchronization

// The C objects Tessera allocates from libavcodec, each owned by a final class whose deinit frees
// it. A class that holds them as stored properties frees them on every path, including an init
// that throws half-way (Swift releases the properties it had set), so no init writes its own
// cleanup.

/// An AVCodecContext.
package final class CodecContext {
    package let pointer: UnsafeMutablePointer<AVCodecContext>
    package let codec: UnsafePointer<AVCodec>
    /// Contexts alive in this process per codec name (a leak test counts them).
    package static func live(codec name: String) -> Int { liveCounts.withLock { $0[name] ?? 0 } }
    private static let liveCounts = Mutex<[String: Int]>([:])

    package init(_ codec: UnsafePointer<AVCodec>) throws(FFmpegError) {
        guard let c = avcodec_alloc_context3(codec) else { throw .noMemory("avcodec_alloc_context3(\(String(cString: codec.pointee.name)))") }
        pointer = c
        self.codec = codec
        let name = String(cString: codec.pointee.name)
        Self.liveCounts.withLock { $0[name, default: 0] += 1 }
    }
    deinit {
        var p: UnsafeMutablePointer<AVCodecContext>? = pointer
        avcodec_free_context(&p)
        let name = self.name
        Self.liveCounts.withLock { $0[name, default: 0] -= 1 }
    }
    package var name: String { String(cString: codec.pointee.name) }
}

/// An AVFrame.
package final class FrameBox {
    package let pointer: UnsafeMutablePointer<AVFrame>
    package init() throws(FFmpegError) {
        guard let f = av_frame_alloc() else { throw .noMemory("av_frame_alloc") }
        pointer = f
    }
    /// A frame with its own buffers for `width`x`height` pictures of `format`.
    package convenience init(width: Int32, height: Int32, format: AVPixelFormat) throws(FFmpegError) {
        try self.init()
        pointer.pointee.width = width; pointer.pointee.height = height
        pointer.pointee.format = format.rawValue
        let r = av_frame_get_buffer(pointer, 0)
        guard r >= 0 else { throw FFmpegError("av_frame_get_buffer", r) }
    }
    deinit { var p: UnsafeMutablePointer<AVFrame>? = pointer; av_frame_free(&p) }
}

/// An AVPacket.
package final class PacketBox {
    package let pointer: UnsafeMutablePointer<AVPacket>
    package init() throws(FFmpegError) {
        guard let p = av_packet_alloc() else { throw .noMemory("av_packet_alloc") }
        pointer = p
    }
    deinit { var p: UnsafeMutablePointer<AVPacket>? = pointer; av_packet_free(&p) }
}
