import Logging

/// Wraps the process's log handler so that every message and metadata value passes `Redact.text`
/// on its way out: a URL with credentials logged anywhere (a refused stream, a failed open, a
/// backend URL) reaches standard error and the journal masked. `tessera` and `tessera-signal`
/// bootstrap their logging through it.
public struct RedactingLogHandler: LogHandler {
    public var wrapped: any LogHandler

    public init(_ wrapped: any LogHandler) { self.wrapped = wrapped }

    public var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        event.message = "\(Redact.text(event.message.description))"
        event.metadata = event.metadata.map(Self.redacted)
        wrapped.log(event: event)
    }

    static func redacted(_ metadata: Logger.Metadata) -> Logger.Metadata {
        metadata.mapValues(redacted)
    }

    static func redacted(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let s): .string(Redact.text(s))
        case .stringConvertible(let c): .string(Redact.text(c.description))
        case .dictionary(let d): .dictionary(redacted(d))
        case .array(let a): .array(a.map(redacted))
        }
    }
}

extension Logger {
    /// This logger with its handler behind a `RedactingLogHandler` (unless it is one already): for
    /// components that log text from outside (stream URLs, FFmpeg's messages), so that nothing they
    /// log leaks a secret whatever handler the process bootstrapped.
    public var redacting: Logger {
        guard !(handler is RedactingLogHandler) else { return self }
        var l = self
        l.handler = RedactingLogHandler(handler)
        return l
    }

    /// A logger that drops everything: the default of components made without one.
    public static func discarding(_ label: String) -> Logger {
        Logger(label: label, factory: { _ in SwiftLogNoOpLogHandler() })
    }
}
