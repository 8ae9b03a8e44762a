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

    func run(_ config: ProblemConfig, seed: UInt64) throws -> Outcome {
        let problem = RandomProblem(config, seed: seed)
        let (out, lse, problems) = try execute(problem)
        return Outcome(agreement: compare(problem, out: out, lse: lse), problems: problems)
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
        var problems: [String] = []
        // The device schedule must be the host's, field for field.
        let deviceSchedule = TileSchedule(
            int32Encoding: hostInt32(try cuda.download(run.metadata.tileSchedulerMetadata)),
            numSplits: hostInt32(try cuda.download(run.metadata.numSplits)))
        let hostSchedule = TileSchedule(cacheSeqlens: config.cacheSeqlens, numSMParts: run.metadata.shape.numSMParts,
                                        rowsPerKVHead: run.metadata.shape.rowsPerKVHead)
        if deviceSchedule != hostSchedule { problems.append("device schedule differs from the host's") }

        let (out, lse) = try run.decode()
        let (again, againLSE) = try run.decode()
        if !bytesEqual(out, again) || !bytesEqual(lse, againLSE) { problems.append("a second run differs") }
        let (replayed, replayedLSE) = try run.decode(graphReplays: 10)
        if !bytesEqual(out, replayed) || !bytesEqual(lse, replayedLSE) { problems.append("CUDA graph replays differ") }
        problems += try cuda.workspace.takeErrors()
        return (out, lse, problems)
    }

    /// Compares sampled rows with the reference, and every row's lse ±∞ and NaN status.
    private func compare(_ problem: RandomProblem, out: Tensor, lse: Tensor) -> Agreement {
        let config = problem.config
        let outElements = HostElements(out), lseElements = HostElements(lse)
        var rows: [(Int, Int, Int)] = []
        for request in 0..<config.batchSize {
            for qi in 0..<config.queryLength {
                for head in 0..<config.queryHeads { rows.append((request, qi, head)) }
            }
        }
        var rng = InputRandom(seed: UInt64(rows.count) &* 31 &+ UInt64(config.cacheSeqlens.reduce(0) { $0 + Int($1) }))
        let sampled = rows.count <= sampleRows ? rows : Array(rows.shuffled(using: &rng).prefix(sampleRows))
        let reference = ReferenceAttention(problem: problem, softmaxScale: 1 / Double(DecodeProblem.headDim).squareRoot())
        let results = ResultSlots<(out: [Double], lse: Double)>(count: sampled.count)
        DispatchQueue.concurrentPerform(iterations: sampled.count) { index in
            let (request, qi, head) = sampled[index]
            results[index] = reference.row(request: request, qi: qi, head: head)
        }
        var agreement = Agreement()
        for (index, (request, qi, head)) in sampled.enumerated() {
            let base = outElements.offset([request, qi, head, 0])
            let row = (0..<DecodeProblem.headDimV).map { outElements[offset: base + $0] }
            agreement.add(out: row, reference: results[index].out,
                          lse: lseElements[offset: lseElements.offset([request, head, qi])], referenceLSE: results[index].lse)
        }
        // Every row: no NaN anywhere, and lse = +∞ exactly where the row sees no key.
        for (request, qi, head) in rows {
            let seqlen = Int(config.cacheSeqlens[request])
            let visible = CausalMask.visibleKeyCount(seqlen: seqlen, queryLength: config.queryLength, position: qi, causal: config.causal)
            let value = lseElements[offset: lseElements.offset([request, head, qi])]
            if value.isNaN { agreement.flagNonFinite() }
            if (value == .infinity) != (visible == 0) { agreement.flagInfinityMismatch() }
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
