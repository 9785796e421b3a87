package import CFFmpeg
import Foundation

/// A libav* call that failed: which call, and the AVERROR code it returned. Media and Output wrap
/// it in their own errors (`MediaError.av`, `OutputError.ffmpeg`) with the URL or path.
package struct FFmpegError: Error, Sendable, CustomStringConvertible {
    package var operation: String
    package var code: Int32
    package init(_ operation: String, _ code: Int32) { self.operation = operation; self.code = code }
    package static func noMemory(_ operation: String) -> FFmpegError { FFmpegError(operation, tessera_averror(ENOMEM)) }
    package var description: String { "\(operation) failed: \(ffmpegErrorText(code))" }
}

/// FFmpeg's text for an error code, with the code: "Invalid data found when processing input (-1094995529)".
package func ffmpegErrorText(_ code: Int32) -> String {
    FFmpegLibraries.errorText(code) + " (\(code))"
}

/// An AVDictionary of options for one call; whatever the call did not consume is freed.
package struct AVOptions {
    package var entries: [(String, String)] = []
    package init(_ entries: [(String, String)] = []) { self.entries = entries }
    package mutating func set(_ key: String, _ value: String) { entries.append((key, value)) }

    /// Calls `body` with a dictionary built from the entries; frees what is left afterwards.
    package func with<R, E: Error>(_ body: (inout OpaquePointer?) throws(E) -> R) throws(E) -> R {
        var dict: OpaquePointer? = nil
        for (k, v) in entries { av_dict_set(&dict, k, v, 0) }
        defer { av_dict_free(&dict) }
        return try body(&dict)
    }
}
