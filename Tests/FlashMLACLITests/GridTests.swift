// Tests of grid files and configuration filters.
import Foundation
import Testing
import ArgumentParser
@testable import FlashMLACLI

/// Grid files in FlashMLA's format: defaults, explicit lengths, validation, `--only` and drawn lengths.
@Suite struct GridTests {
    private func grid(_ json: String) throws -> BenchGrid {
        try BenchGrid.decode(Data(json.utf8))
    }

    /// The decoding error `json` raises, as text; nil (a failed expectation) when it decodes or
    /// fails some other way.
    private func decodingError(_ json: String) -> String? {
        do {
            _ = try grid(json)
        } catch let error as DecodingError {
            return String(describing: error)
        } catch {
            Issue.record("not a DecodingError: \(error)")
            return nil
        }
        Issue.record("decoded: \(json)")
        return nil
    }

    @Test func missingFieldsTakeFlashMLADecodeDefaults() throws {
        let decoded = try grid(#"{"configs": [{"b": 2, "s_q": 1, "mean_sk": 128, "h_q": 16}]}"#)
        #expect(decoded.name == "grid")
        #expect(decoded.dtype == .bf16)
        #expect(decoded.configs.count == 1)
        let config = try #require(decoded.configs.first)
        #expect(config.b == 2)
        #expect(config.sQ == 1)
        #expect(config.meanSk == 128)
        #expect(config.hQ == 16)
        #expect(config.hKV == 1)
        #expect(config.d == 576)
        #expect(config.dv == 512)
        #expect(config.causal == true)
        #expect(config.varlen == false)
        #expect(config.pageBlockSize == 64)
        #expect(config.cacheSeqlens == nil)
        #expect(config.problems().isEmpty)
        #expect(config == BenchConfig(b: 2, sQ: 1, meanSk: 128, hQ: 16))
    }

    @Test func explicitFieldsOverrideDefaults() throws {
        let decoded = try grid("""
        {"name": "mine", "dtype": "float16", "configs": [
          {"b": 1, "s_q": 2, "mean_sk": 300, "h_q": 8, "h_kv": 2, "d": 576, "dv": 512,
           "causal": false, "varlen": true, "page_block_size": 64}
        ]}
        """)
        #expect(decoded.name == "mine")
        #expect(decoded.dtype == .fp16)
        let config = try #require(decoded.configs.first)
        #expect(config.hKV == 2)
        #expect(config.causal == false)
        #expect(config.varlen == true)
        #expect(config.summary == "b=1 s_q=2 mean_sk=300 h_q=8 h_kv=2 varlen")
    }

    @Test func cacheSeqlensAreUsedAsGiven() throws {
        // The FlashMLA anchor's shape: explicit lengths, mean_sk left out.
        let decoded = try grid("""
        {"name": "anchor-like", "dtype": "bf16", "configs": [
          {"b": 4, "s_q": 2, "h_q": 16, "h_kv": 1, "d": 576, "dv": 512, "causal": true, "varlen": true,
           "page_block_size": 64, "cache_seqlens": [3719, 1, 5527, 957]}
        ]}
        """)
        let config = try #require(decoded.configs.first)
        #expect(config.cacheSeqlens == [3719, 1, 5527, 957])
        #expect(config.meanSk == (3719 + 1 + 5527 + 957) / 4)
        // Given lengths win over any draw, whatever the seed.
        #expect(config.resolvedCacheSeqlens(seed: 0) == [3719, 1, 5527, 957])
        #expect(config.resolvedCacheSeqlens(seed: 12345) == [3719, 1, 5527, 957])
        #expect(config.problems().isEmpty)
    }

    @Test func meanSkIsRequiredWithoutLengths() {
        for json in [#"{"configs": [{"b": 2, "s_q": 1, "h_q": 16}]}"#,
                     #"{"configs": [{"b": 2, "s_q": 1, "h_q": 16, "cache_seqlens": []}]}"#] {
            let message = decodingError(json)
            #expect(message?.contains("mean_sk is required unless cache_seqlens is given") == true, "\(message ?? "")")
        }
    }

    @Test func unknownDTypeAndMissingConfigsAreRejected() {
        let dtype = decodingError(#"{"dtype": "fp8", "configs": [{"b": 1, "s_q": 1, "mean_sk": 64, "h_q": 16}]}"#)
        #expect(dtype?.contains("dtype \"fp8\" is not bf16 or fp16") == true, "\(dtype ?? "")")
        let configs = decodingError(#"{"name": "empty"}"#)
        #expect(configs?.contains("configs") == true, "\(configs ?? "")")
    }

    @Test func dtypeSpellings() {
        #expect(BenchDType(argument: "bf16") == .bf16)
        #expect(BenchDType(argument: "BFloat16") == .bf16)
        #expect(BenchDType(argument: "fp16") == .fp16)
        #expect(BenchDType(argument: "half") == .fp16)
        #expect(BenchDType(argument: "fp32") == nil)
        #expect(BenchDType.bf16.elementType == .bfloat16)
        #expect(BenchDType.fp16.elementType == .float16)
    }

    @Test func badGridIsReported() throws {
        let decoded = try grid("""
        {"configs": [{"b": 2, "s_q": 1, "h_q": 16, "d": 128, "page_block_size": 32, "cache_seqlens": [100, -5]}]}
        """)
        let problems = try #require(decoded.configs.first).problems()
        #expect(problems == [UsageError("d", expected: "576", given: "128"),
                             UsageError("page_block_size", expected: "64", given: "32"),
                             UsageError("cache_seqlens[1]", expected: "0…2147483647", given: "-5")])
    }

    @Test func otherProblemsAreReported() {
        let mismatched = BenchConfig(b: 3, sQ: 1, meanSk: 64, hQ: 16, cacheSeqlens: [64, 64])
        #expect(mismatched.problems() == [UsageError("cache_seqlens", expected: "b = 3 entries", given: "2")])
        let heads = BenchConfig(b: 1, sQ: 1, meanSk: 64, hQ: 16, hKV: 3)
        #expect(heads.problems() == [UsageError("h_kv", expected: "a divisor of h_q = 16", given: "3")])
        let empty = BenchConfig(b: 0, sQ: 0, meanSk: 0, hQ: 16, dv: 128)
        #expect(empty.problems() == [UsageError("b", expected: "1…2147483647", given: "0"),
                                     UsageError("s_q", expected: "1…2147483647", given: "0"),
                                     UsageError("dv", expected: "512", given: "128"),
                                     UsageError("mean_sk", expected: "1…2147483647", given: "0")])
        let tooLong = BenchConfig(b: 1, sQ: 1, meanSk: 64, hQ: 16, cacheSeqlens: [Int(Int32.max) + 1])
        #expect(tooLong.problems() == [UsageError("cache_seqlens[0]", expected: "0…2147483647", given: "2147483648")])
        // A zero length is legal: a request with nothing cached.
        #expect(BenchConfig(b: 2, sQ: 1, meanSk: 32, hQ: 16, cacheSeqlens: [0, 64]).problems().isEmpty)
    }

    @Test func builtInGridIsValid() {
        #expect(!BenchGrid.builtIn.configs.isEmpty)
        for config in BenchGrid.builtIn.configs {
            #expect(config.problems().isEmpty, "\(config.summary)")
        }
    }

    // MARK: --only

    @Test func filterAcceptsAndRejects() throws {
        let filter = try ConfigFilter(parsing: "h_q=16|32,varlen=false")
        #expect(filter.accepts(BenchConfig(b: 2, sQ: 1, meanSk: 512, hQ: 16)))
        #expect(filter.accepts(BenchConfig(b: 2, sQ: 1, meanSk: 512, hQ: 32)))
        #expect(!filter.accepts(BenchConfig(b: 2, sQ: 1, meanSk: 512, hQ: 128)))
        #expect(!filter.accepts(BenchConfig(b: 2, sQ: 1, meanSk: 512, hQ: 16, varlen: true)))
    }

    @Test func filterNormalizesValuesAndRepeatsKeys() throws {
        let config = BenchConfig(b: 4, sQ: 2, meanSk: 768, hQ: 16, causal: true)
        #expect(try ConfigFilter(parsing: "causal=yes").accepts(config))
        #expect(try ConfigFilter(parsing: "causal=no").accepts(config) == false)
        #expect(try ConfigFilter(parsing: "b=04, s_q = 2").accepts(config))
        #expect(try ConfigFilter(parsing: "H_Q=16").accepts(config))
        // A repeated key widens the allowed set.
        let repeated = try ConfigFilter(parsing: "b=2,b=4")
        #expect(repeated.allowed["b"] == ["2", "4"])
        #expect(repeated.accepts(config))
        #expect(!repeated.accepts(BenchConfig(b: 8, sQ: 2, meanSk: 768, hQ: 16)))
    }

    @Test func emptyFilterAcceptsEverything() throws {
        for filter in [ConfigFilter(), try ConfigFilter(parsing: ""), try ConfigFilter(parsing: " , ")] {
            #expect(filter.allowed.isEmpty)
            for config in BenchGrid.builtIn.configs { #expect(filter.accepts(config)) }
        }
    }

    @Test(arguments: [("heads=16", "unknown key \"heads\""), ("h_q", "\"h_q\" is not key=value"),
                      ("h_q=", "\"h_q=\" is not key=value"), ("=16", "\"=16\" is not key=value"),
                      ("b=1,mean=4", "unknown key \"mean\"")])
    func malformedFilterThrows(text: String, message: String) {
        do {
            _ = try ConfigFilter(parsing: text)
            Issue.record("\(text) parsed")
        } catch let error as ValidationError {
            #expect(error.message.contains(message), "\(error.message)")
        } catch {
            Issue.record("not a ValidationError: \(error)")
        }
    }

    @Test func everyFilterKeyNamesAField() {
        let config = BenchConfig(b: 1, sQ: 1, meanSk: 64, hQ: 16)
        for key in ConfigFilter.keys { #expect(config.fieldText(key) != nil, "\(key)") }
        #expect(config.fieldText("cache_seqlens") == nil)
    }

    // MARK: drawn lengths

    @Test func fixedLengthWithoutVarlen() {
        let config = BenchConfig(b: 5, sQ: 1, meanSk: 777, hQ: 16)
        #expect(config.resolvedCacheSeqlens(seed: 1) == [Int32](repeating: 777, count: 5))
        #expect(config.resolvedCacheSeqlens(seed: 2) == [Int32](repeating: 777, count: 5))
    }

    @Test func varlenDrawIsDeterministicPerSeed() {
        let config = BenchConfig(b: 64, sQ: 2, meanSk: 1024, hQ: 16, varlen: true)
        let first = config.resolvedCacheSeqlens(seed: 7)
        #expect(first.count == 64)
        #expect(config.resolvedCacheSeqlens(seed: 7) == first)
        #expect(config.resolvedCacheSeqlens(seed: 8) != first)
        #expect(Set(first).count > 1, "varlen lengths should vary")
    }

    @Test func varlenDrawIsAtLeastSQ() {
        // mean_sk below s_q: most draws are clamped to s_q.
        let small = BenchConfig(b: 200, sQ: 4, meanSk: 3, hQ: 16, varlen: true)
        for seed: UInt64 in 0..<5 {
            let lengths = small.resolvedCacheSeqlens(seed: seed)
            #expect(lengths.allSatisfy { $0 >= 4 })
            #expect(lengths.contains(4))
        }
        let large = BenchConfig(b: 500, sQ: 3, meanSk: 64, hQ: 16, varlen: true)
        #expect(large.resolvedCacheSeqlens(seed: 3).allSatisfy { $0 >= 3 })
    }

    @Test func varlenDrawFollowsNormalOfMeanAndHalfMean() {
        // FlashMLA draws normal(mean_sk, mean_sk / 2); clamping at s_q = 1 barely moves the moments.
        let config = BenchConfig(b: 4000, sQ: 1, meanSk: 4096, hQ: 16, varlen: true)
        let lengths = config.resolvedCacheSeqlens(seed: 11).map(Double.init)
        let mean = lengths.reduce(0, +) / Double(lengths.count)
        let variance = lengths.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(lengths.count)
        #expect(abs(mean - 4096) < 4096 * 0.03, "mean \(mean)")
        #expect(abs(variance.squareRoot() - 2048) < 2048 * 0.06, "std \(variance.squareRoot())")
    }
}
