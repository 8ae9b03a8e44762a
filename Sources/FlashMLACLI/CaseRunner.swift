// CaseRunner: one random problem on an engine against the Float64 reference.
import CUDADriver
import Dispatch
import Foundation
import FlashMLA
import FlashMLATesting

/// Runs one random problem on an engine and compares it with the Float64 reference.
struct CaseRunner {
    let engine: MLAEngine
    let sampleRows: Int

    struct Outcome {
        var agreement: Agreement
        var problems: [String]
        var passed: Bool { agreement.passes && problems.isEmpty }
        var summary: String {
            "out cos-diff \(agreement.outCosDiff), lse cos-diff \(agreement.lseCosDiff), max |Δlse| \(agreement.maxLSEDifference)"
                + (agreement.nonFinite > 0 ? ", \(agreement.nonFinite) non-finite" : "")
                + (agreement.infinityMismatches > 0 ? ", \(agreement.infinityMismatches) lse ±∞ mismatches" : "")
                + (problems.isEmpty ? "" : "; " + problems.joined(separator: "; "))
        }
    }

    /// A random dense problem of `config` drawn from `seed`, decoded and compared.
    func run(_ config: ProblemConfig, seed: UInt64) throws -> Outcome {
        let problem = RandomProblem(config, seed: seed)
        let (out, lse, problems) = try execute(problem)
        let reference = ReferenceAttention(problem: problem, softmaxScale: Self.softmaxScale)
        let agreement = compare(out: out, lse: lse, batchSize: config.batchSize, queryLength: config.queryLength,
                                queryHeads: config.queryHeads,
                                sampleSeed: UInt64(config.cacheSeqlens.reduce(0) { $0 + Int($1) }),
                                reference: reference.row(request:qi:head:)) { request, qi in
            CausalMask.visibleKeyCount(seqlen: Int(config.cacheSeqlens[request]), queryLength: config.queryLength,
                                       position: qi, causal: config.causal) == 0
        }
        return Outcome(agreement: agreement, problems: problems)
    }

    /// A sparse problem of `config` (DeepSeek-V3.2 index lists) drawn from `seed`, decoded and
    /// compared with ``SparseProblem/referenceRow(request:qi:head:softmaxScale:)``.
    func run(_ config: SparseProblemConfig, seed: UInt64) throws -> Outcome {
        let problem = SparseProblem(config, seed: seed)
        let (out, lse, problems) = try execute(problem)
        return Outcome(agreement: compare(problem, out: out, lse: lse), problems: problems)
    }

    /// FlashMLA's default softmax scale, 1/√576.
    static let softmaxScale = 1 / Double(DecodeProblem.headDim).squareRoot()

    /// The default softmax scale of a sparse problem: `1/√d_qk` (MODEL1: `1/√512`).
    static func softmaxScale(_ config: SparseProblemConfig) -> Double { 1 / Double(config.queryHeadDim).squareRoot() }

    /// Compares `problem`'s sampled rows with its Float64 reference, and every row's lse ±∞ and
    /// NaN status (`+∞` exactly where a query token's counted entries are all `−1`).
    func compare(_ problem: SparseProblem, out: Tensor, lse: Tensor) -> Agreement {
        let config = problem.config
        return compare(out: out, lse: lse, batchSize: config.batchSize, queryLength: config.queryLength,
                       queryHeads: config.queryHeads, sampleSeed: UInt64(config.attendedEntries),
                       reference: { problem.referenceRow(request: $0, qi: $1, head: $2, softmaxScale: Self.softmaxScale(config)) },
                       seesNoKey: { problem.attendedSlots(request: $0, qi: $1).isEmpty
                                    && problem.attendedExtraSlots(request: $0, qi: $1).isEmpty })
    }

    /// Runs the decode and returns host copies of out and lse, plus any problem seen on the way.
    private func execute(_ problem: RandomProblem) throws -> (Tensor, Tensor, [String]) {
        let config = problem.config
        guard let cuda = engine.cudaBackend else {
            let metadata = try engine.getMLAMetadata(cacheSeqlens: problem.cacheSeqlens.view,
                                                     rowsPerKVHead: config.rowsPerKVHead, kvHeads: config.kvHeads)
            let (out, lse) = problem.poisonedOutputs()
            try engine.flashMLAWithKVCache(q: problem.q.view, kCache: problem.kCache.view, blockTable: problem.blockTable.view,
                                           cacheSeqlens: problem.cacheSeqlens.view, headDimV: DecodeProblem.headDimV,
                                           metadata: metadata, causal: config.causal, kvFormat: problem.kvFormat,
                                           out: out.view, lse: lse.view)
            return (out, lse, [])
        }

        let run = try DeviceRun(problem, engine: engine)
        // The device schedule must be the host's, field for field.
        let rows = run.metadata.shape.rowsPerKVHead
        let hostSchedule = TileSchedule(cacheSeqlens: config.cacheSeqlens, numSMParts: run.metadata.shape.numSMParts,
                                        policy: cuda.schedulePolicy(rowsPerKVHead: rows, sparse: false))
        return try checkDeviceRuns(cuda: cuda, metadata: run.metadata, hostSchedule: hostSchedule, decode: run.decode(graphReplays:))
    }

    /// The sparse decode on the engine: on CUDA from device copies of the inputs, with the device
    /// schedule, a second run and CUDA-graph replays checked as for dense problems.
    private func execute(_ problem: SparseProblem) throws -> (Tensor, Tensor, [String]) {
        let config = problem.config, rows = config.queryLength * config.queryHeads
        guard let cuda = engine.cudaBackend else {
            let sparse = problem.sparseIndices
            let metadata = try engine.getMLAMetadata(sparse: sparse, queryRows: rows)
            let (out, lse) = RandomProblem.poisonedOutputs(batchSize: config.batchSize, queryLength: config.queryLength,
                                                           queryHeads: config.queryHeads, elementType: config.elementType)
            try engine.flashMLAWithKVCache(q: problem.q.view, kCache: problem.kCache.view, indices: sparse,
                                           headDimV: DecodeProblem.headDimV, metadata: metadata, kvFormat: problem.kvFormat,
                                           out: out.view, lse: lse.view)
            return (out, lse, [])
        }
        let memory = EngineMemory(engine)
        let q = try memory.place(problem.q), kCache = try memory.place(problem.kCache)
        let indices = try memory.place(problem.indices)
        let topkLength = try problem.topkLength.map { try memory.place($0) }
        let extra = try [problem.extraKCache, problem.extraIndices, problem.extraTopkLength].map { try $0.map { try memory.place($0) } }
        let sparse = SparseIndices(indices: indices.view, topkLength: topkLength?.view, extraKCache: extra[0]?.view,
                                   extraIndices: extra[1]?.view, extraTopkLength: extra[2]?.view)
        let metadata = try engine.getMLAMetadata(sparse: sparse, queryRows: rows)
        let counted = (0..<config.batchSize).map {
            Int32(SparseIndices.scheduledLength(topkLength: config.countedEntries(request: $0),
                                                extraTopkLength: config.extraTopk > 0 ? config.countedExtraEntries(request: $0) : nil))
        }
        let hostSchedule = TileSchedule(cacheSeqlens: counted, numSMParts: metadata.shape.numSMParts,
                                        policy: cuda.schedulePolicy(rowsPerKVHead: metadata.shape.rowsPerKVHead, sparse: true))
        let results = try checkDeviceRuns(cuda: cuda, metadata: metadata, hostSchedule: hostSchedule) { replays in
            try DeviceRun.decode(cuda: cuda, elementType: config.elementType, batchSize: config.batchSize,
                                 queryLength: config.queryLength, queryHeads: config.queryHeads, graphReplays: replays) { out, lse in
                try engine.flashMLAWithKVCache(q: q.view, kCache: kCache.view, indices: sparse, headDimV: DecodeProblem.headDimV,
                                               metadata: metadata, kvFormat: problem.kvFormat, out: out, lse: lse)
            }
        }
        withExtendedLifetime((q, kCache, indices, topkLength, extra)) {}
        return results
    }

    /// The checks of a device run: its schedule equals `hostSchedule`, a second run and 10
    /// CUDA-graph replays give the first run's bytes, no kernel flagged an error. Returns the
    /// first run's host outputs and the problems found.
    private func checkDeviceRuns(cuda: CUDABackend, metadata: MLAMetadata, hostSchedule: TileSchedule,
                                 decode: (Int) throws -> (out: Tensor, lse: Tensor)) throws -> (Tensor, Tensor, [String]) {
        var problems: [String] = []
        let deviceSchedule = TileSchedule(int32Encoding: hostInt32(try cuda.download(metadata.tileSchedulerMetadata)),
                                          numSplits: hostInt32(try cuda.download(metadata.numSplits)))
        if deviceSchedule != hostSchedule { problems.append("device schedule differs from the host's") }
        let (out, lse) = try decode(0)
        let (again, againLSE) = try decode(0)
        if !bytesEqual(out, again) || !bytesEqual(lse, againLSE) { problems.append("a second run differs") }
        let (replayed, replayedLSE) = try decode(10)
        if !bytesEqual(out, replayed) || !bytesEqual(lse, replayedLSE) { problems.append("CUDA graph replays differ") }
        problems += try cuda.workspace.takeErrors()
        return (out, lse, problems)
    }

    /// Compares sampled rows (at most ``sampleRows``, drawn with `sampleSeed`) with `reference`,
    /// and checks every row: no NaN anywhere, and lse = +∞ exactly where `seesNoKey`.
    private func compare(out: Tensor, lse: Tensor, batchSize: Int, queryLength: Int, queryHeads: Int, sampleSeed: UInt64,
                         reference: @Sendable (Int, Int, Int) -> (out: [Double], lse: Double),
                         seesNoKey: (Int, Int) -> Bool) -> Agreement {
        let outElements = HostElements(out), lseElements = HostElements(lse)
        var rows: [(Int, Int, Int)] = []
        for request in 0..<batchSize {
            for qi in 0..<queryLength {
                for head in 0..<queryHeads { rows.append((request, qi, head)) }
            }
        }
        var rng = InputRandom(seed: UInt64(rows.count) &* 31 &+ sampleSeed)
        let sampled = rows.count <= sampleRows ? rows : Array(rows.shuffled(using: &rng).prefix(sampleRows))
        let results = ResultSlots<(out: [Double], lse: Double)>(count: sampled.count)
        DispatchQueue.concurrentPerform(iterations: sampled.count) { index in
            let (request, qi, head) = sampled[index]
            results[index] = reference(request, qi, head)
        }
        var agreement = Agreement()
        for (index, (request, qi, head)) in sampled.enumerated() {
            let base = outElements.offset([request, qi, head, 0])
            let row = (0..<DecodeProblem.headDimV).map { outElements[offset: base + $0] }
            agreement.add(out: row, reference: results[index].out,
                          lse: lseElements[offset: lseElements.offset([request, head, qi])], referenceLSE: results[index].lse)
        }
        for (request, qi, head) in rows {
            let value = lseElements[offset: lseElements.offset([request, head, qi])]
            if value.isNaN { agreement.flagNonFinite() }
            if (value == .infinity) != seesNoKey(request, qi) { agreement.flagInfinityMismatch() }
        }
        for offset in 0..<out.view.elementCount where !outElements[offset: offset].isFinite {
            agreement.flagNonFinite()
        }
        return agreement
    }

    private func hostInt32(_ tensor: Tensor) -> [Int32] {
        let elements = HostElements(tensor)
        return (0..<tensor.view.elementCount).map { elements.int32(offset: $0) }
    }
}
