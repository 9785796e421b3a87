/// Signaling protocol constants shared by the wall and the reference backend
/// (the protocol itself is specified in docs/signaling.md when the Signal part is built).
public enum SignalProtocol {
    /// The protocol version this build speaks.
    public static let version = 1
    /// The WebSocket subprotocol that carries the version.
    public static let subprotocol = "tessera.v1"
}
