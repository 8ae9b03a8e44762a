// MemoryEstimate: the memory a check or bench configuration needs, checked before allocating.
import FlashMLA
import FlashMLATesting

/// What the sizes of a configuration's tensors depend on in its cached lengths: the number of
/// requests, the longest length and the 64-token pages the lengths fill.
struct LengthSummary: Equatable, Sendable {
    /// Requests.
    var count: Int
    /// The longest cached length.
    var longest: Int
    /// Σ ⌈length / 64⌉.
    var pages: Int

    /// The 64-token pages `length` tokens fill.
    static func pages(_ length: Int) -> Int { (length + TileSchedule.blockSize - 1) / TileSchedule.blockSize }

    /// A summary from its parts.
    init(count: Int, longest: Int, pages: Int) {
        self.count = count
        self.longest = longest
        self.pages = pages
    }

    /// The summary of `lengths` (each in 0…2³¹−1, so no sum can overflow 64 bits).
    init(_ lengths: [Int32]) {
        count = lengths.count
        longest = Int(lengths.max() ?? 0)
        pages = lengths.reduce(0) { $0 + Self.pages(Int($1)) }
    }
}

/// The host (and device) memory a configuration's tensors take, computed in overflow-checked
/// arithmetic before anything is allocated, and checked against a limit.
struct MemoryEstimate: Equatable, Sendable {
    /// One tensor: its name, its dimensions (each named, as the error message writes them) and
    /// its element size.
    struct Tensor: Equatable, Sendable {
        /// The tensor, e.g. `q`.
        var name: String
        /// Its dimensions, e.g. `[("b", 4), ("s_q", 1), ("h_q", 16), ("576", 576)]`.
        var dimensions: [Dimension]
        /// Bytes per element.
        var elementBytes: Int

        /// Its elements, or nil when the product overflows.
        var elements: Int? { MemoryEstimate.product(dimensions.map(\.value)) }
        /// Its bytes, or nil when they overflow.
        var bytes: Int? { elements.flatMap { MemoryEstimate.product([$0, elementBytes]) } }
        /// `b·s_q·h_q·576`.
        var formula: String { dimensions.map(\.name).joined(separator: "·") }
    }

    /// A named dimension.
    struct Dimension: Equatable, Sendable {
        /// Its name in messages.
        var name: String
        /// Its extent.
        var value: Int
    }

    /// The default limit, 64 GiB: more than any configuration of FlashMLA's benchmark needs
    /// (a few GiB), less than the host memory of a GPU machine.
    static let defaultLimitGiB = 64

    /// The tensors.
    var tensors: [Tensor]

    /// The product of `values`, or nil when it overflows `Int`.
    static func product(_ values: [Int]) -> Int? {
        var result = 1
        for value in values {
            let (next, overflow) = result.multipliedReportingOverflow(by: value)
            if overflow { return nil }
            result = next
        }
        return result
    }

    /// `limitGiB` GiB in bytes, or nil when that overflows.
    static func bytes(gib limitGiB: Int) -> Int? { product([limitGiB, 1 << 30]) }

    /// The total bytes, when each tensor and the sum fit within `limitBytes`.
    /// - Parameter field: what the error names (the configuration, or a flag).
    /// - Throws: ``UsageError`` naming the first tensor whose size overflows or exceeds the limit
    ///   (`b·s_q·h_q·576 elements = … for q exceeds …`), or the total.
    func check(limitBytes: Int, field: String) throws(UsageError) -> Int {
        let limit = "at most \(ByteText.format(limitBytes)) of tensors (--memory-limit-gib)"
        var total = 0
        for tensor in tensors {
            guard let elements = tensor.elements, let bytes = tensor.bytes else {
                let values = tensor.dimensions.map { "\($0.value)" }.joined(separator: "·")
                throw UsageError(field, expected: limit,
                                 given: "\(tensor.formula) elements = \(values) for \(tensor.name), which overflows 64 bits")
            }
            guard bytes <= limitBytes else {
                throw UsageError(field, expected: limit, given: "\(tensor.formula) elements = \(elements) "
                    + "(\(ByteText.format(bytes))) for \(tensor.name), which exceeds it")
            }
            total += bytes  // both ≤ limitBytes ≤ Int.max / 2: cannot overflow
            guard total <= limitBytes else {
                let names = tensors.map(\.name).joined(separator: ", ")
                throw UsageError(field, expected: limit, given: "more in all (\(names))")
            }
        }
        return total
    }

    /// The tensors `flashmla bench` allocates for a configuration (see ``BenchInputs``): `q`,
    /// `kCache` of `b·⌈longest/256⌉·4` pages, the block table, `cache_seqlens`, `out` and `lse`.
    static func bench(_ config: BenchConfig, lengths: LengthSummary, elementBytes: Int) -> MemoryEstimate {
        let pagesPerRequest = BenchInputs.paddedLength(maxSeqlen: lengths.longest) / TileSchedule.blockSize
        return decode(config, pages: Dimension(name: "b·⌈longest/256⌉·4", value: config.b * pagesPerRequest),
                      tableColumns: pagesPerRequest, elementBytes: elementBytes)
    }

    /// The tensors `flashmla check` allocates for a configuration (see ``RandomProblem``): the
    /// same, with `Σ⌈length/64⌉ + 3` pages and a block table of up to `⌈longest/64⌉ + 2` columns.
    static func check(_ config: BenchConfig, lengths: LengthSummary, elementBytes: Int) -> MemoryEstimate {
        decode(config, pages: Dimension(name: "(Σ⌈length/64⌉+3)", value: lengths.pages + 3),
               tableColumns: LengthSummary.pages(lengths.longest) + 2, elementBytes: elementBytes)
    }

    /// The tensors a sparse configuration (`topk`) allocates in either command (see
    /// ``SparseProblem``): `q`; `kCache` of at most `64·Σ⌈length/64⌉ + b·(P−1) + P` token slots
    /// (each request's tokens on pages of `pageSize` P, and a spare page), each of 576 values in
    /// the input type or 656 bytes (fp8-ds); `indices`, `topkLength` (with `topk_length`), `out`, `lse`.
    static func sparse(_ config: BenchConfig, lengths: LengthSummary, elementBytes: Int, format: KVFormatChoice,
                       pageSize: Int) -> MemoryEstimate {
        let b = Dimension(name: "b", value: config.b), sQ = Dimension(name: "s_q", value: config.sQ)
        let hQ = Dimension(name: "h_q", value: config.hQ), topk = Dimension(name: "topk", value: config.topk ?? 0)
        let d = Dimension(name: "\(config.d)", value: config.d), dv = Dimension(name: "\(config.dv)", value: config.dv)
        // Within Int: pages ≤ 2³¹·2²⁶, b ≤ 2³¹ and pageSize ≤ 256.
        let slots = Dimension(name: "(64·Σ⌈length/64⌉+b·\(pageSize - 1)+\(pageSize))",
                              value: TileSchedule.blockSize * lengths.pages + lengths.count * (pageSize - 1) + pageSize)
        let token = format == .fp8DS ? [Dimension(name: "\(KVCacheFormat.deepSeekTokenBytes)", value: KVCacheFormat.deepSeekTokenBytes)]
                                     : [d]
        var tensors = [
            Tensor(name: "q", dimensions: [b, sQ, hQ, d], elementBytes: elementBytes),
            Tensor(name: "kCache", dimensions: [slots] + token, elementBytes: format == .fp8DS ? 1 : elementBytes),
            Tensor(name: "indices", dimensions: [b, sQ, topk], elementBytes: 4),
        ]
        if config.topkLength != nil { tensors.append(Tensor(name: "topkLength", dimensions: [b], elementBytes: 4)) }
        tensors += [
            Tensor(name: "out", dimensions: [b, sQ, hQ, dv], elementBytes: elementBytes),
            Tensor(name: "lse", dimensions: [b, hQ, sQ], elementBytes: 4),
        ]
        return MemoryEstimate(tensors: tensors)
    }

    private static func decode(_ config: BenchConfig, pages: Dimension, tableColumns: Int,
                               elementBytes: Int) -> MemoryEstimate {
        let b = Dimension(name: "b", value: config.b), sQ = Dimension(name: "s_q", value: config.sQ)
        let hQ = Dimension(name: "h_q", value: config.hQ), hKV = Dimension(name: "h_kv", value: config.hKV)
        let d = Dimension(name: "\(config.d)", value: config.d), dv = Dimension(name: "\(config.dv)", value: config.dv)
        return MemoryEstimate(tensors: [
            Tensor(name: "q", dimensions: [b, sQ, hQ, d], elementBytes: elementBytes),
            Tensor(name: "kCache", dimensions: [pages, Dimension(name: "64", value: TileSchedule.blockSize), hKV, d],
                   elementBytes: elementBytes),
            Tensor(name: "blockTable", dimensions: [b, Dimension(name: "columns", value: tableColumns)], elementBytes: 4),
            Tensor(name: "cacheSeqlens", dimensions: [b], elementBytes: 4),
            Tensor(name: "out", dimensions: [b, sQ, hQ, dv], elementBytes: elementBytes),
            Tensor(name: "lse", dimensions: [b, hQ, sQ], elementBytes: 4),
        ])
    }
}
