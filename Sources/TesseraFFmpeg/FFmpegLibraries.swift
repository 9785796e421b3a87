internal import CFFmpeg
import Foundation

/// The FFmpeg libraries this build runs against, for `tessera version` and `tessera doctor`.
public enum FFmpegLibraries {
    public struct Version: Hashable, Sendable, CustomStringConvertible {
        public var name: String
        public var major: Int, minor: Int, micro: Int
        public var description: String { "\(name) \(major).\(minor).\(micro)" }
    }

    public static var versions: [Version] {
        func v(_ name: String, _ packed: UInt32) -> Version {
            Version(name: name, major: Int(packed >> 16), minor: Int(packed >> 8 & 0xff), micro: Int(packed & 0xff))
        }
        return [v("libavformat", avformat_version()), v("libavcodec", avcodec_version()),
                v("libavutil", avutil_version()), v("libswscale", swscale_version())]
    }

    /// FFmpeg's own version string (e.g. "5.1.6-0+deb12u1").
    public static var release: String { String(cString: av_version_info()) }

    /// The text FFmpeg gives for an error code (AVERROR values are negative errno or tags).
    public static func errorText(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(tessera_av_error_max_string_size()))
        av_make_error_string(&buffer, buffer.count, code)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// AVERROR_EOF, which Swift cannot import as a macro.
    public static var endOfFile: Int32 { tessera_averror_eof() }

    /// Whether libavcodec has a decoder for the named codec (e.g. "h264").
    public static func hasDecoder(_ name: String) -> Bool { avcodec_find_decoder_by_name(name) != nil }
}
