// HostProblemMemory: a validated problem's host memory as raw addresses and strides.
#if canImport(Glibc)
import Glibc
#endif

/// A validated problem's host memory as raw addresses and element strides: what the CPU
/// backend's inner loops read and write.
///
/// It maps a KV head's query rows to tensor elements: row `r` of KV head `g` is query
/// position `r / groupSize` (among the `s_q` new tokens) of query head
/// `g · groupSize + r % groupSize`, the order FlashMLA gives the rows of one KV head.
struct HostProblemMemory: @unchecked Sendable {
    /// The problem.
    let problem: DecodeProblem
    /// Each request's length, `cacheSeqlens`; for sparse decoding its scheduled length
    /// (``SparseIndices/scheduledLength(topkLength:extraTopkLength:)``: its count of index entries,
    /// `topkLength` or `topk`, and with an extra cache the padded main list and the extra entries).
    let seqlens: [Int]
    /// Sparse decoding: each request's count of main index entries (`topkLength`, or `topk`).
    let mainLengths: [Int]
    /// Sparse decoding with an extra cache: each request's count of extra entries
    /// (`extraTopkLength`, or `extra_topk`); nil without one.
    let extraLengths: [Int]?
    /// `attnSink`'s values, or nil.
    let attnSink: [Float]?
    private let q: UnsafeRawPointer
    private let kCache: UnsafeRawPointer
    private let blockTable: UnsafeRawPointer
    private let extraKCache: UnsafeRawPointer?
    private let extraIndices: UnsafeRawPointer?
    private let out: UnsafeMutableRawPointer
    private let lse: UnsafeMutableRawPointer

    /// Wraps `problem`, whose tensors must all be host memory.
    init(_ problem: DecodeProblem) {
        guard let q = problem.q.hostPointer, let kCache = problem.kCache.hostPointer,
              let blockTable = problem.blockTable.hostPointer, let out = problem.out.hostPointer,
              let lse = problem.lse.hostPointer, problem.cacheSeqlens.hostPointer != nil
        else { preconditionFailure("the CPU backend needs every tensor in host memory") }
        self.problem = problem
        self.q = UnsafeRawPointer(q)
        self.kCache = UnsafeRawPointer(kCache)
        self.blockTable = UnsafeRawPointer(blockTable)
        self.out = out
        self.lse = lse
        self.extraKCache = problem.sparse?.extraKCache?.hostPointer.map(UnsafeRawPointer.init)
        self.extraIndices = problem.sparse?.extraIndices?.hostPointer.map(UnsafeRawPointer.init)
        if let sparse = problem.sparse {
            func counts(_ lengths: TensorView?, cap: Int) -> [Int] {
                let values = lengths.map { Validation.hostInt32($0).map(Int.init) }
                    ?? Array(repeating: cap, count: problem.batchSize)
                return values.map { min(max($0, 0), cap) }
            }
            let main = counts(sparse.topkLength, cap: sparse.topk)
            let extra = sparse.hasExtraCache ? counts(sparse.extraTopkLength, cap: sparse.extraTopk) : nil
            mainLengths = main
            extraLengths = extra
            seqlens = main.indices.map { SparseIndices.scheduledLength(topkLength: main[$0], extraTopkLength: extra?[$0]) }
        } else {
            seqlens = Validation.hostInt32(problem.cacheSeqlens).map(Int.init)
            mainLengths = []
            extraLengths = nil
        }
        attnSink = problem.attnSink.map { HostElements($0).load() }
    }

    /// The query position (`0 ..< s_q`) and query head of row `row` of KV head `kvHead`.
    func queryRow(_ row: Int, kvHead: Int) -> (position: Int, head: Int) {
        let group = problem.groupSize
        return (row / group, kvHead * group + row % group)
    }

    /// How many keys of `request` row `row` sees: keys `0 ..< count` (``CausalMask``).
    func visibleKeyCount(row: Int, request: Int) -> Int {
        CausalMask.visibleKeyCount(seqlen: seqlens[request], queryLength: problem.queryLength,
                                   position: row / problem.groupSize, causal: problem.causal)
    }

    /// Writes the `rowsPerKVHead × 576` queries of `kvHead` of `request`, as `Float`, to
    /// `destination` (MODEL1's 512 values a query padded with 64 zeros, as its keys are).
    func loadQueries(request: Int, kvHead: Int, into destination: UnsafeMutablePointer<Float>) {
        let strides = problem.q.strides, dim = DecodeProblem.headDim, queryDim = problem.queryHeadDim
        for row in 0 ..< problem.rowsPerKVHead {
            let (position, head) = queryRow(row, kvHead: kvHead)
            let offset = request * strides[0] + position * strides[1] + head * strides[2]
            HalfPrecision.load(problem.elementType, from: q, offset: offset, count: queryDim,
                               into: destination + row * dim)
            for index in queryDim ..< dim { destination[row * dim + index] = 0 }
        }
    }

    /// Writes the 576 cached values of each token of `tokens` for `kvHead` of `request`, as
    /// `Float`, to `destination`, one token after the other. Token `t` is read from slot
    /// `t % P` of page `blockTable[t / P]` and dequantized as ``KVCacheFormat`` states
    /// (``CacheDequantizer``).
    func loadKeys(request: Int, tokens: Range<Int>, kvHead: Int, into destination: UnsafeMutablePointer<Float>) {
        let pageSize = problem.pageSize, dim = DecodeProblem.headDim
        let tableStrides = problem.blockTable.strides
        for (index, token) in tokens.enumerated() {
            let column = token / pageSize
            let block = Int(blockTable.load(fromByteOffset: (request * tableStrides[0] + column * tableStrides[1]) * 4,
                                            as: Int32.self))
            loadToken(page: block, slot: token % pageSize, kvHead: kvHead, into: destination + index * dim)
        }
    }

    /// Sparse decoding: writes the 576 values of each valid slot among positions `entries` of the
    /// sequence of query position `position` of `request`, one after the other, and returns how
    /// many it wrote. Position `p` is entry `p` of the main index list while `p` is below the main
    /// part (the request's count of main entries, or with an extra cache its padded positions,
    /// ``SparseIndices/mainBlockPositions(topkLength:)``), else entry `p − mainPart` of the extra
    /// list. An entry at or past its list's count, of `−1` or (defensively) outside its cache is skipped.
    func loadSparseKeys(request: Int, position: Int, entries: Range<Int>,
                        into destination: UnsafeMutablePointer<Float>) -> Int {
        guard let sparse = problem.sparse else { preconditionFailure("sparse keys of a dense problem") }
        let mainPart = extraLengths == nil ? mainLengths[request]
            : SparseIndices.mainBlockPositions(topkLength: mainLengths[request])
        var count = 0
        for entry in entries {
            let extra = entry >= mainPart
            let list = extra ? sparse.extraIndices! : sparse.indices, listBase = extra ? extraIndices! : blockTable
            let index = extra ? entry - mainPart : entry
            guard index < (extra ? extraLengths![request] : mainLengths[request]) else { continue }
            let strides = list.strides
            let slot = Int(listBase.load(fromByteOffset: (request * strides[0] + position * strides[1] + index * strides[2]) * 4,
                                         as: Int32.self))
            let cache = extra ? sparse.extraKCache! : problem.kCache
            let pageSize = cache.shape[1]
            guard slot >= 0, slot < cache.shape[0] * pageSize else { continue }
            loadToken(cache, base: extra ? extraKCache! : kCache, page: slot / pageSize, slot: slot % pageSize, kvHead: 0,
                      into: destination + count * DecodeProblem.headDim)
            count += 1
        }
        return count
    }

    /// Writes the 576 values of slot `slot` of page `page` for `kvHead`, dequantized as
    /// ``KVCacheFormat`` states (``CacheDequantizer``).
    private func loadToken(page: Int, slot: Int, kvHead: Int, into row: UnsafeMutablePointer<Float>) {
        loadToken(problem.kCache, base: kCache, page: page, slot: slot, kvHead: kvHead, into: row)
    }

    /// Writes the 576 values of slot `slot` of page `page` for `kvHead` of `cache` (the main or
    /// the extra cache, whose memory starts at `base`), dequantized as ``KVCacheFormat`` states
    /// (``CacheDequantizer``).
    private func loadToken(_ cache: TensorView, base: UnsafeRawPointer, page: Int, slot: Int, kvHead: Int,
                           into row: UnsafeMutablePointer<Float>) {
        let strides = cache.strides, elementBytes = cache.elementType.byteCount
        let offset = page * strides[0] + slot * strides[1] + kvHead * strides[2]
        switch problem.kvFormat {
        case .native:
            HalfPrecision.load(problem.elementType, from: base, offset: offset, count: DecodeProblem.headDim, into: row)
        case let .fp8PerTensor(scale):
            CacheDequantizer.perTensor(base + offset * elementBytes, scale: scale, into: row)
        case .fp8DeepSeek:
            CacheDequantizer.deepSeek(base + offset * elementBytes, roundingTo: problem.elementType, into: row)
        case .fp8Model1:
            CacheDequantizer.model1(page: base + page * strides[0] * elementBytes, slot: slot, pageSize: cache.shape[1],
                                    roundingTo: problem.elementType, into: row)
        }
    }

    /// Writes one final row: the 512 values of `values`, rounded to the output type, and `logSumExp`
    /// (`+∞` for a row that saw no key, whose values are 0). With an attention sink the values are
    /// first multiplied by `1 / (1 + exp(sink − logSumExp))`; `logSumExp` is written as it is.
    func storeFinalRow(request: Int, kvHead: Int, row: Int, values: UnsafePointer<Float>, logSumExp: Float) {
        let (position, head) = queryRow(row, kvHead: kvHead)
        let outStrides = problem.out.strides, lseStrides = problem.lse.strides
        let offset = request * outStrides[0] + position * outStrides[1] + head * outStrides[2]
        if let attnSink, logSumExp < .infinity {
            let width = DecodeProblem.headDimV
            let factor = 1 / (1 + Float(exp(Double(attnSink[head]) - Double(logSumExp))))
            let scaled = UnsafeMutablePointer<Float>.allocate(capacity: width)
            defer { scaled.deallocate() }
            for index in 0 ..< width { scaled[index] = values[index] * factor }
            HalfPrecision.store(scaled, count: width, as: problem.elementType, to: out, offset: offset)
        } else {
            HalfPrecision.store(values, count: DecodeProblem.headDimV, as: problem.elementType, to: out,
                                offset: offset)
        }
        let lseOffset = request * lseStrides[0] + head * lseStrides[1] + position * lseStrides[2]
        lse.storeBytes(of: logSumExp, toByteOffset: lseOffset * 4, as: Float.self)
    }
}
