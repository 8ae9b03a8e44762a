// Tests of RandomProblem: shapes, block tables, NaN placement, seeds and random shapes.
import FlashMLA
import FlashMLATesting
import Testing

/// Random decode inputs drawn FlashMLA's way: shuffled pages, NaN wherever no valid token lives.
@Suite struct RandomProblemTests {
    static let lengths: [Int32] = [0, 65, 130]

    static func config(_ elementType: ElementType) -> ProblemConfig {
        ProblemConfig(cacheSeqlens: lengths, queryLength: 2, queryHeads: 4, kvHeads: 2, causal: true,
                      elementType: elementType)
    }

    /// Bit patterns of every element, so NaNs compare equal.
    private func bits(_ tensor: Tensor) -> [UInt32] {
        tensor.elementType == .int32
            ? (0..<tensor.view.elementCount).map { UInt32(bitPattern: HostElements(tensor).int32(offset: $0)) }
            : HostElements(tensor).load().map(\.bitPattern)
    }

    @Test func shapes() {
        let problem = RandomProblem(Self.config(.bfloat16), seed: 1)
        // Pages per request: 0, 2, 3; plus three spare pages.
        #expect(problem.numPages == 8)
        #expect(problem.q.shape == [3, 2, 4, 576])
        #expect(problem.q.elementType == .bfloat16)
        #expect(problem.kCache.shape == [8, 64, 2, 576])
        #expect(problem.kCache.elementType == .bfloat16)
        #expect(problem.blockTable.shape.count == 2)
        #expect(problem.blockTable.shape[0] == 3)
        #expect((3...5).contains(problem.blockTable.shape[1]))
        #expect(problem.blockTable.elementType == .int32)
        #expect(problem.cacheSeqlens.shape == [3])
        let seqlens = HostElements(problem.cacheSeqlens)
        #expect((0..<3).map { seqlens.int32(offset: $0) } == Self.lengths)
        #expect(RandomProblem(Self.config(.bfloat16), seed: 1, sparePages: 0).numPages == 5)
    }

    @Test(arguments: [ElementType.bfloat16, .float16], [UInt64(1), 2, 3, 0xDEAD_BEEF])
    func blockTableHandsOutDistinctPagesInRange(elementType: ElementType, seed: UInt64) {
        let problem = RandomProblem(Self.config(elementType), seed: seed)
        let rows = problem.blockTableRows
        var used: [Int32] = []
        for (request, length) in Self.lengths.enumerated() {
            let pages = (Int(length) + 63) / 64
            for slot in 0..<rows[request].count {
                let id = rows[request][slot]
                if slot < pages {
                    #expect((0..<Int32(problem.numPages)).contains(id), "request \(request) slot \(slot): \(id)")
                    used.append(id)
                } else {
                    // Past a request's pages: never a real page, so reading it would be noticed.
                    #expect(id == -1 || id >= Int32(problem.numPages), "request \(request) slot \(slot): \(id)")
                }
            }
        }
        #expect(used.count == 5)
        #expect(Set(used).count == used.count, "pages handed out twice: \(used)")
    }

    @Test(arguments: [ElementType.bfloat16, .float16], [UInt64(1), 2, 3, 0xDEAD_BEEF])
    func cacheIsNaNExactlyWhereNoTokenLives(elementType: ElementType, seed: UInt64) {
        let problem = RandomProblem(Self.config(elementType), seed: seed)
        let rows = problem.blockTableRows
        let cache = HostElements(problem.kCache).load()
        let rowLength = 2 * 576, pageLength = 64 * rowLength

        // Tokens each page should hold; pages no request uses hold none.
        var validTokens = [Int](repeating: 0, count: problem.numPages)
        var isUsed = [Bool](repeating: false, count: problem.numPages)
        for (request, length) in Self.lengths.enumerated() {
            for slot in 0..<((Int(length) + 63) / 64) {
                let page = Int(rows[request][slot])
                isUsed[page] = true
                validTokens[page] = min(64, Int(length) - slot * 64)
            }
        }
        // One request's last page is partly filled (65 → 1 token, 130 → 2 tokens).
        #expect(validTokens.sorted() == [0, 0, 0, 1, 2, 64, 64, 64])

        var wrongNaN = 0, wrongFinite = 0, finite = Set<UInt32>()
        for page in 0..<problem.numPages {
            for token in 0..<64 {
                let valid = isUsed[page] && token < validTokens[page]
                let base = page * pageLength + token * rowLength
                for value in cache[base..<(base + rowLength)] {
                    if valid {
                        if value.isFinite { finite.insert(value.bitPattern) } else { wrongNaN += 1 }
                    } else if !value.isNaN {
                        wrongFinite += 1
                    }
                }
            }
        }
        #expect(wrongNaN == 0, "non-finite values in used slots")
        #expect(wrongFinite == 0, "values that should be NaN")
        #expect(finite.count > 100, "used slots should hold varied random values")

        let q = HostElements(problem.q).load()
        #expect(q.allSatisfy { $0.isFinite })
        #expect(Set(q.map(\.bitPattern)).count > 100)
    }

    @Test func sameSeedSameProblem() {
        let config = Self.config(.bfloat16)
        let a = RandomProblem(config, seed: 77), b = RandomProblem(config, seed: 77), c = RandomProblem(config, seed: 78)
        #expect(bits(a.q) == bits(b.q))
        #expect(bits(a.kCache) == bits(b.kCache))
        #expect(bits(a.blockTable) == bits(b.blockTable))
        #expect(bits(a.q) != bits(c.q))
        #expect(bits(a.kCache) != bits(c.kCache))
    }

    @Test func extraColumnsFixTheBlockTableWidthWithoutChangingTheDraw() {
        let config = Self.config(.float16)
        let drawn = RandomProblem(config, seed: 11), fixed = RandomProblem(config, seed: 11, extraColumns: 1)
        // Pages per request 0, 2, 3: three columns of pages, one of garbage.
        #expect(fixed.blockTable.shape == [3, 4])
        #expect(bits(fixed.q) == bits(drawn.q))
        for (row, drawnRow) in zip(fixed.blockTableRows, drawn.blockTableRows) {
            #expect(row.prefix(3) == drawnRow.prefix(3))
        }
    }

    @Test func poisonedOutputsAreNaNInTheOutputShapes() {
        let (out, lse) = RandomProblem(Self.config(.bfloat16), seed: 4).poisonedOutputs()
        #expect(out.shape == [3, 2, 4, 512] && out.elementType == .bfloat16)
        #expect(lse.shape == [3, 4, 2] && lse.elementType == .float32)
        #expect(HostElements(out).load().allSatisfy { $0.isNaN })
        #expect(HostElements(lse).load().allSatisfy { $0.isNaN })
    }

    @Test func fillIsNaNWhereInvalid() {
        // Bigger than one 65536-element chunk, so several chunks run in parallel.
        let tensor = Tensor(hostElementType: .float32, shape: [3, 50_000])
        RandomProblem.fill(tensor.view, seed: 9) { $0 % 3 == 0 }
        let values = HostElements(tensor).load()
        var mismatches = 0
        for (offset, value) in values.enumerated() where (offset % 3 == 0) != value.isFinite { mismatches += 1 }
        #expect(mismatches == 0)
        #expect(values.allSatisfy { $0.isNaN || abs($0) <= 3.4642 })
    }

    // MARK: random shapes

    // Budgets the tools use (CUDA check, check-devices) and one more. The bound is strict only while
    // tokenBudget / (b · h_kv) ≥ 65 for every draw (≥ 66 560): the often-drawn lengths 63, 64, 65 and the
    // floor of 1 ignore the budget, so a budget of 10 000 can be exceeded.
    @Test(arguments: [1_000_000, 300_000, 100_000])
    func randomConfigsRespectBudgetAndHeads(tokenBudget: Int) {
        var rng = InputRandom(seed: UInt64(tokenBudget))
        for _ in 0..<400 {
            let config = ProblemConfig.random(using: &rng, tokenBudget: tokenBudget, maxLength: 32768,
                                              elementType: .bfloat16)
            let tokens = config.cacheSeqlens.reduce(0) { $0 + Int($1) } * config.kvHeads
            #expect(tokens <= tokenBudget, "\(config)")
            #expect([1, 2, 8].contains(config.kvHeads))
            #expect([1, 2, 3, 8, 16, 32, 64, 128].contains(config.queryHeads))
            #expect(config.queryHeads % config.kvHeads == 0, "\(config)")
            #expect((1...128).contains(config.batchSize))
            #expect((1...4).contains(config.queryLength))
            #expect(config.cacheSeqlens.allSatisfy { (0...32768).contains($0) })
            #expect(config.elementType == .bfloat16)
        }
    }

    @Test func randomConfigsCoverEdgesOften() {
        var rng = InputRandom(seed: 3)
        var seen = Set<Int32>(), causal = 0, groups = Set<Int>()
        let count = 2000
        for _ in 0..<count {
            let config = ProblemConfig.random(using: &rng, tokenBudget: 40_000, maxLength: 32768, elementType: .float16)
            seen.formUnion(config.cacheSeqlens)
            if config.causal { causal += 1 }
            groups.insert(config.queryHeads / config.kvHeads)
        }
        #expect(seen.isSuperset(of: [0, 1, 63, 64, 65]))
        let fraction = Double(causal) / Double(count)
        #expect(abs(fraction - 0.75) < 0.05, "causal fraction \(fraction)")
        #expect(groups.contains(1) && groups.contains(128) && groups.contains(64))
    }

    @Test func randomConfigIsDeterministicPerSeed() {
        func draw(_ seed: UInt64) -> [String] {
            var rng = InputRandom(seed: seed)
            return (0..<20).map { _ in
                ProblemConfig.random(using: &rng, tokenBudget: 1_000_000, maxLength: 32768, elementType: .bfloat16)
            }.map { "\($0.cacheSeqlens) \($0.queryLength) \($0.queryHeads) \($0.kvHeads) \($0.causal)" }
        }
        #expect(draw(10) == draw(10))
        #expect(draw(10) != draw(11))
    }
}
