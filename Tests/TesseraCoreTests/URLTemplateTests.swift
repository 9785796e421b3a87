import Testing
import TesseraCore

@Suite struct URLTemplateTests {
    @Test(arguments: [
        ("udp://127.0.0.1:{n+20000}", 7, "udp://127.0.0.1:20007"),
        ("udp://127.0.0.1:{n+20000}", 250, "udp://127.0.0.1:20250"),
        ("rtsp://cam{n}.local/stream", 12, "rtsp://cam12.local/stream"),
        ("srt://h:{n+9000}?streamid=p{n}", 3, "srt://h:9003?streamid=p3"),
        ("udp://127.0.0.1:5000", 4, "udp://127.0.0.1:5000"),         // no placeholder: as it is
        ("udp://h:{n-1}/{m}/{n+}/{n+x}/{", 5, "udp://h:{n-1}/{m}/{n+}/{n+x}/{"), // not placeholders: kept
        ("{n}{n+1}{{n}}", 9, "910{9}"),
    ])
    func expands(template: String, n: Int, expected: String) {
        #expect(URLTemplate.expand(template, n: n) == expected)
    }

    @Test func numberedOnlyWithAPlaceholder() {
        #expect(URLTemplate.isNumbered("udp://127.0.0.1:{n+20000}"))
        #expect(URLTemplate.isNumbered("out/p{n}.ts"))
        #expect(!URLTemplate.isNumbered("udp://127.0.0.1:20000"))
        #expect(!URLTemplate.isNumbered("udp://127.0.0.1:{x}"))
    }
}
