import Testing
@testable import FlashMLA

/// The split-KV tile schedule: hand-computed examples and invariants on random batches.
@Suite struct TileScheduleTests {
    /// lengths [640, 192, 0, 100], 2 parts:
    /// blocks [10, 3, 0, 2]; cost Σ(blocks + 5) = 15 + 8 + 5 + 7 = 35; payload ⌈35/2⌉ + 5 = 23.
    /// Part 0 (payload 23): request 0 costs 15 → 8 left; request 1 costs 8 → 0 left;
    ///   request 2 costs 5 > 0 and 0 − 5 ≤ 0 blocks would fit → stop. Ends after request 1, at 192.
    /// Part 1: request 2 costs 5 → 18 left; request 3 costs 7 → 11 left; done, ends at 100.
    /// No request is split: numSplits [0, 1, 2, 3, 4].
    @Test func handComputedWithoutSplits() {
        let lengths: [Int32] = [640, 192, 0, 100]
        let schedule = TileSchedule(cacheSeqlens: lengths, numSMParts: 2)
        #expect(schedule.parts == [
            .init(beginRequest: 0, beginToken: 0, endRequest: 1, endToken: 192, beginSplit: 0),
            .init(beginRequest: 2, beginToken: 0, endRequest: 3, endToken: 100, beginSplit: 0),
        ])
        #expect(schedule.numSplits == [0, 1, 2, 3, 4])
    }

    /// lengths [1280, 192, 0, 100], 3 parts:
    /// blocks [20, 3, 0, 2]; cost 25 + 8 + 5 + 7 = 45; payload ⌈45/3⌉ + 5 = 20.
    /// Part 0 (20): request 0 costs 25 > 20, so after its fixed 5 it takes 15 blocks
    ///   (tokens 0..<960) as split 0. Part (0, 0, 0, 960, split 0).
    /// Part 1 (20): the rest of request 0 costs 5 blocks + 5 = 10 → 10 left (request 0 has
    ///   2 splits: numSplits[1] = 2); request 1 costs 8 → 2 left (numSplits[2] = 3);
    ///   request 2 costs 5 > 2 → stop. Part (0, 960, 1, 192, split 1).
    /// Part 2 (20): request 2 costs 5 → 15 left (numSplits[3] = 4); request 3 costs 7 → 8 left
    ///   (numSplits[4] = 5). Part (2, 0, 3, 100, split 0).
    @Test func handComputedWithASplit() {
        let lengths: [Int32] = [1280, 192, 0, 100]
        let schedule = TileSchedule(cacheSeqlens: lengths, numSMParts: 3)
        #expect(schedule.parts == [
            .init(beginRequest: 0, beginToken: 0, endRequest: 0, endToken: 960, beginSplit: 0),
            .init(beginRequest: 0, beginToken: 960, endRequest: 1, endToken: 192, beginSplit: 1),
            .init(beginRequest: 2, beginToken: 0, endRequest: 3, endToken: 100, beginSplit: 0),
        ])
        #expect(schedule.numSplits == [0, 2, 3, 4, 5])
        #expect(schedule.pieces(ofPart: 0, cacheSeqlens: lengths) == [.init(request: 0, tokens: 0 ..< 960, split: 0)])
        #expect(schedule.pieces(ofPart: 1, cacheSeqlens: lengths) == [
            .init(request: 0, tokens: 960 ..< 1280, split: 1), .init(request: 1, tokens: 0 ..< 192, split: 0),
        ])
        #expect(schedule.pieces(ofPart: 2, cacheSeqlens: lengths) == [
            .init(request: 2, tokens: 0 ..< 0, split: 0), .init(request: 3, tokens: 0 ..< 100, split: 0),
        ])
        #expect(schedule.int32Encoding == [0, 0, 0, 960, 0, 0, 0, 0,
                                           0, 960, 1, 192, 1, 0, 0, 0,
                                           2, 0, 3, 100, 0, 0, 0, 0])
    }

    @Test func numSMPartsFollowsFlashMLA() {
        #expect(TileSchedule.numSMParts(multiprocessors: 132, queryHeadsPerKVHead: 128, kvHeads: 1) == 66)
        #expect(TileSchedule.numSMParts(multiprocessors: 132, queryHeadsPerKVHead: 64, kvHeads: 1) == 132)
        #expect(TileSchedule.numSMParts(multiprocessors: 132, queryHeadsPerKVHead: 65, kvHeads: 2) == 33)
        #expect(TileSchedule.numSMParts(multiprocessors: 3, queryHeadsPerKVHead: 200, kvHeads: 4) == 1)
    }

    @Test("invariants on random batches", arguments: 0 ..< 8)
    func invariants(round: Int) {
        var generator = SeededGenerator.fresh()
        for _ in 0 ..< 10 {
            let batch = Int.random(in: 1 ... 300, using: &generator)
            let parts = Int.random(in: 1 ... 200, using: &generator)
            let lengths = (0 ..< batch).map { _ -> Int32 in
                switch Int.random(in: 0 ..< 4, using: &generator) {
                case 0: Int32.random(in: 0 ... 64, using: &generator)
                case 1: Int32.random(in: 0 ... 40000, using: &generator)
                default: Int32.random(in: 0 ... 2000, using: &generator)
                }
            }
            checkInvariants(lengths: lengths, parts: parts, context: "b \(batch), parts \(parts), seed \(generator.seed)")
        }
    }

    private func checkInvariants(lengths: [Int32], parts: Int, context: String) {
        let schedule = TileSchedule(cacheSeqlens: lengths, numSMParts: parts)
        let blockSize = TileSchedule.blockSize, fixed = TileSchedule.fixedCostBlocks
        let blocks = lengths.map { (Int($0) + blockSize - 1) / blockSize }
        let payload = (blocks.reduce(0) { $0 + $1 + fixed } + parts - 1) / parts + fixed

        #expect(schedule.numSMParts == parts, "\(context)")
        #expect(schedule.numSplits.count == lengths.count + 1 && schedule.numSplits.first == 0, "\(context)")
        #expect(zip(schedule.numSplits, schedule.numSplits.dropFirst()).allSatisfy { $0 <= $1 }, "monotone — \(context)")
        #expect(schedule.totalSplits <= lengths.count + parts, "\(schedule.totalSplits) splits — \(context)")

        var covered = [[Range<Int>]](repeating: [], count: lengths.count)
        var splitsSeen = [Int](repeating: 0, count: lengths.count)
        for part in 0 ..< parts {
            let pieces = schedule.pieces(ofPart: part, cacheSeqlens: lengths)
            let cost = pieces.reduce(0) { $0 + ($1.tokens.count + blockSize - 1) / blockSize + fixed }
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
        let decoded = TileSchedule(int32Encoding: schedule.int32Encoding, numSplits: schedule.numSplits)
        #expect(decoded == schedule, "int32Encoding round trip — \(context)")
    }
}
