// Tests of TileSchedule.
import Testing
@testable import FlashMLA

/// The split-KV tile schedule: hand-computed examples and invariants on random batches.
@Suite struct TileScheduleTests {
    /// lengths [640, 192, 0, 100], 2 parts, 128 rows a KV head (fixed cost 5):
    /// costs (blocks + 5) [15, 8, 5, 7], total 35; FlashMLA's payload ⌈35/2⌉ + 5 = 23, and the
    /// slack min(12, 23/32) = 0, so whole requests are tried up to capacity 23. They fit at 23
    /// (15 + 8 | 5 + 7); the smallest capacity that fits them is 20 (15 | 8 + 5 + 7; at 19 a
    /// third worker is needed).
    /// Part 0 (20): request 0 costs 15 → 5 left; request 1 costs 8 > 5 → stop, not split.
    /// Part 1 (20): requests 1, 2, 3 cost 8 + 5 + 7 = 20. No request is split.
    /// (FlashMLA's walk at 23 would give parts of 23 and 12.)
    @Test func handComputedWholeRequests() {
        let lengths: [Int32] = [640, 192, 0, 100]
        let schedule = TileSchedule(cacheSeqlens: lengths, numSMParts: 2, rowsPerKVHead: 128)
        #expect(schedule.parts == [
            .init(beginRequest: 0, beginToken: 0, endRequest: 0, endToken: 640, beginSplit: 0),
            .init(beginRequest: 1, beginToken: 0, endRequest: 3, endToken: 100, beginSplit: 0),
        ])
        #expect(schedule.numSplits == [0, 1, 2, 3, 4])
    }

    /// lengths [1280, 192, 0, 100], 3 parts, 64 rows a KV head (fixed cost 2):
    /// costs [22, 5, 2, 4], total 33; payload ⌈33/3⌉ + 2 = 13, slack min(12, 13/32) = 0.
    /// Request 0 alone (22) exceeds 13, so requests are cut.
    /// Part 0 (13): request 0 costs 22 > 13, so after its fixed 2 it takes 11 blocks
    ///   (tokens 0..<704) as split 0. Part (0, 0, 0, 704, split 0).
    /// Part 1 (13): the rest of request 0 costs 9 blocks + 2 = 11 → 2 left (request 0 has
    ///   2 splits: numSplits[1] = 2); request 1 costs 5 > 2, and 2 − 2 = 0 blocks would fit →
    ///   stop. Part (0, 704, 0, 1280, split 1).
    /// Part 2 (13): requests 1, 2, 3 cost 5 + 2 + 4 = 11 (numSplits 3, 4, 5). Part (1, 0, 3, 100, split 0).
    @Test func handComputedWithASplit() {
        let lengths: [Int32] = [1280, 192, 0, 100]
        let schedule = TileSchedule(cacheSeqlens: lengths, numSMParts: 3, rowsPerKVHead: 64)
        #expect(schedule.parts == [
            .init(beginRequest: 0, beginToken: 0, endRequest: 0, endToken: 704, beginSplit: 0),
            .init(beginRequest: 0, beginToken: 704, endRequest: 0, endToken: 1280, beginSplit: 1),
            .init(beginRequest: 1, beginToken: 0, endRequest: 3, endToken: 100, beginSplit: 0),
        ])
        #expect(schedule.numSplits == [0, 2, 3, 4, 5])
        #expect(schedule.pieces(ofPart: 0, cacheSeqlens: lengths) == [.init(request: 0, tokens: 0 ..< 704, split: 0)])
        #expect(schedule.pieces(ofPart: 1, cacheSeqlens: lengths) == [.init(request: 0, tokens: 704 ..< 1280, split: 1)])
        #expect(schedule.pieces(ofPart: 2, cacheSeqlens: lengths) == [
            .init(request: 1, tokens: 0 ..< 192, split: 0), .init(request: 2, tokens: 0 ..< 0, split: 0),
            .init(request: 3, tokens: 0 ..< 100, split: 0),
        ])
        #expect(schedule.int32Encoding == [0, 0, 0, 704, 0, 0, 0, 0,
                                           0, 704, 0, 1280, 1, 0, 0, 0,
                                           1, 0, 3, 100, 0, 0, 0, 0])
    }

    /// Fixed cost 5, 2 parts. Lengths of 212, 195 and 378 blocks cost 217, 200 and 383: payload
    /// ⌈800/2⌉ + 5 = 405, slack min(12, 405/32) = 12. Whole, in order, they fit at 417
    /// (217 + 200 | 383), exactly 405 + 12: not split. With 196 and 377 blocks (costs 201, 382,
    /// total 800 again) they need 418: cut. Part 0 (405): request 0 (217) → 188 left: after the
    /// fixed 5, 183 blocks of request 1 (tokens 0..<11712) as its split 0.
    @Test func wholeRequestsAtTheSlack() {
        let whole = TileSchedule(cacheSeqlens: [212 * 64, 195 * 64, 378 * 64], numSMParts: 2, rowsPerKVHead: 128)
        #expect(whole.parts == [
            .init(beginRequest: 0, beginToken: 0, endRequest: 1, endToken: 195 * 64, beginSplit: 0),
            .init(beginRequest: 2, beginToken: 0, endRequest: 2, endToken: 378 * 64, beginSplit: 0),
        ])
        #expect(whole.numSplits == [0, 1, 2, 3])
        let cut = TileSchedule(cacheSeqlens: [212 * 64, 196 * 64, 377 * 64], numSMParts: 2, rowsPerKVHead: 128)
        #expect(cut.parts == [
            .init(beginRequest: 0, beginToken: 0, endRequest: 1, endToken: 11712, beginSplit: 0),
            .init(beginRequest: 1, beginToken: 11712, endRequest: 2, endToken: 377 * 64, beginSplit: 1),
        ])
        #expect(cut.numSplits == [0, 1, 3, 4])
    }

    /// The slack: 12 blocks at most, and at most a 32nd of the payload.
    @Test func slackByPayload() {
        #expect(SchedulePolicy.standard(rowsPerKVHead: 1).wholeRequestSlack(payload: 31) == 0)
        #expect(SchedulePolicy.standard(rowsPerKVHead: 1).wholeRequestSlack(payload: 100) == 3)
        #expect(SchedulePolicy.standard(rowsPerKVHead: 1).wholeRequestSlack(payload: 384) == 12)
        #expect(SchedulePolicy.standard(rowsPerKVHead: 1).wholeRequestSlack(payload: 5000) == 12)
    }

    @Test func fixedCostByRows() {
        #expect(SchedulePolicy.standard(rowsPerKVHead: 16).fixedCostBlocks == 2)
        #expect(SchedulePolicy.standard(rowsPerKVHead: 64).fixedCostBlocks == 2)
        #expect(SchedulePolicy.standard(rowsPerKVHead: 65).fixedCostBlocks == 5)
        #expect(SchedulePolicy.standard(rowsPerKVHead: 128).fixedCostBlocks == 5)
    }

    @Test func numSMPartsFollowsFlashMLA() {
        #expect(TileSchedule.numSMParts(multiprocessors: 132, rowsPerKVHead: 128, kvHeads: 1) == 66)
        #expect(TileSchedule.numSMParts(multiprocessors: 132, rowsPerKVHead: 64, kvHeads: 1) == 132)
        #expect(TileSchedule.numSMParts(multiprocessors: 132, rowsPerKVHead: 65, kvHeads: 2) == 33)
        #expect(TileSchedule.numSMParts(multiprocessors: 3, rowsPerKVHead: 200, kvHeads: 4) == 1)
    }

    @Test("invariants on random batches", arguments: 0 ..< 8)
    func invariants(round: Int) {
        var generator = SeededGenerator.fresh()
        for _ in 0 ..< 10 {
            let batch = Int.random(in: 1 ... 300, using: &generator)
            let parts = Int.random(in: 1 ... 200, using: &generator)
            // Every fourth batch has (nearly) equal lengths, where whole requests can balance.
            let equal = Int32.random(in: 0 ... 20000, using: &generator)
            let nearlyEqual = Int.random(in: 0 ..< 4, using: &generator) == 0
            let lengths = (0 ..< batch).map { _ -> Int32 in
                if nearlyEqual { return equal + Int32.random(in: 0 ... 100, using: &generator) }
                switch Int.random(in: 0 ..< 4, using: &generator) {
                case 0: return Int32.random(in: 0 ... 64, using: &generator)
                case 1: return Int32.random(in: 0 ... 40000, using: &generator)
                default: return Int32.random(in: 0 ... 2000, using: &generator)
                }
            }
            let rows = [16, 64, 65, 128].randomElement(using: &generator)!
            checkInvariants(lengths: lengths, parts: parts, rows: rows,
                            context: "b \(batch), parts \(parts), rows \(rows), seed \(generator.seed)")
        }
    }

    /// The smallest capacity up to `limit` at which the requests, in order and whole, fit
    /// `parts` workers, by trying every capacity upward (independent of TileSchedule's binary
    /// search); nil if none does.
    private func smallestWholeCapacity(costs: [Int], parts: Int, limit: Int) -> Int? {
        guard var capacity = costs.max() else { return nil }
        while capacity <= limit {
            var workers = 1, load = 0
            for cost in costs {
                if load + cost > capacity { workers += 1; load = cost } else { load += cost }
            }
            if workers <= parts { return capacity }
            capacity += 1
        }
        return nil
    }

    private func checkInvariants(lengths: [Int32], parts: Int, rows: Int, context: String) {
        let schedule = TileSchedule(cacheSeqlens: lengths, numSMParts: parts, rowsPerKVHead: rows)
        let blockSize = TileSchedule.blockSize, fixed = SchedulePolicy.standard(rowsPerKVHead: rows).fixedCostBlocks
        let blocks = lengths.map { (Int($0) + blockSize - 1) / blockSize }
        let splitPayload = (blocks.reduce(0) { $0 + $1 + fixed } + parts - 1) / parts + fixed
        // Whole requests exactly when they fit within the slack; then the walk's payload is that capacity.
        let whole = smallestWholeCapacity(costs: blocks.map { $0 + fixed }, parts: parts,
                                          limit: splitPayload + min(12, splitPayload / 32))
        let wholeChosen = whole != nil
        let payload = whole ?? splitPayload
        #expect((schedule.totalSplits == lengths.count) || !wholeChosen, "whole requests chosen, yet split — \(context)")

        #expect(schedule.numSMParts == parts, "\(context)")
        #expect(schedule.numSplits.count == lengths.count + 1 && schedule.numSplits.first == 0, "\(context)")
        #expect(zip(schedule.numSplits, schedule.numSplits.dropFirst()).allSatisfy { $0 <= $1 }, "monotone — \(context)")
        #expect(schedule.totalSplits <= lengths.count + parts, "\(schedule.totalSplits) splits — \(context)")

        var covered = [[Range<Int>]](repeating: [], count: lengths.count)
        var splitsSeen = [Int](repeating: 0, count: lengths.count)
        var largestCost = 0
        for part in 0 ..< parts {
            let pieces = schedule.pieces(ofPart: part, cacheSeqlens: lengths)
            let cost = pieces.reduce(0) { $0 + ($1.tokens.count + blockSize - 1) / blockSize + fixed }
            largestCost = max(largestCost, cost)
            #expect(cost <= payload, "part \(part) costs \(cost) > payload \(payload) — \(context)")
            for piece in pieces {
                #expect(piece.split == splitsSeen[piece.request],
                        "request \(piece.request) split \(piece.split), expected \(splitsSeen[piece.request]) — \(context)")
                #expect(piece.tokens.lowerBound % blockSize == 0, "piece starts mid-block — \(context)")
                #expect(!piece.tokens.isEmpty || lengths[piece.request] == 0, "empty piece \(piece) — \(context)")
                splitsSeen[piece.request] += 1
                covered[piece.request].append(piece.tokens)
            }
        }
        for request in lengths.indices {
            let count = Int(schedule.numSplits[request + 1] - schedule.numSplits[request])
            #expect(count >= 1 && count == splitsSeen[request], "request \(request): numSplits says \(count), pieces \(splitsSeen[request]) — \(context)")
            // Pieces come in token order; together they tile 0 ..< length exactly once.
            var next = 0
            for range in covered[request] {
                #expect(range.lowerBound == next, "request \(request) pieces \(covered[request]) — \(context)")
                next = range.upperBound
            }
            #expect(next == Int(lengths[request]), "request \(request) covered up to \(next) of \(lengths[request]) — \(context)")
        }
        // The smallest capacity is reached: greedy packing that peaks below it would fit at its peak.
        if let whole { #expect(largestCost == whole, "whole requests: largest part \(largestCost), capacity \(whole) — \(context)") }
        let decoded = TileSchedule(int32Encoding: schedule.int32Encoding, numSplits: schedule.numSplits)
        #expect(decoded == schedule, "int32Encoding round trip — \(context)")
    }
}
