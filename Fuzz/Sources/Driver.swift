// libFuzzer driver for every harness (shared/notes/fuzzing.md): one executable, `tessera-fuzz NAME
// [libFuzzer options] [CORPUS…]`, so `make fuzz` builds once with -sanitize=fuzzer,address.
import Foundation

/// One outside input the fuzzer feeds: a name for the command line, and the body that takes
/// arbitrary bytes through the code that parses them. A body must not keep state between inputs.
struct Harness: Sendable {
    var name: String
    var summary: String
    var body: @Sendable (UnsafeRawBufferPointer) -> Void
}

/// Every harness; `make fuzz` runs each in turn.
let harnesses: [Harness] = [
    layoutHarness,
    signalClientHarness,
    signalServerHarness,
]

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ cb: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// The harness chosen on the command line; set once before libFuzzer starts.
nonisolated(unsafe) var selected: Harness?

/// libFuzzer's input hook (its runtime references the symbol): feeds the chosen harness.
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selected?.body(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

@_cdecl("tessera_fuzz_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    let args = (0..<Int(argc)).map { String(cString: argv![$0]!) }
    guard args.count >= 2, let harness = harnesses.first(where: { $0.name == args[1] }) else {
        var usage = "usage: tessera-fuzz HARNESS [libFuzzer options] [CORPUS_DIR…]\nharnesses:\n"
        for h in harnesses { usage += "  \(h.name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(h.summary)\n" }
        FileHandle.standardError.write(Data(usage.utf8))
        return args.count >= 2 && args[1] == "--list" ? 0 : 64
    }
    selected = harness
    // libFuzzer sees argv without the harness name.
    var rest = [argv![0]] + (2..<Int(argc)).map { argv![$0] }
    var count = CInt(rest.count)
    rest.append(nil)
    return rest.withUnsafeMutableBufferPointer { buf in
        var v: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buf.baseAddress
        return LLVMFuzzerRunDriver(&count, &v) { data, size in testOneInput(data, size) }
    }
}
