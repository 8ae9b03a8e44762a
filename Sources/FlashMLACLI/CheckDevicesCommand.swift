// CheckDevicesCommand: `flashmla check-devices`.
import ArgumentParser
import CUDADriver
import Dispatch
import FlashMLA
import FlashMLATesting
import Foundation

/// `flashmla check-devices`: the same decodes on several GPUs at once must match a
/// single-device run bit for bit, whatever device the calling thread has current; a call
/// mixing two devices' tensors must fail with a typed error.
struct CheckDevicesCommand: InputCheckedCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-devices",
        abstract: "Run the same decodes on several GPUs concurrently and compare them with a one-device run."
    )

    @Option(help: "Device ordinals, comma-separated (at least two).") var devices: String = "0,1"
    @Option(help: "Number of random cases.") var cases: Int = 20
    @Option(help: "Seed (default: from the clock; printed).") var seed: UInt64?
    @Option(help: "Most cached tokens × KV heads per case.") var tokenBudget: Int = 300_000

    /// The ordinals of `--devices`.
    /// - Throws: ``UsageError`` unless it is a comma-separated list of at least two distinct
    ///   ordinals ≥ 0.
    func deviceOrdinals() throws(UsageError) -> [Int] {
        let parts = devices.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        let ordinals = parts.compactMap { Int($0) }.filter { (0...Int(Int32.max)).contains($0) }
        guard ordinals.count == parts.count, ordinals.count >= 2, Set(ordinals).count == ordinals.count else {
            throw UsageError("--devices", expected: "at least two distinct device ordinals, comma-separated (0,1)",
                             given: devices)
        }
        return ordinals
    }

    /// Every flag's value checked.
    /// - Throws: ``UsageError`` naming the first bad flag, what it must be and what it is.
    func checkInputs() throws(UsageError) {
        _ = try deviceOrdinals()
        guard (1...CheckCommand.maxCases).contains(cases) else {
            throw UsageError("--cases", expected: "1…\(CheckCommand.maxCases)", given: "\(cases)")
        }
        let most = MemoryEstimate.bytes(gib: MemoryEstimate.defaultLimitGiB)! / (DecodeProblem.headDim * 2)
        guard (1...most).contains(tokenBudget) else {
            throw UsageError("--token-budget", expected: "1…\(most)", given: "\(tokenBudget)")
        }
    }

    func run() throws {
        let ordinals = try deviceOrdinals()
        let available = (try? CUDADriver.shared().deviceCount()) ?? 0
        guard let highest = ordinals.max(), highest < available else {
            print("check-devices needs at least two distinct devices; asked for \(devices), this machine has \(available)")
            throw ExitCode.failure
        }
        let engines = try ordinals.map { try MLAEngine(backend: .cuda(device: $0)) }
        let seed = seed ?? UInt64(truncatingIfNeeded: ContinuousClock.now.hashValue)
        print("check-devices: devices \(ordinals), \(cases) cases, seed \(seed)")
        var rng = InputRandom(seed: seed)
        var failures = 0
        for index in 0..<cases {
            let config = ProblemConfig.random(using: &rng, tokenBudget: tokenBudget, maxLength: 32768,
                                              elementType: index % 2 == 0 ? .bfloat16 : .float16)
            let problem = RandomProblem(config, seed: rng.next())
            let reference = try DeviceRun(problem, engine: engines[0]).decode()
            let results = ResultSlots<Result<(out: Tensor, lse: Tensor), any Error>>(count: engines.count)
            DispatchQueue.concurrentPerform(iterations: engines.count) { slot in
                // Leave another device current on this thread: the library must not use it.
                try? Device(ordinal: ordinals[(slot + 1) % ordinals.count]).makeCurrent()
                results[slot] = Result { try DeviceRun(problem, engine: engines[slot]).decode() }
            }
            var problems: [String] = []
            for slot in engines.indices {
                switch results[slot] {
                case let .success(result):
                    if !bytesEqual(result.out, reference.out) || !bytesEqual(result.lse, reference.lse) {
                        problems.append("cuda:\(ordinals[slot]) differs from the one-device run")
                    }
                case let .failure(error):
                    problems.append("cuda:\(ordinals[slot]) failed: \(error)")
                }
            }
            problems += mixedDeviceProblems(problem, engines: engines)
            if !problems.isEmpty { failures += 1 }
            print("\(problems.isEmpty ? "ok  " : "FAIL") case \(index): \(config)" + (problems.isEmpty ? "" : " — " + problems.joined(separator: "; ")))
        }
        print("\(cases - failures) passed, \(failures) failed")
        if failures > 0 { throw ExitCode.failure }
    }

    /// A call on the second device whose `q` lives on the first must throw `invalidArgument` naming `q`.
    private func mixedDeviceProblems(_ problem: RandomProblem, engines: [MLAEngine]) -> [String] {
        do {
            let home = try DeviceRun(problem, engine: engines[1])
            let foreignQ = try engines[0].cudaBackend!.upload(problem.q.view)
            do {
                try engines[1].flashMLAWithKVCache(
                    q: foreignQ.view, kCache: home.kCache.view, blockTable: home.blockTable.view,
                    cacheSeqlens: home.cacheSeqlens.view, headDimV: DecodeProblem.headDimV, metadata: home.metadata,
                    causal: problem.config.causal,
                    out: try home.cuda.allocate(elementType: problem.config.elementType, shape: [problem.config.batchSize, problem.config.queryLength, problem.config.queryHeads, 512]).view,
                    lse: try home.cuda.allocate(elementType: .float32, shape: [problem.config.batchSize, problem.config.queryHeads, problem.config.queryLength]).view)
                return ["a call mixing devices did not fail"]
            } catch let MLAError.invalidArgument(argument, _, _) where argument == "q" {
                return []
            } catch {
                return ["a call mixing devices failed with \(error), not invalidArgument(q)"]
            }
        } catch {
            return ["setting up the mixed-device call failed: \(error)"]
        }
    }
}
