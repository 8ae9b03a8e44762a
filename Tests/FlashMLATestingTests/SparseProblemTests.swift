// Tests of SparseProblem: index lists, NaN placement, the distinct-token count and the reference rows against the CPU backend.
import FlashMLA
import FlashMLATesting
import Testing

/// Sparse decode inputs drawn FlashMLA's way: distinct tokens of each request's own pages, `−1`
/// only as padding or when asked, NaN in every slot no counted entry reaches; and the Float64
/// reference the `check` command holds backends to.
@Suite struct SparseProblemTests {
    static let config = SparseProblemConfig(cacheSeqlens: [100, 3, 0, 70], queryLength: 2, queryHeads: 4, topk: 40,
                                            elementType: .bfloat16, pageSize: 16)

    private func lists(_ problem: SparseProblem) -> [[Int32]] {
        let list = HostElements(problem.indices), topk = problem.config.topk
        return (0..<problem.config.batchSize * problem.config.queryLength).map { row in
            (0..<topk).map { list.int32(offset: row * topk + $0) }
        }
    }

    @Test func listsHoldDistinctTokensOfTheirOwnRequest() {
        let problem = SparseProblem(Self.config, seed: 7)
        let rows = lists(problem), page = Self.config.pageSize
        #expect(problem.indices.shape == [4, 2, 40])
        #expect(problem.numPages == 7 + 1 + 0 + 5 + 1)
        var pagesOf = [Set<Int32>](repeating: [], count: 4)
        for (row, list) in rows.enumerated() {
            let request = row / 2, length = Int(Self.config.cacheSeqlens[request])
            let valid = list.filter { $0 >= 0 }
            #expect(valid.count == min(40, length), "request \(request): \(valid.count) valid of \(length) tokens")
            #expect(Set(valid).count == valid.count, "distinct")
            #expect(list.prefix(valid.count).allSatisfy { $0 >= 0 }, "−1 only as trailing padding")
            #expect(valid.allSatisfy { Int($0) < problem.numPages * page })
            for slot in valid { pagesOf[request].insert(slot / Int32(page)) }
        }
        // Each request reads only its own pages, at most ⌈length / P⌉ of them.
        for request in 0..<4 {
            #expect(pagesOf[request].count <= (Int(Self.config.cacheSeqlens[request]) + page - 1) / page)
            for other in request + 1..<4 { #expect(pagesOf[request].isDisjoint(with: pagesOf[other])) }
        }
        // Request 0 holds 100 tokens and each list takes 40: the two lists of a request differ.
        #expect(rows[0] != rows[1])
    }

    @Test func unreachedSlotsAreNaNAndUniqueTokensCountsTheReachedOnes() {
        for format in [KVFormatChoice.native, .fp8DS] {
            var config = Self.config
            config.kvFormat = format
            config.topkLength = [25, 3, 0, 40]
            let problem = SparseProblem(config, seed: 3)
            var reached = Set<Int32>()
            for (row, list) in lists(problem).enumerated() {
                reached.formUnion(list.prefix(Int(config.topkLength![row / 2])).filter { $0 >= 0 })
            }
            #expect(problem.uniqueTokens == reached.count)
            let bytes = problem.kCache.view.hostPointer!.assumingMemoryBound(to: UInt8.self)
            let tokenBytes = format == .fp8DS ? 656 : 1152
            #expect(problem.kCache.view.elementCount * problem.kCache.elementType.byteCount == problem.numPages * 16 * tokenBytes)
            for slot in 0..<problem.numPages * 16 {
                let token = UnsafeBufferPointer(start: bytes + slot * tokenBytes, count: tokenBytes)
                if reached.contains(Int32(slot)) {
                    #expect(token.contains { $0 != 0xFF }, "slot \(slot) reached but holds no values")
                } else {
                    #expect(token.allSatisfy { $0 == 0xFF }, "slot \(slot) not reached but not NaN")
                }
            }
            // FLOPs count FlashMLA's N: s_q · Σ topk_length.
            #expect(config.attendedEntries == 2 * (25 + 3 + 0 + 40))
        }
    }

    @Test func invalidFractionPutsMinusOneInsideTheLists() {
        var config = Self.config
        config.cacheSeqlens = [200, 200]
        config.invalidFraction = 0.5
        let invalid = lists(SparseProblem(config, seed: 11)).joined().filter { $0 == -1 }.count
        #expect((40...120).contains(invalid), "about half of 160 entries: \(invalid)")
        config.invalidFraction = 0
        #expect(!lists(SparseProblem(config, seed: 11)).joined().contains(-1))
    }

    @Test func sameSeedSameProblem() {
        let a = SparseProblem(Self.config, seed: 5), b = SparseProblem(Self.config, seed: 5), c = SparseProblem(Self.config, seed: 6)
        #expect(lists(a) == lists(b))
        #expect(lists(a) != lists(c))
        #expect(HostElements(a.q).load() == HostElements(b.q).load())
    }

    /// The reference rows agree with the CPU backend (which the library's tests hold to a direct
    /// Float64 computation): native and FP8 caches, `topk_length` with a zero, `−1` holes.
    @Test(arguments: [KVFormatChoice.native, .fp8DS])
    func referenceRowsMatchTheCPUBackend(format: KVFormatChoice) throws {
        var config = Self.config
        config.kvFormat = format
        config.topkLength = [40, 2, 0, 17]
        config.invalidFraction = 0.1
        let problem = SparseProblem(config, seed: 9)
        let engine = try MLAEngine(backend: .cpu, cpuMultiprocessors: 5)
        let sparse = SparseIndices(indices: problem.indices.view, topkLength: problem.topkLength?.view)
        let scale = 1 / Double(576).squareRoot()
        let (out, lse) = try engine.flashMLAWithKVCache(q: problem.q.view, kCache: problem.kCache.view, indices: sparse,
                                                        headDimV: 512, schedule: MLASchedule(), softmaxScale: Float(scale),
                                                        kvFormat: problem.kvFormat)
        let outs = HostElements(out), lses = HostElements(lse)
        var agreement = Agreement()
        for request in 0..<4 {
            for qi in 0..<2 {
                for head in 0..<4 {
                    let expected = problem.referenceRow(request: request, qi: qi, head: head, softmaxScale: scale)
                    let base = outs.offset([request, qi, head, 0])
                    agreement.add(out: (0..<512).map { outs[offset: base + $0] }, reference: expected.out,
                                  lse: lses[offset: lses.offset([request, head, qi])], referenceLSE: expected.lse)
                    if request == 2 { #expect(expected.lse == .infinity && expected.out.allSatisfy { $0 == 0 }) }
                }
            }
        }
        #expect(agreement.passes, "out cos-diff \(agreement.outCosDiff), max |Δlse| \(agreement.maxLSEDifference)")
        // A reference over other slots does not agree: the comparison can fail.
        let shifted = problem.referenceRow(request: 0, qi: 1, head: 0, softmaxScale: scale)
        let first = problem.referenceRow(request: 0, qi: 0, head: 0, softmaxScale: scale)
        #expect(abs(shifted.lse - first.lse) > 1e-3)
    }
}
