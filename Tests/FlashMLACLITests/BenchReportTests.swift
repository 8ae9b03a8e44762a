// Tests of the bench report's JSON lines and table.
import Foundation
import Testing
@testable import FlashMLACLI

/// The bench's JSON lines and text output.
@Suite struct BenchReportTests {
    static let config = BenchConfig(b: 4, sQ: 2, meanSk: 250, hQ: 16, varlen: true, cacheSeqlens: [100, 200, 300, 400])

    static func result(ms: Double, device: String = "NVIDIA H100 80GB HBM3", dtype: BenchDType = .bf16) -> BenchResult {
        BenchResult(config: config, backend: "cuda", kernel: "sm90-lockstep", device: device, dtype: dtype, totalSeqlens: 1000, milliseconds: ms)
    }

    /// The keys of a one-line JSON object, in the order written.
    private func keys(_ line: String) -> [String] {
        let regex = try! NSRegularExpression(pattern: #""([a-z_]+)": "#)
        let range = NSRange(line.startIndex..., in: line)
        return regex.matches(in: line, range: range).map { String(line[Range($0.range(at: 1), in: line)!]) }
    }

    @Test func jsonLineHasDocumentedKeysInOrder() throws {
        let line = Self.result(ms: 0.123456).jsonLine
        #expect(keys(line) == ["b", "s_q", "mean_sk", "h_q", "h_kv", "d", "dv", "causal", "varlen", "impl", "backend",
                               "kernel", "device", "dtype", "total_seqlens", "ms", "tflops", "gbps"])
        #expect(!line.contains("\n"))
        // flops = 2·2·1000·16·1088 = 69 632 000 in 0.123456 ms → 0.5640 TFLOPS (three significant
        // digits below 1); bytes = 2·(1000·576 + 4·2·16·1088) = 1 430 528 → 11.587 GB/s (one decimal).
        #expect(line == """
        {"b": 4, "s_q": 2, "mean_sk": 250, "h_q": 16, "h_kv": 1, "d": 576, "dv": 512, "causal": true, \
        "varlen": true, "impl": "swift_flash_mla", "backend": "cuda", "kernel": "sm90-lockstep", \
        "device": "NVIDIA H100 80GB HBM3", \
        "dtype": "bf16", "total_seqlens": 1000, "ms": 0.1235, "tflops": 0.564, "gbps": 11.6}
        """)
    }

    @Test func jsonLineParses() throws {
        let line = Self.result(ms: 1.5, dtype: .fp16).jsonLine
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object.count == 18)
        #expect(object["kernel"] as? String == "sm90-lockstep")
        #expect(object["ms"] as? Double == 1.5)
        #expect(object["dtype"] as? String == "fp16")
        #expect(object["impl"] as? String == "swift_flash_mla")
        #expect(object["total_seqlens"] as? Int == 1000)
        #expect(line.contains(#""ms": 1.5000,"#))
        // 69 632 000 / 1.5 ms = 0.04642 TFLOPS; 1 430 528 / 1.5 ms = 0.9537 GB/s (fp16 is two bytes too):
        // small rates keep three significant digits, never 0.0.
        #expect(line.hasSuffix(#""tflops": 0.0464, "gbps": 0.954}"#))
        #expect(object["tflops"] as? Double == 0.0464)
    }

    @Test(arguments: [(1.0, "1.0000"), (12.34567, "12.3457"), (0.00004, "0.0000"), (250.25, "250.2500")])
    func millisecondsHaveFourDecimals(ms: Double, text: String) {
        #expect(Self.result(ms: ms).jsonLine.contains(#""ms": \#(text), "tflops""#))
    }

    @Test func resultDerivesFlashMLAFormulas() {
        let result = Self.result(ms: 0.5)
        #expect(result.flops == 69_632_000)
        #expect(result.bytes == 1_430_528)
        #expect(abs(result.teraflops - 0.139264) < 1e-12)
        #expect(abs(result.gigabytesPerSecond - 2.861056) < 1e-12)
    }

    @Test func zeroTimeWritesNull() throws {
        let line = Self.result(ms: 0).jsonLine
        #expect(line.hasSuffix(#""ms": 0.0000, "tflops": null, "gbps": null}"#))
        _ = try JSONSerialization.jsonObject(with: Data(line.utf8))
    }

    @Test func deviceNamesAreEscaped() throws {
        let device = "GPU \"0\" \\ tab\there\nline\u{1}"
        let line = Self.result(ms: 1, device: device).jsonLine
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["device"] as? String == device)
        #expect(JSONText.string("a\"b\\c\u{1f}") == #""a\"b\\c\u001f""#)
    }

    @Test(arguments: [(82.46, "82.5"), (2748.64, "2748.6"), (1.0, "1.0"), (0.564, "0.564"), (0.0114, "0.0114"),
                      (0.011, "0.0110"), (0.000123456, "0.000123"), (0, "0.0"), (.nan, "null"), (.infinity, "null")])
    func ratesKeepThreeSignificantDigitsBelowOne(value: Double, text: String) {
        #expect(JSONText.rate(value) == text)
    }

    @Test func tableAndJSONShowTheSameRates() throws {
        // A CPU-sized time: 69 632 000 FLOPs in 6.1 ms = 0.0114 TFLOPS.
        let result = Self.result(ms: 6.1)
        #expect(result.jsonLine.contains(#""tflops": 0.0114,"#))
        let row = try #require(BenchTable.render([result], gridName: "g").split(separator: "\n").last)
        #expect(row.hasSuffix("0.0114  0.235"))
    }

    @Test func numbers() {
        #expect(JSONText.number(2.5, decimals: 1) == "2.5")
        #expect(JSONText.number(0.06, decimals: 1) == "0.1")
        #expect(JSONText.number(.nan, decimals: 4) == "null")
        #expect(JSONText.number(-.infinity, decimals: 4) == "null")
    }

    @Test func byteText() {
        #expect(ByteText.format(100) == "100 B")
        #expect(ByteText.format(227 * 1024) == "227 KiB")
        #expect(ByteText.format(1536) == "1.5 KiB")
        #expect(ByteText.format(256 << 20) == "256 MiB")
    }

    @Test func textTableAlignsColumns() {
        var table = TextTable(headers: ["name", "ms"], leftAligned: [0])
        table.rows = [["a", "1.5"], ["longer", "10.25"]]
        #expect(table.render() == """
        name       ms
        ------  -----
        a         1.5
        longer  10.25

        """)
    }

    @Test func benchTableListsEveryResult() {
        let text = BenchTable.render([Self.result(ms: 0.5), Self.result(ms: 1.5)], gridName: "small")
        let lines = text.split(separator: "\n")
        #expect(lines.first == "small: 2 configuration(s) on cuda · NVIDIA H100 80GB HBM3")
        #expect(lines.count == 5)
        #expect(text.contains("0.5000"))
        #expect(text.contains("1.5000"))
    }
}
