// Tests of the sparse schedule: the host TileSchedule over index counts against a transcription of scheduler.cu.
import Testing
@testable import FlashMLA

/// The sparse GPU path emulated on the host, with no GPU: the device scheduler's algorithm
/// (a line-by-line transcription of `Kernels/scheduler.cu` with nullable lengths and a cap)
/// against ``TileSchedule``; the sparse kernel's grid, pieces and writes (`sm80/decode.cuh`
/// SPARSE, `combine.cu`) covering every output row exactly once; and the kernel's index → cache
/// address arithmetic against the CPU reference's.
@Suite struct SparseScheduleTests {
    /// `flashmla_get_metadata` in `scheduler.cu`, transcribed: `lengths` nil is the null pointer
    /// (every request `cap` long), each length clamped to `0 ... cap`; the standard slack unless
    /// `slack` and `slackDivisor` are given (the host passes a ``SchedulePolicy``'s).
    static func deviceSchedule(lengths: [Int32]?, batch: Int, parts: Int, fixed: Int, cap: Int,
                               slack: Int = SchedulePolicy.standard(rowsPerKVHead: 1).wholeRequestSlackBlocks,
                               slackDivisor: Int = SchedulePolicy.standardSlackDivisor) -> (sched: [Int32], numSplits: [Int32]) {
        func requestLength(_ i: Int) -> Int { lengths.map { min(max(Int($0[i]), 0), cap) } ?? cap }
        func requestCost(_ i: Int) -> Int { (requestLength(i) + 63) / 64 + fixed }
        func fitsWhole(_ capacity: Int) -> Bool {
            var workers = 1, load = 0
            for i in 0 ..< batch {
                let cost = requestCost(i)
                if cost > capacity { return false }
                if load + cost > capacity { workers += 1; load = cost } else { load += cost }
            }
            return workers <= parts
        }
        var total = 0, maxCost = 0
        for i in 0 ..< batch { total += requestCost(i); maxCost = max(maxCost, requestCost(i)) }
        let even = (total + parts - 1) / parts
        var payload = even + fixed
        var splits = true
        let limit = payload + min(slack, payload / slackDivisor)
        if batch > 0 && maxCost <= limit && fitsWhole(limit) {
            var low = max(maxCost, even), high = limit
            while low < high {
                let middle = (low + high) / 2
                if fitsWhole(middle) { high = middle } else { low = middle + 1 }
            }
            payload = high
            splits = false
        }
        var sched = [Int32](repeating: 0, count: parts * 8), numSplits = [Int32](repeating: 0, count: batch + 1)
        var req = 0, block = 0, split = 0, splitsSoFar = 0
        for part in 0 ..< parts {
            sched[part * 8 + 0] = Int32(req); sched[part * 8 + 1] = Int32(block * 64); sched[part * 8 + 4] = Int32(split)
            var remaining = payload
            while req < batch {
                let left = requestCost(req) - fixed - block
                if remaining >= left + fixed {
                    splitsSoFar += split + 1
                    numSplits[req + 1] = Int32(splitsSoFar)
                    remaining -= left + fixed
                    req += 1; block = 0; split = 0
                } else {
                    if splits && remaining - fixed > 0 { block += remaining - fixed; split += 1 }
                    break
                }
            }
            sched[part * 8 + 2] = Int32(block > 0 ? req : req - 1)
            sched[part * 8 + 3] = Int32(block > 0 ? block * 64 : (req > 0 ? requestLength(req - 1) : 0))
        }
        return (sched, numSplits)
    }

    /// Random sparse shapes: batch, s_q, h_q, topk, lengths (nil: topkLength absent).
    static func cases(count: Int, seed: UInt64) -> [(b: Int, sQ: Int, hQ: Int, topk: Int, lengths: [Int32]?)] {
        var generator = SeededGenerator(seed: seed)
        return (0 ..< count).map { _ in
            let b = Int.random(in: 1 ... 7, using: &generator), topk = Int.random(in: 1 ... 16384, using: &generator)
            let lengths: [Int32]? = Bool.random(using: &generator) ? nil : (0 ..< b).map { _ in
                Int32([0, topk, Int.random(in: 0 ... topk, using: &generator)].randomElement(using: &generator)!)
            }
            return (b, Int.random(in: 1 ... 2, using: &generator), [16, 24, 64, 100, 128].randomElement(using: &generator)!, topk, lengths)
        }
    }

    @Test("the device scheduler's sparse schedule equals TileSchedule's of the clamped lengths")
    func deviceEqualsHost() {
        for spec in Self.cases(count: 400, seed: 7) {
            let rows = spec.sQ * spec.hQ
            for multiprocessors in [132, 7] {
                let parts = TileSchedule.numSMParts(multiprocessors: multiprocessors, rowsPerKVHead: rows, kvHeads: 1)
                let device = Self.deviceSchedule(lengths: spec.lengths, batch: spec.b, parts: parts,
                                                 fixed: SchedulePolicy.standard(rowsPerKVHead: rows).fixedCostBlocks, cap: spec.topk)
                let host = TileSchedule(cacheSeqlens: spec.lengths ?? Array(repeating: Int32(spec.topk), count: spec.b),
                                        numSMParts: parts, rowsPerKVHead: rows)
                #expect(device.sched == host.int32Encoding, "\(spec)")
                #expect(device.numSplits == host.numSplits, "\(spec)")
            }
        }
    }

    /// A measured policy (``SchedulePolicy``, from a device's kernel table) reaches the device
    /// scheduler as three numbers; the transcription with them equals the host's schedule with
    /// the policy, and some policies change the schedule (the test would not see a policy ignored).
    @Test("the device scheduler with a measured policy equals TileSchedule's with it")
    func deviceEqualsHostWithPolicies() {
        var generator = SeededGenerator(seed: 19)
        var changed = 0
        for spec in Self.cases(count: 300, seed: 23) {
            let rows = spec.sQ * spec.hQ
            let policy = SchedulePolicy(fixedCostBlocks: Int.random(in: 0 ... 9, using: &generator),
                                        wholeRequestSlackBlocks: Int.random(in: 0 ... 60, using: &generator),
                                        wholeRequestSlackDivisor: Int.random(in: 1 ... 40, using: &generator))
            let parts = TileSchedule.numSMParts(multiprocessors: 9, rowsPerKVHead: rows, kvHeads: 1)
            let lengths = spec.lengths ?? Array(repeating: Int32(spec.topk), count: spec.b)
            let device = Self.deviceSchedule(lengths: spec.lengths, batch: spec.b, parts: parts, fixed: policy.fixedCostBlocks,
                                             cap: spec.topk, slack: policy.wholeRequestSlackBlocks,
                                             slackDivisor: policy.wholeRequestSlackDivisor)
            let host = TileSchedule(cacheSeqlens: lengths, numSMParts: parts, policy: policy)
            #expect(device.sched == host.int32Encoding, "\(spec) \(policy)")
            #expect(device.numSplits == host.numSplits, "\(spec) \(policy)")
            if host != TileSchedule(cacheSeqlens: lengths, numSMParts: parts, rowsPerKVHead: rows) { changed += 1 }
        }
        #expect(changed > 30)
    }

    /// Writes of one sparse decode as the kernels make them, from the device schedule: the decode
    /// grid (s_q·⌈g/BLOCK_M⌉, 1, parts) with `piece_of` (page_size 1, max_pages topk), single
    /// rows into out, partials into accumulator rows; then the combine over requests with more
    /// than one split, reading each partial row it merges.
    @Test("every sparse output row is written exactly once, every merged partial row once")
    func coverage() throws {
        for spec in Self.cases(count: 200, seed: 11) {
            let g = spec.hQ, rows = spec.sQ * g
            let parts = TileSchedule.numSMParts(multiprocessors: 132, rowsPerKVHead: rows, kvHeads: 1)
            let (sched, numSplits) = Self.deviceSchedule(lengths: spec.lengths, batch: spec.b, parts: parts,
                                                         fixed: SchedulePolicy.standard(rowsPerKVHead: rows).fixedCostBlocks, cap: spec.topk)
            for cache in [PortableCache.sparse, .sparseFP8DeepSeek] {
                let tile = try #require(DecodeTile.choose(rowsPerKVHead: g, sharedMemoryLimit: 232_448, cache: cache))
                let tilesPerToken = (g + tile.rows - 1) / tile.rows
                var outWrites = [Int](repeating: 0, count: spec.b * rows)
                var partialWrites: [Int: Int] = [:]
                for z in 0 ..< parts {
                    let beginReq = Int(sched[z * 8]), beginToken = Int(sched[z * 8 + 1])
                    let endReq = Int(sched[z * 8 + 2]), endToken = Int(sched[z * 8 + 3]), beginSplit = Int(sched[z * 8 + 4])
                    guard beginReq <= endReq else { continue }
                    for x in 0 ..< spec.sQ * tilesPerToken {
                        let qi = x / tilesPerToken, row0 = qi * g + (x % tilesPerToken) * tile.rows, rowEnd = qi * g + g
                        for req in beginReq ... endReq {
                            let seqlen = spec.lengths.map { min(max(Int($0[req]), 0), spec.topk) } ?? spec.topk
                            let start = req == beginReq ? beginToken : 0
                            let end = min(req == endReq ? endToken : seqlen, seqlen)
                            #expect(start % 64 == 0 && (start <= end || end == seqlen))
                            let split = req == beginReq ? beginSplit : 0
                            let single = numSplits[req + 1] - numSplits[req] == 1
                            for r in row0 ..< min(row0 + tile.rows, rowEnd) {
                                if single { outWrites[req * rows + r] += 1 } else {
                                    partialWrites[(Int(numSplits[req]) + split) * rows + r, default: 0] += 1
                                }
                            }
                        }
                    }
                }
                for req in 0 ..< spec.b where numSplits[req + 1] - numSplits[req] > 1 {
                    for r in 0 ..< rows {
                        for s in Int(numSplits[req]) ..< Int(numSplits[req + 1]) {
                            #expect(partialWrites[s * rows + r] == 1, "split \(s) row \(r) of request \(req), \(spec)")
                        }
                        outWrites[req * rows + r] += 1
                    }
                }
                #expect(outWrites.allSatisfy { $0 == 1 }, "\(cache) \(spec): rows written \(Set(outWrites))")
                #expect(partialWrites.values.allSatisfy { $0 == 1 })
                #expect(Int(numSplits[spec.b]) <= spec.b + parts, "the workspace holds b + parts splits")
            }
        }
    }

    /// `load_page`'s SPARSE address of index `idx` (`sm80/decode.cuh`): page `idx / P` at the page
    /// stride, then slot `idx − page·P` at the token stride in 32 bits, bytes throughout.
    static func kernelAddress(index idx: Int32, slots: Int, pageSize: Int, pageBytes: Int, tokenBytes: Int, headBytes: Int) -> Int? {
        guard UInt32(bitPattern: idx) < UInt32(slots) else { return nil }
        let id = Int(idx) / pageSize
        let inPage = UInt32(truncatingIfNeeded: (Int(idx) - id * pageSize)) &* UInt32(truncatingIfNeeded: tokenBytes)
            &+ UInt32(0) &* UInt32(truncatingIfNeeded: headBytes)   // kvh = 0: sparse caches have one KV head
        return id * pageBytes + Int(inPage)
    }

    @Test("the kernel's index → token address equals the CPU reference's (native and FP8-DS caches)")
    func indexAddressing() {
        var generator = SeededGenerator(seed: 3)
        for _ in 0 ..< 200 {
            let pageSize = [1, 2, 61, 64, 256].randomElement(using: &generator)!, pages = Int.random(in: 1 ... 50, using: &generator)
            let tokenBytes = Bool.random(using: &generator) ? 656 : 1152
            let view = TensorView(elementType: .uint8, shape: [pages, pageSize, 1, tokenBytes], storage: .device(ordinal: 0, address: 0))
            let strides = view.strides, slots = pages * pageSize
            for _ in 0 ..< 50 {
                let idx = Int32.random(in: -3 ... Int32(slots + 3), using: &generator)
                let kernel = Self.kernelAddress(index: idx, slots: slots, pageSize: pageSize, pageBytes: strides[0],
                                                tokenBytes: strides[1], headBytes: strides[2])
                // HostProblemMemory.loadSparseKeys / loadToken: page slot / P, slot slot % P, KV head 0.
                let reference: Int? = idx >= 0 && Int(idx) < slots
                    ? (Int(idx) / pageSize) * strides[0] + (Int(idx) % pageSize) * strides[1] : nil
                #expect(kernel == reference, "index \(idx) of \(pages)x\(pageSize)")
                if let kernel { #expect(kernel % 16 == 0 && kernel + tokenBytes <= pages * pageSize * tokenBytes) }
            }
        }
    }
}
