// BenchGrid and BenchConfig: grid files' configurations, and the filters over them.
import ArgumentParser
import FlashMLA
import FlashMLATesting
import Foundation

/// The 16-bit input type a benchmark runs with, as grid files and `--dtype` spell it.
enum BenchDType: String, Codable, Sendable, CaseIterable, ExpressibleByArgument {
    /// Brain floating point (`bfloat16`).
    case bf16
    /// IEEE half precision (`float16`).
    case fp16

    /// Accepts `bf16`/`bfloat16` and `fp16`/`float16`/`half`.
    init?(argument: String) {
        switch argument.lowercased() {
        case "bf16", "bfloat16": self = .bf16
        case "fp16", "float16", "half": self = .fp16
        default: return nil
        }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = BenchDType(argument: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "dtype \"\(text)\" is not bf16 or fp16")
        }
        self = value
    }

    /// The library's element type.
    var elementType: ElementType { self == .bf16 ? .bfloat16 : .float16 }
}

/// One decode configuration of a benchmark grid, with the field names of FlashMLA's benchmark
/// (`b`, `s_q`, `mean_sk`, `h_q`, `h_kv`, `d`, `dv`, `causal`, `varlen`, `page_block_size`,
/// `cache_seqlens`), and for DeepSeek-V3.2's sparse decoding `topk`, `topk_length` and
/// `invalid_indices`; `kv_format` picks the cache layout.
///
/// Optional fields default to FlashMLA's decode shape: `d` 576, `dv` 512, `page_block_size` 64,
/// `h_kv` 1, `causal` true (false with `topk`), `varlen` false, `kv_format` the command's
/// `--kv-format`. `cache_seqlens`, when present, fixes every request's length; otherwise lengths
/// are drawn as FlashMLA's benchmark draws them (see ``resolvedCacheSeqlens(seed:)``). `mean_sk`
/// may be left out when `cache_seqlens` is given. With `topk` the configuration is a sparse
/// decode: each request holds its length in tokens (`mean_sk` is FlashMLA's `s_k`) and each of
/// its `s_q` query tokens attends to `topk` distinct tokens of them (``SparseProblem``).
struct BenchConfig: Decodable, Sendable, Equatable {
    /// Requests, `b`.
    var b: Int
    /// New query tokens per request, `s_q`.
    var sQ: Int
    /// The mean cached length.
    var meanSk: Int
    /// Query heads.
    var hQ: Int
    /// KV heads.
    var hKV: Int
    /// Key (and query) head dimension.
    var d: Int
    /// Value head dimension.
    var dv: Int
    /// Causal masking of the `s_q` new tokens.
    var causal: Bool
    /// Whether lengths vary between requests.
    var varlen: Bool
    /// Tokens per KV-cache page.
    var pageBlockSize: Int
    /// Every request's length, when the grid fixes them.
    var cacheSeqlens: [Int]?
    /// Entries per index list (`topk`): a sparse decode; nil: dense.
    var topk: Int? = nil
    /// FlashMLA's `topk_length` (sparse only); nil: every list counts all `topk` entries.
    var topkLength: TopkLength? = nil
    /// The cache layout (`kv_format`); nil: the command's `--kv-format`.
    var kvFormat: KVFormatChoice? = nil
    /// The chance that an index entry is `−1` (`invalid_indices`, sparse only); nil: none.
    var invalidIndices: Double? = nil
    /// Entries per extra index list (`extra_topk`, MODEL1 only): an extra cache; nil: none.
    var extraTopk: Int? = nil
    /// FlashMLA's `extra_topk_length` (with `extra_topk`); nil: every extra list counts all.
    var extraTopkLength: TopkLength? = nil
    /// Tokens a page of the extra cache (`extra_page_block_size`, with `extra_topk`); nil: 64.
    var extraPageBlockSize: Int? = nil

    /// FlashMLA's `topk_length`: one count for every request, or one per request.
    enum TopkLength: Decodable, Sendable, Equatable {
        /// Every request counts this many leading entries.
        case every(Int)
        /// Request `i` counts entry `i`'s.
        case each([Int])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            do {
                self = .every(try container.decode(Int.self))
            } catch DecodingError.typeMismatch {
                do {
                    self = .each(try container.decode([Int].self))
                } catch let DecodingError.typeMismatch(_, context) {
                    throw DecodingError.typeMismatch(TopkLength.self, context)
                }
            }
        }

        /// As the grid wrote it: `512`, or the list (its length when long).
        var text: String {
            switch self {
            case let .every(count): "\(count)"
            case let .each(counts): counts.count <= 8 ? "\(counts)" : "a list of \(counts.count) counts"
            }
        }

        /// Each request's count, for `b` requests. Call only when ``BenchConfig/problems(kvFormat:)`` is empty.
        func counts(batchSize: Int) -> [Int32] {
            switch self {
            case let .every(count): Array(repeating: Int32(count), count: batchSize)
            case let .each(counts): counts.map { Int32($0) }
            }
        }
    }

    /// Query rows per KV head, s_q · h_q / h_kv: what the metadata call takes and what picks the
    /// decode kernel.
    var rowsPerKVHead: Int { sQ * hQ / hKV }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case b, sQ = "s_q", meanSk = "mean_sk", hQ = "h_q", hKV = "h_kv", d, dv, causal, varlen
        case pageBlockSize = "page_block_size", cacheSeqlens = "cache_seqlens"
        case topk, topkLength = "topk_length", kvFormat = "kv_format", invalidIndices = "invalid_indices"
        case extraTopk = "extra_topk", extraTopkLength = "extra_topk_length", extraPageBlockSize = "extra_page_block_size"
    }

    /// A configuration; lengths are drawn unless `cacheSeqlens` is given.
    init(b: Int, sQ: Int, meanSk: Int, hQ: Int, hKV: Int = 1, d: Int = DecodeProblem.headDim,
         dv: Int = DecodeProblem.headDimV, causal: Bool = true, varlen: Bool = false,
         pageBlockSize: Int = TileSchedule.blockSize, cacheSeqlens: [Int]? = nil) {
        self.init(b: b, sQ: sQ, meanSk: meanSk, hQ: hQ, hKV: hKV, d: d, dv: dv, causal: causal, varlen: varlen,
                  pageBlockSize: pageBlockSize, cacheSeqlens: cacheSeqlens, topk: nil)
    }

    /// A sparse configuration (`topk` set; not causal), or with `topk` nil a dense one.
    init(b: Int, sQ: Int, meanSk: Int, hQ: Int, hKV: Int = 1, d: Int = DecodeProblem.headDim,
         dv: Int = DecodeProblem.headDimV, causal: Bool? = nil, varlen: Bool = false,
         pageBlockSize: Int = TileSchedule.blockSize, cacheSeqlens: [Int]? = nil, topk: Int?,
         topkLength: TopkLength? = nil, kvFormat: KVFormatChoice? = nil, invalidIndices: Double? = nil,
         extraTopk: Int? = nil, extraTopkLength: TopkLength? = nil, extraPageBlockSize: Int? = nil) {
        self.extraTopk = extraTopk
        self.extraTopkLength = extraTopkLength
        self.extraPageBlockSize = extraPageBlockSize
        self.topk = topk
        self.topkLength = topkLength
        self.kvFormat = kvFormat
        self.invalidIndices = invalidIndices
        let causal = causal ?? (topk == nil)
        self.b = b
        self.sQ = sQ
        self.meanSk = meanSk
        self.hQ = hQ
        self.hKV = hKV
        self.d = d
        self.dv = dv
        self.causal = causal
        self.varlen = varlen
        self.pageBlockSize = pageBlockSize
        self.cacheSeqlens = cacheSeqlens
    }

    init(from decoder: any Decoder) throws {
        try UnknownField.reject(in: decoder, known: CodingKeys.allCases.map(\.stringValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        b = try c.decode(Int.self, forKey: .b)
        sQ = try c.decode(Int.self, forKey: .sQ)
        hQ = try c.decode(Int.self, forKey: .hQ)
        hKV = try c.decodeIfPresent(Int.self, forKey: .hKV) ?? 1
        d = try c.decodeIfPresent(Int.self, forKey: .d) ?? DecodeProblem.headDim
        dv = try c.decodeIfPresent(Int.self, forKey: .dv) ?? DecodeProblem.headDimV
        topk = try c.decodeIfPresent(Int.self, forKey: .topk)
        topkLength = try c.decodeIfPresent(TopkLength.self, forKey: .topkLength)
        invalidIndices = try c.decodeIfPresent(Double.self, forKey: .invalidIndices)
        extraTopk = try c.decodeIfPresent(Int.self, forKey: .extraTopk)
        extraTopkLength = try c.decodeIfPresent(TopkLength.self, forKey: .extraTopkLength)
        extraPageBlockSize = try c.decodeIfPresent(Int.self, forKey: .extraPageBlockSize)
        if let text = try c.decodeIfPresent(String.self, forKey: .kvFormat) {
            guard let format = KVFormatChoice(rawValue: text) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .kvFormat, in: c,
                    debugDescription: "kv_format \"\(text)\" is not \(KVFormatChoice.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            kvFormat = format
        }
        causal = try c.decodeIfPresent(Bool.self, forKey: .causal) ?? (topk == nil)
        varlen = try c.decodeIfPresent(Bool.self, forKey: .varlen) ?? false
        pageBlockSize = try c.decodeIfPresent(Int.self, forKey: .pageBlockSize) ?? TileSchedule.blockSize
        cacheSeqlens = try c.decodeIfPresent([Int].self, forKey: .cacheSeqlens)
        if let mean = try c.decodeIfPresent(Int.self, forKey: .meanSk) {
            meanSk = mean
        } else if let lengths = cacheSeqlens, !lengths.isEmpty {
            // Overflow-checked: the entries are only range-checked later, by problems().
            var total = 0, overflow = false
            for length in lengths where !overflow { (total, overflow) = total.addingReportingOverflow(length) }
            meanSk = overflow ? Int.max : total / lengths.count
        } else {
            throw DecodingError.keyNotFound(CodingKeys.meanSk, .init(
                codingPath: c.codingPath, debugDescription: "mean_sk is required unless cache_seqlens is given"))
        }
    }

    /// The largest value of a count or length: the kernels take 32-bit integers.
    static let maxValue = Int(Int32.max)

    /// What this library cannot run, each naming the field, what it must be and what it is
    /// (empty when the configuration is fine). Every count and length must lie in 1…2³¹−1 (a
    /// cached length in 0…2³¹−1); sizes are checked separately, by ``MemoryEstimate``. A sparse
    /// configuration (`topk`) needs `h_kv` 1, no causal mask and a native or fp8-ds cache
    /// (`kv_format`, else `flag`, the command's `--kv-format`); `topk_length` (each 0…topk) and
    /// `invalid_indices` (0…1) need `topk`.
    func problems(kvFormat flag: KVFormatChoice = .native) -> [UsageError] {
        var found: [UsageError] = []
        let range = "1…\(Self.maxValue)"
        func count(_ name: String, _ value: Int) {
            if !(1...Self.maxValue).contains(value) { found.append(UsageError(name, expected: range, given: "\(value)")) }
        }
        count("b", b)
        count("s_q", sQ)
        count("h_q", hQ)
        count("h_kv", hKV)
        if hQ >= 1, hKV >= 1, hQ % hKV != 0 {
            found.append(UsageError("h_kv", expected: "a divisor of h_q = \(hQ)", given: "\(hKV)"))
        }
        let model1 = (kvFormat ?? flag) == .model1
        if d != DecodeProblem.headDim && !(model1 && d == Model1Layout.headDim) {
            found.append(UsageError("d", expected: model1 ? "512 (or 576)" : "\(DecodeProblem.headDim)", given: "\(d)"))
        }
        if dv != DecodeProblem.headDimV { found.append(UsageError("dv", expected: "\(DecodeProblem.headDimV)", given: "\(dv)")) }
        if pageBlockSize != TileSchedule.blockSize {
            found.append(UsageError("page_block_size", expected: "\(TileSchedule.blockSize)", given: "\(pageBlockSize)"))
        }
        if let lengths = cacheSeqlens {
            if lengths.count != b {
                found.append(UsageError("cache_seqlens", expected: "b = \(b) entries", given: "\(lengths.count)"))
            }
            if let bad = lengths.firstIndex(where: { !(0...Self.maxValue).contains($0) }) {
                found.append(UsageError("cache_seqlens[\(bad)]", expected: "0…\(Self.maxValue)", given: "\(lengths[bad])"))
            }
        } else {
            count("mean_sk", meanSk)
        }
        found += sparseProblems(kvFormat: flag)
        return found
    }

    /// The problems of the sparse fields and of `kv_format` (see ``problems(kvFormat:)``).
    private func sparseProblems(kvFormat flag: KVFormatChoice) -> [UsageError] {
        var found: [UsageError] = []
        let format = kvFormat ?? flag, named = kvFormat == nil ? "\(flag.rawValue) (--kv-format)" : format.rawValue
        guard let topk else {
            if kvFormat == .fp8DS, hKV != 1 {
                found.append(UsageError("h_kv", expected: "1 for kv_format fp8-ds", given: "\(hKV)"))
            }
            let beside = "a topk beside it (it describes sparse decoding's index lists)"
            if let topkLength { found.append(UsageError("topk_length", expected: beside, given: topkLength.text)) }
            if let invalidIndices { found.append(UsageError("invalid_indices", expected: beside, given: "\(invalidIndices)")) }
            if let extraTopk { found.append(UsageError("extra_topk", expected: beside, given: "\(extraTopk)")) }
            if format == .model1 {
                found.append(UsageError("kv_format", expected: "native, fp8 or fp8-ds for dense decoding (model1 is sparse only: add topk)",
                                        given: named))
            }
            return found
        }
        found += extraProblems(format: format, named: named)
        if !(1...Self.maxValue).contains(topk) {
            found.append(UsageError("topk", expected: "1…\(Self.maxValue)", given: "\(topk)"))
        }
        if hKV != 1 { found.append(UsageError("h_kv", expected: "1 for sparse decoding (topk)", given: "\(hKV)")) }
        if causal { found.append(UsageError("causal", expected: "false: sparse decoding (topk) has no causal mask", given: "true")) }
        if format == .fp8 {
            found.append(UsageError("kv_format", expected: "native, fp8-ds or model1 for sparse decoding (topk)", given: named))
        }
        found += countProblems(topkLength, field: "topk_length", width: "topk", topk)
        if let invalidIndices, !(0...1).contains(invalidIndices) {
            found.append(UsageError("invalid_indices", expected: "a fraction in 0…1 (of index entries set to -1)", given: "\(invalidIndices)"))
        }
        return found
    }

    /// The problems of the extra cache's fields: `extra_topk` (1…2³¹−1) only with kv_format model1,
    /// `extra_topk_length` (each 0…extra_topk) and `extra_page_block_size` (1…256) only with `extra_topk`.
    private func extraProblems(format: KVFormatChoice, named: String) -> [UsageError] {
        var found: [UsageError] = []
        guard let extraTopk else {
            let beside = "an extra_topk beside it (it describes the extra cache)"
            if let extraTopkLength { found.append(UsageError("extra_topk_length", expected: beside, given: extraTopkLength.text)) }
            if let extraPageBlockSize { found.append(UsageError("extra_page_block_size", expected: beside, given: "\(extraPageBlockSize)")) }
            return found
        }
        if format != .model1 {
            found.append(UsageError("kv_format", expected: "model1 with extra_topk (the extra cache is MODEL1's)", given: named))
        }
        if !(1...Self.maxValue - 4096).contains(extraTopk) {
            found.append(UsageError("extra_topk", expected: "1…\(Self.maxValue - 4096)", given: "\(extraTopk)"))
        }
        if let page = extraPageBlockSize, !(1...KVCacheFormat.maxPageSize).contains(page) {
            found.append(UsageError("extra_page_block_size", expected: "1…\(KVCacheFormat.maxPageSize)", given: "\(page)"))
        }
        found += countProblems(extraTopkLength, field: "extra_topk_length", width: "extra_topk", extraTopk)
        return found
    }

    /// The problems of a list-length field (`topk_length`, `extra_topk_length`): each count in
    /// `0…limit` (`width` names the limit), one count or `b` of them.
    private func countProblems(_ lengths: TopkLength?, field: String, width: String, _ limit: Int) -> [UsageError] {
        let counts = "0…\(width) = 0…\(limit)"
        switch lengths {
        case nil:
            return []
        case let .every(count):
            return (0...max(limit, 0)).contains(count) ? [] : [UsageError(field, expected: counts, given: "\(count)")]
        case let .each(list):
            var found: [UsageError] = []
            if list.count != b {
                found.append(UsageError(field, expected: "one count for every request, or b = \(b) counts", given: "\(list.count) counts"))
            }
            if let bad = list.firstIndex(where: { !(0...max(limit, 0)).contains($0) }) {
                found.append(UsageError("\(field)[\(bad)]", expected: counts, given: "\(list[bad])"))
            }
            return found
        }
    }

    /// The longest and the total cached length, and the 64-token pages the lengths fill, without
    /// building the lengths: exact when they are fixed (`cache_seqlens`, or no `varlen`), a lower
    /// bound for a `varlen` draw (every drawn length is at least `s_q`). Call only when
    /// ``problems()`` is empty.
    var lengthSummaryLowerBound: LengthSummary {
        if let lengths = cacheSeqlens { return LengthSummary(lengths.map { Int32($0) }) }
        let length = varlen ? sQ : meanSk
        return LengthSummary(count: b, longest: length, pages: b * LengthSummary.pages(length))
    }

    /// Each request's cached length: `cache_seqlens` when given; else `mean_sk` for every
    /// request, or, with `varlen`, FlashMLA's draw `max(normal(mean_sk, mean_sk/2), s_q)`
    /// (truncated to an integer, at most 2³¹−1) from a generator seeded with `seed`. Call only
    /// when ``problems()`` is empty and the sizes have been checked.
    func resolvedCacheSeqlens(seed: UInt64) -> [Int32] {
        if let lengths = cacheSeqlens { return lengths.map { Int32($0) } }
        guard varlen else { return Array(repeating: Int32(meanSk), count: b) }
        var rng = InputRandom(seed: seed)
        let mean = Double(meanSk)
        return (0..<b).map { _ in
            let drawn = mean + mean / 2 * rng.gaussian()
            return Int32(min(max(drawn, Double(sQ)), Double(Self.maxValue)).rounded(.towardZero))
        }
    }

    /// The value of field `key` (a grid-file name such as `h_q`) as text, for `--only` matching.
    func fieldText(_ key: String) -> String? {
        switch key {
        case "b": "\(b)"
        case "s_q": "\(sQ)"
        case "mean_sk": "\(meanSk)"
        case "h_q": "\(hQ)"
        case "h_kv": "\(hKV)"
        case "d": "\(d)"
        case "dv": "\(dv)"
        case "causal": "\(causal)"
        case "varlen": "\(varlen)"
        case "page_block_size": "\(pageBlockSize)"
        case "topk": topk.map { "\($0)" } ?? "none"
        case "kv_format": (kvFormat ?? .native).rawValue
        case "extra_topk": extraTopk.map { "\($0)" } ?? "none"
        default: nil
        }
    }

    /// A short description such as `b=4 s_q=1 mean_sk=2048 h_q=16 h_kv=1 causal varlen`, with
    /// ` topk=2048 fp8-ds` for a sparse configuration.
    var summary: String {
        "b=\(b) s_q=\(sQ) mean_sk=\(meanSk) h_q=\(hQ) h_kv=\(hKV)" + (causal ? " causal" : "") + (varlen ? " varlen" : "")
            + (topk.map { " topk=\($0)" + (kvFormat.map { " \($0.rawValue)" } ?? "") } ?? "")
            + (extraTopk.map { " extra_topk=\($0) extra_page=\(extraPageBlockSize ?? TileSchedule.blockSize)" } ?? "")
    }
}

/// A benchmark grid: a name, an input type and a list of configurations, as in a JSON grid file
/// `{"name": …, "dtype": "bf16", "configs": [{…}, …]}` (`name` and `dtype` are optional:
/// `"grid"` and `bf16`).
struct BenchGrid: Decodable, Sendable, Equatable {
    /// The grid's name.
    var name: String
    /// The input type.
    var dtype: BenchDType
    /// The configurations, in order.
    var configs: [BenchConfig]

    enum CodingKeys: String, CodingKey { case name, dtype, configs }

    /// A grid from its parts.
    init(name: String, dtype: BenchDType, configs: [BenchConfig]) {
        self.name = name
        self.dtype = dtype
        self.configs = configs
    }

    init(from decoder: any Decoder) throws {
        try UnknownField.reject(in: decoder, known: ["name", "dtype", "configs"])
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? "grid"
        dtype = try c.decodeIfPresent(BenchDType.self, forKey: .dtype) ?? .bf16
        configs = try c.decode([BenchConfig].self, forKey: .configs)
    }

    /// Decodes a grid from JSON text.
    static func decode(_ data: Data) throws -> BenchGrid {
        try JSONDecoder().decode(BenchGrid.self, from: data)
    }

    /// Reads and decodes the grid file at `path`.
    /// - Throws: ``UsageError`` naming the path and why it cannot be read, or the place in the
    ///   file that does not decode.
    static func load(path: String) throws(UsageError) -> BenchGrid {
        let data = try GridFile.read(path: path)
        do {
            return try decode(data)
        } catch {
            throw GridFile.usageError(path: path, decoding: error, data: data)
        }
    }

    /// The built-in grid: a handful of small shapes the CPU reference backend runs in seconds
    /// (b 2–4, s_q 1–2, h_q 16/32/128, h_kv 1, a few hundred to ~2000 tokens, one varlen).
    static let builtIn = BenchGrid(name: "built-in-small", dtype: .bf16, configs: [
        BenchConfig(b: 2, sQ: 1, meanSk: 512, hQ: 16),
        BenchConfig(b: 2, sQ: 2, meanSk: 1024, hQ: 32),
        BenchConfig(b: 4, sQ: 1, meanSk: 256, hQ: 128),
        BenchConfig(b: 2, sQ: 1, meanSk: 2048, hQ: 16),
        BenchConfig(b: 4, sQ: 2, meanSk: 768, hQ: 16, varlen: true, cacheSeqlens: [300, 1900, 65, 807]),
    ])

    /// FlashMLA's DeepSeek-V3.2 sparse decode shapes (its sparse decoding test's performance case,
    /// as `bench/flashmla-head/bench_sparse.py` times them): b 128 and 148, h_q 64 and 128, s_q 1
    /// and 2, topk 2048, s_k (`mean_sk`) 32768 drawn per request as max(normal(s_k, s_k/2), s_q)
    /// (`varlen`), one KV head, pages of 64; the eight shapes with the 656-byte FP8 cache, then
    /// the same eight with a bf16 cache.
    static let sparseV32 = BenchGrid(name: "sparse-v32", dtype: .bf16, configs: [KVFormatChoice.fp8DS, .native].flatMap { format in
        [128, 148].flatMap { b in
            [64, 128].flatMap { hQ in
                [1, 2].map { sQ in
                    BenchConfig(b: b, sQ: sQ, meanSk: 32768, hQ: hQ, varlen: true, topk: 2048, kvFormat: format)
                }
            }
        }
    })

    /// The grids `--grid` takes by name instead of a file: `built-in-small` (``builtIn``) and
    /// `sparse-v32` (``sparseV32``).
    static let presets = [builtIn, sparseV32]

    /// The preset named `argument`, else the grid file at that path (``load(path:)``); a file
    /// named like a preset is read as `./NAME`.
    /// - Throws: ``UsageError`` as ``load(path:)``.
    static func named(_ argument: String) throws(UsageError) -> BenchGrid {
        if let preset = presets.first(where: { $0.name == argument }) { return preset }
        return try load(path: argument)
    }
}

/// The `--only key=value,…` selection: a configuration passes when, for every key named, its
/// field equals one of the values given for that key (repeat a key, or separate values with
/// `|`, to allow several: `h_q=16|32,varlen=false`).
struct ConfigFilter: Sendable, Equatable {
    /// The field names a filter may use.
    static let keys = ["b", "s_q", "mean_sk", "h_q", "h_kv", "d", "dv", "causal", "varlen", "page_block_size",
                       "topk", "kv_format"]

    /// Accepted values per key, normalized.
    var allowed: [String: Set<String>]

    /// A filter that accepts everything.
    init() { allowed = [:] }

    /// Parses `key=value,key=value…`; throws a `ValidationError` for an unknown key or a missing `=`.
    init(parsing text: String) throws {
        allowed = [:]
        for term in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !term.isEmpty {
            let parts = term.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ValidationError("--only: \"\(term)\" is not key=value")
            }
            let key = parts[0].lowercased()
            guard Self.keys.contains(key) else {
                throw ValidationError("--only: unknown key \"\(parts[0])\" (keys: \(Self.keys.joined(separator: ", ")))")
            }
            for value in parts[1].split(separator: "|") {
                allowed[key, default: []].insert(Self.normalize(String(value)))
            }
        }
    }

    /// Whether `config` passes.
    func accepts(_ config: BenchConfig) -> Bool {
        allowed.allSatisfy { key, values in
            guard let text = config.fieldText(key) else { return false }
            return values.contains(text)
        }
    }

    /// `yes`/`on` → `true`, `no`/`off` → `false` (not `1`/`0`, which are numbers: `b=1`), integers without leading zeros or sign noise.
    private static func normalize(_ value: String) -> String {
        let lower = value.trimmingCharacters(in: .whitespaces).lowercased()
        switch lower {
        case "true", "yes", "on": return "true"
        case "false", "no", "off": return "false"
        default: return Int(lower).map { "\($0)" } ?? lower
        }
    }
}
