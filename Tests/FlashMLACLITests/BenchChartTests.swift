// Tests of BenchChart.
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import FlashMLACLI

/// The SVG chart of `bench --chart` and FlashMLA's JSON lines it compares with.
@Suite struct BenchChartTests {
    /// The `<g class="config">` elements of an SVG document, as attribute dictionaries; throws
    /// unless the document is well-formed XML.
    final class ConfigCollector: NSObject, XMLParserDelegate {
        var configs: [[String: String]] = []
        var rates: [String: String] = [:]
        var root = ""

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
                    qualifiedName: String?, attributes: [String: String] = [:]) {
            if root.isEmpty { root = name }
            if name == "g", attributes["class"] == "config" { configs.append(attributes) }
            if attributes["class"] == "rates" { rates = attributes }
        }

        static func parse(_ svg: String) throws -> ConfigCollector {
            let collector = ConfigCollector()
            let parser = XMLParser(data: Data(svg.utf8))
            parser.delegate = collector
            guard parser.parse() else { throw parser.parserError ?? CocoaError(.coderReadCorrupt) }
            return collector
        }
    }

    /// FlashMLA's anchor configuration on an H100: b 128, s_q 1, 4096 tokens each, h_q 16.
    static let anchor = BenchConfig(b: 128, sQ: 1, meanSk: 4096, hQ: 16)

    static func result(_ config: BenchConfig, ms: Double, total: Int) -> BenchResult {
        BenchResult(config: config, backend: "cuda", kernel: "sm80", device: "H200", dtype: .bf16,
                    totalSeqlens: total, milliseconds: ms)
    }

    @Test func svgIsWellFormedWithOneEntryPerConfiguration() throws {
        let second = BenchConfig(b: 4, sQ: 2, meanSk: 250, hQ: 128, varlen: true, cacheSeqlens: [100, 200, 300, 400])
        let results = [Self.result(Self.anchor, ms: 0.2214, total: 524_288), Self.result(second, ms: 0.05, total: 1000)]
        let baseline = try FlashMLABaseline.parse("""
            {"b": 128, "s_q": 1, "mean_sk": 4096, "h_q": 16, "h_kv": 1, "d": 576, "dv": 512, "causal": true, "varlen": false, "impl": "flash_mla", "dtype": "bfloat16", "ms": 0.2323}
            not json, ignored
            """, source: "fm.jsonl")
        let chart = BenchChart(results: results, baseline: baseline, rates: .h200, title: "grid <&> \"H200\"")
        let parsed = try ConfigCollector.parse(chart.svg)
        #expect(parsed.root == "svg")
        #expect(parsed.configs.count == 2)
        #expect(parsed.rates["data-copy-gbps"] == "4276.0")
        #expect(parsed.rates["data-gemm-tflops"] == "780.0")

        // The anchor: bytes 2·(524288·576 + 128·16·1088) = 608 436 224 → 0.14229 ms at 4276 GB/s;
        // FLOPs 2·524288·16·1088 = 18 253 611 008 → 0.02340 ms at 780 TFLOPS; the floor is the copy.
        let first = parsed.configs[0]
        #expect(first["data-label"] == "b=128 s_q=1 mean_sk=4096 h_q=16 h_kv=1 causal bf16")
        #expect(first["data-ours-ms"] == "0.2214")
        #expect(first["data-flashmla-ms"] == "0.2323")
        #expect(first["data-floor-ms"] == "0.1423")
        #expect(first["data-percent-of-floor"] == "64.3")

        // The second: bytes 2·(1000·576 + 4·2·128·1088) = 3 380 224 → 0.000790 ms; FLOPs
        // 2·2·1000·128·1088 = 557 056 000 → 0.000714 ms: the copy again, 1.6% of 0.05 ms. No FlashMLA line.
        let other = parsed.configs[1]
        #expect(other["data-flashmla-ms"] == nil)
        #expect(other["data-floor-ms"] == "0.0008")
        #expect(other["data-percent-of-floor"] == "1.6")
    }

    @Test func computeBoundFloorUsesTheGEMMRate() {
        // h_q 128, s_q 2: FLOPs 2·2·524288·128·1088 = 292 057 776 128 → 0.3744 ms at 780 TFLOPS,
        // bytes 2·(524288·576 + 128·2·128·1088) = 675 282 944 → 0.1579 ms at 4276 GB/s.
        let config = BenchConfig(b: 128, sQ: 2, meanSk: 4096, hQ: 128)
        let floor = BenchChart.floorMilliseconds(Self.result(config, ms: 0.5, total: 524_288), rates: .h200)
        #expect(abs(floor - 292_057_776_128 / 780e12 * 1e3) < 1e-12)
        let slowGEMM = BenchChart.floorMilliseconds(Self.result(config, ms: 0.5, total: 524_288),
                                                    rates: .init(copyGBps: 100, gemmTFLOPS: 780))
        #expect(abs(slowGEMM - 675_282_944 / 100e9 * 1e3) < 1e-9, "a slow copy makes the floor the copy")
    }

    @Test func chartWithoutResultsIsStillValid() throws {
        let parsed = try ConfigCollector.parse(BenchChart(results: [], baseline: nil, rates: .h200, title: "empty").svg)
        #expect(parsed.configs.isEmpty)
    }

    @Test func baselineMatchesOnShapeAndDType() throws {
        let baseline = try FlashMLABaseline.parse("""
            {"b": 128, "s_q": 1, "mean_sk": 4096, "h_q": 16, "varlen": false, "dtype": "bfloat16", "ms": 0.25}
            {"b": 128, "s_q": 1, "mean_sk": 4096, "h_q": 16, "varlen": false, "dtype": "float16", "ms": 0.26}
            {"b": 128, "s_q": 1, "mean_sk": 4096, "h_q": 16, "varlen": true, "ms": 0.27}
            """, source: "fm.jsonl")
        #expect(baseline.milliseconds(for: Self.anchor, dtype: .bf16) == 0.25)
        #expect(baseline.milliseconds(for: Self.anchor, dtype: .fp16) == 0.26)
        var varlen = Self.anchor
        varlen.varlen = true
        #expect(baseline.milliseconds(for: varlen, dtype: .fp16) == 0.27, "a line without dtype matches any")
        var other = Self.anchor
        other.hQ = 128
        #expect(baseline.milliseconds(for: other, dtype: .bf16) == nil)
    }

    @Test func badBaselineLinesAreUsageErrors() {
        #expect(throws: UsageError("fm.jsonl line 2: ms", expected: "a positive number", given: "nothing")) {
            try FlashMLABaseline.parse("""
                {"b": 1, "s_q": 1, "mean_sk": 64, "h_q": 16, "ms": 0.1}
                {"b": 1, "s_q": 1, "mean_sk": 64, "h_q": 16}
                """, source: "fm.jsonl")
        }
        #expect(throws: UsageError("fm.jsonl line 1: b", expected: "an integer", given: "1.5")) {
            try FlashMLABaseline.parse(#"{"b": 1.5, "s_q": 1, "mean_sk": 64, "h_q": 16, "ms": 0.1}"#, source: "fm.jsonl")
        }
        #expect(throws: UsageError("--compare fm.jsonl", expected: "JSON lines of FlashMLA's benchmark",
                                   given: "no line starting with {")) {
            try FlashMLABaseline.parse("nothing here\n", source: "fm.jsonl")
        }
    }
}
