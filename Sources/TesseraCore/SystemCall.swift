import Foundation

/// A system call that failed: which call (with what it was for) and errno.
public struct SystemCallError: Error, Sendable, Hashable, CustomStringConvertible {
    public var call: String
    public var errno: Int32
    public init(_ call: String, errno: Int32) { self.call = call; self.errno = errno }
    public var description: String { "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// The one way Tessera makes a raw system call: a call interrupted by a signal (EINTR) is made
/// again, any other failure becomes a `SystemCallError` that names the call. Call sites never
/// write their own EINTR loop.
public enum SystemCall {
    /// Runs `body` until it does not fail with EINTR. A result below zero (with errno set) throws;
    /// zero and above are returned.
    @discardableResult
    public static func retrying<T: BinaryInteger>(_ call: @autoclosure () -> String, _ body: () -> T) throws(SystemCallError) -> T {
        while true {
            let r = body()
            if r >= 0 { return r }
            let e = errno
            if e == EINTR { continue }
            throw SystemCallError(call(), errno: e)
        }
    }
}
