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
    /// The cache's layout: ``KVFormatChoice/native`` or ``KVFormatChoice/fp8DS``.
    public var kvFormat: KVFormatChoice

    /// A shape; pages of 64 tokens in the input type, no `topk_length` and no `−1` entries unless given.
    public init(cacheSeqlens: [Int32], queryLength: Int, queryHeads: Int, topk: Int, topkLength: [Int32]? = nil,
                invalidFraction: Double = 0, elementType: ElementType, pageSize: Int = TileSchedule.blockSize,
                kvFormat: KVFormatChoice = .native) {
        self.cacheSeqlens = cacheSeqlens
        self.queryLength = queryLength
        self.queryHeads = queryHeads
        self.topk = topk
        self.topkLength = topkLength
        self.invalidFraction = invalidFraction
        self.elementType = elementType
        self.pageSize = pageSize
        self.kvFormat = kvFormat
    }

    /// Requests, `b`.
    public var batchSize: Int { cacheSeqlens.count }

    /// The leading entries of request `request`'s lists that count: `topkLength[request]`, or `topk`.
    public func countedEntries(request: Int) -> Int { topkLength.map { Int($0[request]) } ?? topk }

    /// Index entries attended over the whole call, FlashMLA's `N` for FLOPs: `s_q · Σ counted entries`
    /// (`−1` entries included, as FlashMLA counts them).
    public var attendedEntries: Int {
        queryLength * (0..<batchSize).reduce(0) { $0 + countedEntries(request: $1) }
    }

    /// `sparse b=… s_q=… h_q=… topk=… type [page=…] [kv=fp8-ds] [topk_length] [invalid=…] seqlens=…`.
    public var description: String {
        let lengths = cacheSeqlens.count <= 6 ? "\(cacheSeqlens)"
            : "[\(cacheSeqlens.prefix(3).map(String.init).joined(separator: ", ")), … Σ=\(cacheSeqlens.reduce(0) { $0 + Int($1) })]"
        return "sparse b=\(batchSize) s_q=\(queryLength) h_q=\(queryHeads) topk=\(topk) \(elementType)"
            + (pageSize == TileSchedule.blockSize ? "" : " page=\(pageSize)")
            + (kvFormat == .native ? "" : " kv=\(kvFormat.rawValue)")
            + (topkLength == nil ? "" : " topk_length") + (invalidFraction > 0 ? " invalid=\(invalidFraction)" : "")
            + " seqlens=\(lengths)"
    }
}

/// Host inputs of one sparse decode, drawn as FlashMLA's tests draw them (`tests/lib.py`): each
/// request's tokens on pages handed out in shuffled order (one spare page no request uses); for
/// each query token `topk` distinct random tokens of its own request, in random order, as
/// absolute slots `page · P + offset` (`−1` pads a request with fewer tokens, and replaces an
/// entry with probability `invalidFraction`); random values only in the slots a counted entry
/// reaches, NaN (all bits set) in every other slot, so a kernel that reads any other slot
/// shows it. An FP8 cache holds the 656-byte tokens ``FP8Quantizer`` makes from random values.
///
/// `@unchecked Sendable`: the tensors are written only while the initializer runs.
public final class SparseProblem: @unchecked Sendable {
    /// The shape drawn.
    public let config: SparseProblemConfig
    /// `[b, s_q, h_q, 576]` in the element type.
    public let q: Tensor
    /// `[numPages, P, 1, 576]` in the element type, or uint8 `[numPages, P, 1, 656]` for FP8.
    public let kCache: Tensor
    /// The format to pass with `kCache`.
    public let kvFormat: KVCacheFormat
    /// Int32 `[b, s_q, topk]`: absolute cache slots, `−1` invalid.
    public let indices: Tensor
    /// Int32 `[b]` when the shape has `topkLength`.
    public let topkLength: Tensor?
    /// Pages in the cache.
    public let numPages: Int
    /// Distinct cache slots the counted entries reach: the tokens one call must read.
    public let uniqueTokens: Int

    /// Draws the problem of `config` from `seed`. Precondition: `kvFormat` is native or fp8-ds,
    /// each `topkLength` in 0…topk.
    public init(_ config: SparseProblemConfig, seed: UInt64) {
        precondition(config.kvFormat != .fp8, "sparse decoding reads native or fp8-ds caches")
        self.config = config
        var rng = InputRandom(seed: seed)
        let page = config.pageSize, b = config.batchSize, sQ = config.queryLength, topk = config.topk
        let pagesPerRequest = config.cacheSeqlens.map { (Int($0) + page - 1) / page }
        numPages = pagesPerRequest.reduce(0, +) + 1
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
        indices = entries
        topkLength = config.topkLength.map { Tensor($0, shape: [b]) }

        // The slots counted entries reach.
        let slots = numPages * page
        var reached = [Bool](repeating: false, count: slots)
        for row in 0..<b * sQ {
            for entry in 0..<config.countedEntries(request: row / sQ) where list[row * topk + entry] >= 0 {
                reached[Int(list[row * topk + entry])] = true
            }
        }
        let reachedSlots = reached.indices.filter { reached[$0] }
        uniqueTokens = reachedSlots.count

        q = Tensor(hostElementType: config.elementType, shape: [b, sQ, config.queryHeads, DecodeProblem.headDim])
        RandomProblem.fill(q.view, seed: rng.next()) { _ in true }
        let fp8 = config.kvFormat == .fp8DS
        kvFormat = fp8 ? .fp8DeepSeek : .native
        let tokenBytes = kvFormat.bytesPerToken(queryType: config.elementType)
        kCache = fp8 ? Tensor(hostElementType: .uint8, shape: [numPages, page, 1, KVCacheFormat.deepSeekTokenBytes])
                     : Tensor(hostElementType: config.elementType, shape: [numPages, page, 1, DecodeProblem.headDim])
        let bytes = kCache.view.hostPointer!
        bytes.initializeMemory(as: UInt8.self, repeating: 0xFF, count: slots * tokenBytes)   // NaN in every type
        let cache = HostElements(kCache), valueSeed = rng.next(), chunk = 1024
        nonisolated(unsafe) let raw = bytes
        DispatchQueue.concurrentPerform(iterations: (reachedSlots.count + chunk - 1) / chunk) { task in
            var local = InputRandom(seed: valueSeed &+ UInt64(task) &* 0xD1B5_4A32_D192_ED03)
            var values = [Float](repeating: 0, count: DecodeProblem.headDim)
            for slot in reachedSlots[task * chunk ..< min(reachedSlots.count, (task + 1) * chunk)] {
                for i in values.indices { values[i] = local.normalish() }
                if fp8 {
                    FP8Quantizer.encodeDeepSeekToken(values, into: raw + slot * tokenBytes)
                } else {
                    for i in values.indices { cache[offset: slot * DecodeProblem.headDim + i] = values[i] }
                }
            }
        }
    }

    /// The counted entries of query token `qi` of `request` that are not `−1`: the slots it attends to.
    public func attendedSlots(request: Int, qi: Int) -> [Int] {
        let list = HostElements(indices), base = list.offset([request, qi, 0])
        return (0..<config.countedEntries(request: request)).compactMap { entry in
            let slot = list.int32(offset: base + entry)
            return slot >= 0 ? Int(slot) : nil
        }
    }

    /// The Float64 reference (``ReferenceAttention/attention(query:keyCount:softmaxScale:loadKey:)``)
    /// of query token `qi`, head `head` of `request`, over the values the cache stands for (an FP8
    /// token decoded by ``FP8Reference``, independently of the library's readers).
    public func referenceRow(request: Int, qi: Int, head: Int, softmaxScale: Double) -> (out: [Double], lse: Double) {
        let d = DecodeProblem.headDim
        let q = HostElements(self.q), base = q.offset([request, qi, head, 0])
        let query = (0..<d).map { Double(q[offset: base + $0]) }
        let slots = attendedSlots(request: request, qi: qi)
        let cache = HostElements(kCache), raw = UnsafeRawPointer(kCache.view.hostPointer!)
        var decoded = [Float](repeating: 0, count: d)
        let type = config.elementType, fp8 = kvFormat == .fp8DeepSeek
        return ReferenceAttention.attention(query: query, keyCount: slots.count, softmaxScale: softmaxScale) { n, key in
            if fp8 {
                decoded.withUnsafeMutableBufferPointer { row in
                    FP8Reference.decodeDeepSeekToken(raw + slots[n] * KVCacheFormat.deepSeekTokenBytes,
                                                     into: row.baseAddress!, roundingTo: type)
                }
                for i in 0..<d { key[i] = Double(decoded[i]) }
            } else {
                for i in 0..<d { key[i] = Double(cache[offset: slots[n] * d + i]) }
            }
        }
    }
}
