// The protocol's types, the room tracker and the room store live in TesseraSignalCore (no sockets,
// so the fuzz harnesses use them without NIO); importing TesseraSignal brings them along.
@_exported import TesseraSignalCore
