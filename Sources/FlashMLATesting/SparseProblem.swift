// SparseProblem: the host inputs of one sparse decode (DeepSeek-V3.2 index lists), drawn the way FlashMLA's tests draw them, and its Float64 reference rows.
import Dispatch
import FlashMLA

/// The shape of one sparse decode problem (FlashMLA's `indices` mode): `b` requests with
/// `cacheSeqlens[i]` tokens each in a paged cache of one KV head, `s_q` query tokens of `h_q`
/// heads, each attending to `topk` of its request's tokens.
public struct SparseProblemConfig: Sendable, Equatable, CustomStringConvertible {
    /// The tokens each request holds in the cache, `b` entries (the index lists draw from them).
    public var cacheSeqlens: [Int32]
    /// Query tokens per request, `s_q`.
    public var queryLength: Int
    /// Query heads, `h_q`.
    public var queryHeads: Int
    /// Entries per index list, `topk`.
    public var topk: Int
    /// FlashMLA's `topk_length` (`b` entries, each 0…topk), or nil: every list counts all `topk` entries.
    public var topkLength: [Int32]?
    /// The chance that an entry is `−1` (beyond the `−1` padding of a request with fewer than `topk` tokens).
    public var invalidFraction: Double
    /// The type of `q`, `out` and a native cache.
    public var elementType: ElementType
    /// Tokens a cache page (1…256).
    public var pageSize: Int
    /// The cache's layout: ``KVFormatChoice/native``, ``KVFormatChoice/fp8DS`` or ``KVFormatChoice/model1``.
    public var kvFormat: KVFormatChoice
    /// Entries per extra index list, `extra_topk` (MODEL1 only); 0: no extra cache. The extra cache
    /// holds, like the main one, `cacheSeqlens[i]` tokens of request `i` on its own shuffled pages.
    public var extraTopk: Int
    /// FlashMLA's `extra_topk_length` (`b` entries, each 0…extra_topk), or nil: every extra list counts all.
    public var extraTopkLength: [Int32]?
    /// Tokens a page of the extra cache (1…256).
    public var extraPageSize: Int

    /// A shape; pages of 64 tokens in the input type, no `topk_length`, no `−1` entries and no
    /// extra cache unless given.
    public init(cacheSeqlens: [Int32], queryLength: Int, queryHeads: Int, topk: Int, topkLength: [Int32]? = nil,
                invalidFraction: Double = 0, elementType: ElementType, pageSize: Int = TileSchedule.blockSize,
                kvFormat: KVFormatChoice = .native, extraTopk: Int = 0, extraTopkLength: [Int32]? = nil,
                extraPageSize: Int = TileSchedule.blockSize) {
        self.cacheSeqlens = cacheSeqlens
        self.queryLength = queryLength
        self.queryHeads = queryHeads
        self.topk = topk
        self.topkLength = topkLength
        self.invalidFraction = invalidFraction
        self.elementType = elementType
        self.pageSize = pageSize
        self.kvFormat = kvFormat
        self.extraTopk = extraTopk
        self.extraTopkLength = extraTopkLength
        self.extraPageSize = extraPageSize
    }

    /// Requests, `b`.
    public var batchSize: Int { cacheSeqlens.count }

    /// The leading entries of request `request`'s lists that count: `topkLength[request]`, or `topk`.
    public func countedEntries(request: Int) -> Int { topkLength.map { Int($0[request]) } ?? topk }

    /// The leading entries of request `request`'s extra lists that count: `extraTopkLength[request]`,
    /// or `extraTopk` (0 without an extra cache).
    public func countedExtraEntries(request: Int) -> Int { extraTopkLength.map { Int($0[request]) } ?? extraTopk }

    /// Index entries attended over the whole call, FlashMLA's `N` for FLOPs: `s_q · Σ counted entries`
    /// of both lists (`−1` entries included, as FlashMLA counts them).
    public var attendedEntries: Int {
        queryLength * (0..<batchSize).reduce(0) { $0 + countedEntries(request: $1) + countedExtraEntries(request: $1) }
    }

    /// The head dimension of `q`: 512 for MODEL1, else 576.
    public var queryHeadDim: Int { kvFormat == .model1 ? Model1Layout.headDim : DecodeProblem.headDim }

    /// `sparse b=… s_q=… h_q=… topk=… type [page=…] [kv=fp8-ds] [topk_length] [invalid=…] seqlens=…`.
    public var description: String {
        let lengths = cacheSeqlens.count <= 6 ? "\(cacheSeqlens)"
            : "[\(cacheSeqlens.prefix(3).map(String.init).joined(separator: ", ")), … Σ=\(cacheSeqlens.reduce(0) { $0 + Int($1) })]"
        return "sparse b=\(batchSize) s_q=\(queryLength) h_q=\(queryHeads) topk=\(topk) \(elementType)"
            + (pageSize == TileSchedule.blockSize ? "" : " page=\(pageSize)")
            + (kvFormat == .native ? "" : " kv=\(kvFormat.rawValue)")
            + (topkLength == nil ? "" : " topk_length")
            + (extraTopk == 0 ? "" : " extra_topk=\(extraTopk) extra_page=\(extraPageSize)" + (extraTopkLength == nil ? "" : " extra_topk_length"))
            + (invalidFraction > 0 ? " invalid=\(invalidFraction)" : "")
            + " seqlens=\(lengths)"
    }
}

/// Host inputs of one sparse decode, drawn as FlashMLA's tests draw them (`tests/lib.py`): each
/// request's tokens on pages handed out in shuffled order (one spare page no request uses); for
/// each query token `topk` distinct random tokens of its own request, in random order, as
/// absolute slots `page · P + offset` (`−1` pads a request with fewer tokens, and replaces an
/// entry with probability `invalidFraction`); random values only in the slots a counted entry
/// reaches, NaN (all bits set) in every other slot, so a kernel that reads any other slot
/// shows it. An FP8 cache holds the 656-byte tokens ``FP8Quantizer`` makes from random values, a
/// MODEL1 cache the page-grouped tokens ``Model1Quantizer`` makes (its pages padded as that
/// quantizer pads them, the padding NaN too). With `extraTopk > 0` an extra cache and its lists
/// are drawn the same way, after the main ones (so the main draw does not change).
///
/// `@unchecked Sendable`: the tensors are written only while the initializer runs.
public final class SparseProblem: @unchecked Sendable {
    /// The shape drawn.
    public let config: SparseProblemConfig
    /// `[b, s_q, h_q, 576]` (MODEL1: 512) in the element type.
    public let q: Tensor
    /// `[numPages, P, 1, 576]` in the element type, uint8 `[numPages, P, 1, 656]` for FP8, or uint8
    /// `[numPages, P, 1, 584]` with padded pages for MODEL1.
    public let kCache: Tensor
    /// The format to pass with `kCache`.
    public let kvFormat: KVCacheFormat
    /// Int32 `[b, s_q, topk]`: absolute cache slots, `−1` invalid.
    public let indices: Tensor
    /// Int32 `[b]` when the shape has `topkLength`.
    public let topkLength: Tensor?
    /// Pages in the cache.
    public let numPages: Int
    /// Distinct cache slots the counted entries reach, of both caches: the tokens one call must read.
    public let uniqueTokens: Int
    /// The extra cache (uint8 `[extraNumPages, extraPageSize, 1, 584]`, MODEL1), or nil.
    public let extraKCache: Tensor?
    /// Int32 `[b, s_q, extraTopk]`: slots of the extra cache, `−1` invalid; nil without one.
    public let extraIndices: Tensor?
    /// Int32 `[b]` when the shape has `extraTopkLength`.
    public let extraTopkLength: Tensor?
    /// Pages in the extra cache (0 without one).
    public let extraNumPages: Int

    /// The sparse selection to pass with `kCache`: views of this problem's tensors (keep the problem
    /// alive while they are used).
    public var sparseIndices: SparseIndices {
        SparseIndices(indices: indices.view, topkLength: topkLength?.view, extraKCache: extraKCache?.view,
                      extraIndices: extraIndices?.view, extraTopkLength: extraTopkLength?.view)
    }

    /// Draws the problem of `config` from `seed`. Precondition: `kvFormat` is native, fp8-ds or
    /// model1, each `topkLength` in 0…topk, an extra cache only with model1.
    public init(_ config: SparseProblemConfig, seed: UInt64) {
        precondition(config.kvFormat != .fp8, "sparse decoding reads native, fp8-ds or model1 caches")
        precondition(config.extraTopk == 0 || config.kvFormat == .model1, "an extra cache needs the model1 format")
        self.config = config
        var rng = InputRandom(seed: seed)
        let main = Self.drawLists(config, pageSize: config.pageSize, topk: config.topk,
                                  counted: config.countedEntries(request:), rng: &rng)
        indices = main.indices
        numPages = main.numPages
        topkLength = config.topkLength.map { Tensor($0, shape: [config.batchSize]) }

        let dim = config.queryHeadDim
        q = Tensor(hostElementType: config.elementType, shape: [config.batchSize, config.queryLength, config.queryHeads, dim])
        RandomProblem.fill(q.view, seed: rng.next()) { _ in true }
        kvFormat = config.kvFormat == .fp8DS ? .fp8DeepSeek : config.kvFormat == .model1 ? .fp8Model1 : .native
        kCache = Self.makeCache(kvFormat, elementType: config.elementType, numPages: numPages, pageSize: config.pageSize,
                                reached: main.reached, seed: rng.next())
        if config.extraTopk > 0 {
            let extra = Self.drawLists(config, pageSize: config.extraPageSize, topk: config.extraTopk,
                                       counted: config.countedExtraEntries(request:), rng: &rng)
            extraIndices = extra.indices
            extraNumPages = extra.numPages
            extraTopkLength = config.extraTopkLength.map { Tensor($0, shape: [config.batchSize]) }
            extraKCache = Self.makeCache(kvFormat, elementType: config.elementType, numPages: extra.numPages,
                                         pageSize: config.extraPageSize, reached: extra.reached, seed: rng.next())
            uniqueTokens = main.reached.count + extra.reached.count
        } else {
            (extraIndices, extraNumPages, extraTopkLength, extraKCache) = (nil, 0, nil, nil)
            uniqueTokens = main.reached.count
        }
    }

    /// The lists of one cache: each request's `cacheSeqlens[i]` tokens on shuffled pages of
    /// `pageSize` (one spare), for each query token `topk` distinct tokens of its request as slots
    /// (`−1` padding and invalid entries as the config says), and the slots the first `counted(i)`
    /// entries reach, ascending.
    private static func drawLists(_ config: SparseProblemConfig, pageSize page: Int, topk: Int,
                                  counted: (Int) -> Int, rng: inout InputRandom) -> (indices: Tensor, numPages: Int, reached: [Int]) {
        let b = config.batchSize, sQ = config.queryLength
        let pagesPerRequest = config.cacheSeqlens.map { (Int($0) + page - 1) / page }
        let numPages = pagesPerRequest.reduce(0, +) + 1
        var order = Array(0..<numPages)
        order.shuffle(using: &rng)
        var firstPage = [Int](repeating: 0, count: b)
        for request in 1..<max(b, 1) { firstPage[request] = firstPage[request - 1] + pagesPerRequest[request - 1] }

        // Each list: distinct tokens of its request (Floyd's sampling), shuffled, as slots.
        let entries = Tensor(hostElementType: .int32, shape: [b, sQ, topk])
        nonisolated(unsafe) let list = entries.view.hostPointer!.assumingMemoryBound(to: Int32.self)
        let listSeed = rng.next(), lengths = config.cacheSeqlens, pages = order, starts = firstPage
        let invalidFraction = config.invalidFraction
        DispatchQueue.concurrentPerform(iterations: b * sQ) { row in
            var local = InputRandom(seed: listSeed &+ UInt64(row) &* 0x9E37_79B9_7F4A_7C15)
            let request = row / sQ, length = Int(lengths[request]), count = min(topk, length)
            var chosen = Set<Int>(minimumCapacity: count), drawn = [Int]()
            drawn.reserveCapacity(count)
            for bound in length - count ..< length {
                let token = Int.random(in: 0...bound, using: &local)
                let pick = chosen.contains(token) ? bound : token
                chosen.insert(pick)
                drawn.append(pick)
            }
            drawn.shuffle(using: &local)
            let target = list + row * topk
            for entry in 0..<topk {
                guard entry < count, !(invalidFraction > 0 && Double.random(in: 0..<1, using: &local) < invalidFraction) else {
                    target[entry] = -1
                    continue
                }
                let token = drawn[entry]
                target[entry] = Int32(pages[starts[request] + token / page] * page + token % page)
            }
        }

        // The slots counted entries reach.
        var reached = [Bool](repeating: false, count: numPages * page)
        for row in 0..<b * sQ {
            for entry in 0..<counted(row / sQ) where list[row * topk + entry] >= 0 {
                reached[Int(list[row * topk + entry])] = true
            }
        }
        return (entries, numPages, reached.indices.filter { reached[$0] })
    }

    /// A cache in `format` of `numPages` pages of `pageSize`: every byte set (NaN in every type),
    /// then random values in the `reached` slots (MODEL1: 512 a token, quantized into its page).
    private static func makeCache(_ format: KVCacheFormat, elementType: ElementType, numPages: Int, pageSize page: Int,
                                  reached reachedSlots: [Int], seed: UInt64) -> Tensor {
        let slots = numPages * page
        let cache: Tensor
        switch format {
        case .fp8DeepSeek: cache = Tensor(hostElementType: .uint8, shape: [numPages, page, 1, KVCacheFormat.deepSeekTokenBytes])
        case .fp8Model1:
            let pageBytes = Model1Layout.paddedPageBytes(pageSize: page)
            let storage = Tensor(hostElementType: .uint8, shape: [numPages * pageBytes])
            cache = Tensor(view: TensorView(elementType: .uint8, shape: [numPages, page, 1, Model1Layout.tokenBytes],
                                            strides: [pageBytes, Model1Layout.tokenBytes, Model1Layout.tokenBytes, 1],
                                            storage: storage.view.storage), owner: storage)
        default: cache = Tensor(hostElementType: elementType, shape: [numPages, page, 1, DecodeProblem.headDim])
        }
        let bytes = cache.view.hostPointer!
        let totalBytes = format == .fp8Model1 ? numPages * cache.view.strides[0] : slots * format.bytesPerToken(queryType: elementType)
        bytes.initializeMemory(as: UInt8.self, repeating: 0xFF, count: totalBytes)   // NaN in every type
        let elements = HostElements(cache), chunk = 1024
        let tokenBytes = format.bytesPerToken(queryType: elementType), pageStride = cache.view.strides[0]
        let width = format == .fp8Model1 ? Model1Layout.headDim : DecodeProblem.headDim
        nonisolated(unsafe) let raw = bytes
        DispatchQueue.concurrentPerform(iterations: (reachedSlots.count + chunk - 1) / chunk) { task in
            var local = InputRandom(seed: seed &+ UInt64(task) &* 0xD1B5_4A32_D192_ED03)
            var values = [Float](repeating: 0, count: width)
            for slot in reachedSlots[task * chunk ..< min(reachedSlots.count, (task + 1) * chunk)] {
                for i in values.indices { values[i] = local.normalish() }
                switch format {
                case .fp8DeepSeek:
                    FP8Quantizer.encodeDeepSeekToken(values, into: raw + slot * tokenBytes)
                case .fp8Model1:
                    Model1Quantizer.encodeToken(values, slot: slot % page, pageSize: page, page: raw + (slot / page) * pageStride)
                default:
                    for i in values.indices { elements[offset: slot * DecodeProblem.headDim + i] = values[i] }
                }
            }
        }
        return cache
    }

    /// The counted entries of query token `qi` of `request` that are not `−1`: the slots it attends to.
    public func attendedSlots(request: Int, qi: Int) -> [Int] {
        Self.validSlots(indices, request: request, qi: qi, count: config.countedEntries(request: request))
    }

    /// The counted entries of query token `qi`'s extra list that are not `−1` (empty without an extra cache).
    public func attendedExtraSlots(request: Int, qi: Int) -> [Int] {
        guard let extraIndices else { return [] }
        return Self.validSlots(extraIndices, request: request, qi: qi, count: config.countedExtraEntries(request: request))
    }

    private static func validSlots(_ lists: Tensor, request: Int, qi: Int, count: Int) -> [Int] {
        let list = HostElements(lists), base = list.offset([request, qi, 0])
        return (0..<count).compactMap { entry in
            let slot = list.int32(offset: base + entry)
            return slot >= 0 ? Int(slot) : nil
        }
    }

    /// The Float64 reference (``ReferenceAttention/attention(query:keyCount:softmaxScale:loadKey:)``)
    /// of query token `qi`, head `head` of `request`, over the values the cache stands for (an FP8
    /// token decoded by ``FP8Reference``, independently of the library's readers): the main list's
    /// slots, then the extra list's, in one softmax (MODEL1: `q` and each key padded to 576 with zeros,
    /// so scores are over the 512 values and the output is the whole key, RoPE included).
    public func referenceRow(request: Int, qi: Int, head: Int, softmaxScale: Double) -> (out: [Double], lse: Double) {
        let d = DecodeProblem.headDim, queryDim = config.queryHeadDim
        let q = HostElements(self.q), base = q.offset([request, qi, head, 0])
        let query = (0..<d).map { $0 < queryDim ? Double(q[offset: base + $0]) : 0 }
        let mainSlots = attendedSlots(request: request, qi: qi)
        let keys = mainSlots.map { (kCache, $0) } + attendedExtraSlots(request: request, qi: qi).map { (extraKCache!, $0) }
        var decoded = [Float](repeating: 0, count: d)
        let type = config.elementType, format = kvFormat
        return ReferenceAttention.attention(query: query, keyCount: keys.count, softmaxScale: softmaxScale) { n, key in
            let (cache, slot) = keys[n]
            let raw = UnsafeRawPointer(cache.view.hostPointer!)
            switch format {
            case .fp8DeepSeek, .fp8Model1:
                decoded.withUnsafeMutableBufferPointer { row in
                    if format == .fp8DeepSeek {
                        FP8Reference.decodeDeepSeekToken(raw + slot * KVCacheFormat.deepSeekTokenBytes,
                                                         into: row.baseAddress!, roundingTo: type)
                    } else {
                        let page = cache.shape[1]
                        FP8Reference.decodeModel1Token(page: raw + (slot / page) * cache.view.strides[0], slot: slot % page,
                                                       pageSize: page, into: row.baseAddress!, roundingTo: type)
                        for i in Model1Layout.headDim ..< d { row[i] = 0 }
                    }
                }
                for i in 0..<d { key[i] = Double(decoded[i]) }
            default:
                let elements = HostElements(cache)
                for i in 0..<d { key[i] = Double(elements[offset: slot * d + i]) }
            }
        }
    }
}
