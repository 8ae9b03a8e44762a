// Tests of SchedulePolicy and the schedules it makes.
import Foundation
import Testing
@testable import FlashMLA

/// The schedule's numbers: the standard ones, their bounds, their file form, and that a
/// schedule follows the policy it is given.
@Suite struct SchedulePolicyTests {
    @Test func theStandardPolicyIsTheMeasuredH100One() {
        #expect(SchedulePolicy.standard(rowsPerKVHead: 1) == SchedulePolicy(fixedCostBlocks: 2, wholeRequestSlackBlocks: 12, wholeRequestSlackDivisor: 32))
        #expect(SchedulePolicy.standard(rowsPerKVHead: 64).fixedCostBlocks == 2)
        #expect(SchedulePolicy.standard(rowsPerKVHead: 65).fixedCostBlocks == 5)
        #expect(SchedulePolicy.standard(rowsPerKVHead: 128).wholeRequestSlackBlocks == 12)
    }

    @Test func numbersAreClampedToTheirRange() {
        let low = SchedulePolicy(fixedCostBlocks: -3, wholeRequestSlackBlocks: -1, wholeRequestSlackDivisor: 0)
        #expect(low == SchedulePolicy(fixedCostBlocks: 0, wholeRequestSlackBlocks: 0, wholeRequestSlackDivisor: 1))
        let high = SchedulePolicy(fixedCostBlocks: 10_000, wholeRequestSlackBlocks: 999)
        #expect(high.fixedCostBlocks == SchedulePolicy.largestBlocks && high.wholeRequestSlackBlocks == SchedulePolicy.largestBlocks)
        // The slack is bounded by both numbers.
        let policy = SchedulePolicy(fixedCostBlocks: 1, wholeRequestSlackBlocks: 20, wholeRequestSlackDivisor: 10)
        #expect(policy.wholeRequestSlack(payload: 50) == 5)
        #expect(policy.wholeRequestSlack(payload: 1000) == 20)
    }

    /// A stored policy is clamped as a made one is, and one written without a divisor takes the standard divisor.
    @Test func storedPoliciesAreReadWithTheSameBounds() throws {
        let decoder = JSONDecoder()
        let read = try decoder.decode(SchedulePolicy.self, from: Data(#"{"fixedCostBlocks": 3, "wholeRequestSlackBlocks": 7}"#.utf8))
        #expect(read == SchedulePolicy(fixedCostBlocks: 3, wholeRequestSlackBlocks: 7, wholeRequestSlackDivisor: 32))
        let clamped = try decoder.decode(SchedulePolicy.self, from: Data(#"{"fixedCostBlocks": -5, "wholeRequestSlackBlocks": 100000, "wholeRequestSlackDivisor": -2}"#.utf8))
        #expect(clamped == SchedulePolicy(fixedCostBlocks: 0, wholeRequestSlackBlocks: SchedulePolicy.largestBlocks, wholeRequestSlackDivisor: 1))
        let policy = SchedulePolicy(fixedCostBlocks: 4, wholeRequestSlackBlocks: 9, wholeRequestSlackDivisor: 16)
        #expect(try decoder.decode(SchedulePolicy.self, from: JSONEncoder().encode(policy)) == policy)
    }

    /// TileScheduleTests' `wholeRequestsAtTheSlack`: [212, 196, 377] blocks on 2 workers need 418
    /// blocks whole against a payload of 405, 13 over: the standard slack (12) cuts them, a slack
    /// of 13 (divisor 1) keeps them whole.
    @Test func aLargerSlackKeepsRequestsWhole() {
        let lengths: [Int32] = [212 * 64, 196 * 64, 377 * 64]
        let standard = TileSchedule(cacheSeqlens: lengths, numSMParts: 2, policy: .standard(rowsPerKVHead: 128))
        #expect(standard == TileSchedule(cacheSeqlens: lengths, numSMParts: 2, rowsPerKVHead: 128))
        #expect(standard.totalSplits == 4)
        let lenient = TileSchedule(cacheSeqlens: lengths, numSMParts: 2,
                                   policy: SchedulePolicy(fixedCostBlocks: 5, wholeRequestSlackBlocks: 13, wholeRequestSlackDivisor: 1))
        #expect(lenient.totalSplits == 3)
        #expect(lenient.parts == [
            .init(beginRequest: 0, beginToken: 0, endRequest: 1, endToken: 196 * 64, beginSplit: 0),
            .init(beginRequest: 2, beginToken: 0, endRequest: 2, endToken: 377 * 64, beginSplit: 0),
        ])
    }

    /// One request of 100 blocks on 4 workers: payload ⌈(100 + F)/4⌉ + F and each worker after
    /// the first takes `payload − F` blocks. F = 0: 25 a worker; F = 6: payload 33, 27 a worker
    /// (27, 27, 27, 19).
    @Test func theFixedCostSetsThePieces() {
        let free = TileSchedule(cacheSeqlens: [6400], numSMParts: 4, policy: SchedulePolicy(fixedCostBlocks: 0, wholeRequestSlackBlocks: 0))
        #expect(free.parts.map(\.endToken) == [25 * 64, 50 * 64, 75 * 64, 6400])
        let costly = TileSchedule(cacheSeqlens: [6400], numSMParts: 4, policy: SchedulePolicy(fixedCostBlocks: 6, wholeRequestSlackBlocks: 0))
        #expect(costly.parts.map(\.endToken) == [27 * 64, 54 * 64, 81 * 64, 6400])
        #expect(costly.numSplits == [0, 4])
    }
}
