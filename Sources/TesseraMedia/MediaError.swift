import TesseraCore
import TesseraFFmpeg

/// Everything Media can fail with. Each case names the operation and the URL (or codec) that
/// caused it, and carries FFmpeg's own text for the AVERROR code where there is one.
public enum MediaError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The URL policy refused a URL before anything was opened.
    case refused(url: String, reason: String)
    /// A libavformat/libavcodec call returned an AVERROR code.
    case ffmpeg(operation: String, url: String, code: Int32, text: String)
    /// A blocking call was cut off by the stream's deadline (no frame for too long, slow open).
    case timedOut(operation: String, url: String, seconds: Double)
    /// The input has no video stream, or none whose codec libavcodec can decode.
    case noVideo(url: String, detail: String)
    /// The input ended (files; a live peer that closed its side).
    case endOfStream(url: String)
    /// Packets arrive but no picture came out of them for too long (corrupt or undecodable data).
    case noPictures(url: String, seconds: Double)

    /// Builds `.ffmpeg` with FFmpeg's message for `code`.
    package static func av(_ error: FFmpegError, _ url: String) -> MediaError { av(error.operation, url, error.code) }

    package static func av(_ operation: String, _ url: String, _ code: Int32) -> MediaError {
        .ffmpeg(operation: operation, url: url, code: code, text: FFmpegLibraries.errorText(code))
    }

    /// What went wrong, with secrets in URLs and FFmpeg's text masked (`Redact.text`): this is what
    /// logs, stats, backend reports and `tessera probe` show.
    public var description: String { Redact.text(unredactedDescription) }

    private var unredactedDescription: String {
        switch self {
        case .refused(let url, let reason): "refused \(url): \(reason)"
        case .ffmpeg(let op, let url, let code, let text): "\(op) failed for \(url): \(text) (AVERROR \(code))"
        case .timedOut(let op, let url, let s): "\(op) timed out for \(url) after \(formatSeconds(s)) s"
        case .noVideo(let url, let detail): "no decodable video in \(url): \(detail)"
        case .endOfStream(let url): "\(url) ended"
        case .noPictures(let url, let s): "no picture decoded from \(url) for \(formatSeconds(s)) s (corrupt or undecodable data)"
        }
    }
}

func formatSeconds(_ s: Double) -> String {
    let r = (s * 10).rounded() / 10
    return r == r.rounded() ? String(Int(r)) : String(r)
}
