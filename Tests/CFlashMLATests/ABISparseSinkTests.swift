// Tests of the C ABI's sparse decoding, attention sinks and validate functions, run on the CPU device.
import Foundation
import Testing
@testable import CFlashMLA
import FlashMLA
import FlashMLATesting

/// A descriptor of a host tensor, for calls on `FLASHMLA_SWIFT_DEVICE_CPU`.
func hostDescriptor(_ tensor: Tensor) -> Descriptor {
    let code: Int32 = switch tensor.elementType {
    case .bfloat16: Code.bfloat16
    case .float16: Code.float16
    case .float32: Code.float32
    case .int32: Code.int32
    case .float8E4M3: Code.float8E4M3
    case .uint8: Code.uint8
    }
    return Descriptor(code, tensor.shape, data: UInt64(UInt(bitPattern: tensor.view.hostPointer!)))
}

/// A random sparse problem in host memory: a bf16 cache of `pages` pages of `pageSize` tokens with
/// NaN in every slot no counted index reads (the DeepSeek-V3.2 FP8 copy with `fp8`), index lists
/// with −1 holes (and, with `invalidRequest`, one request whose lists are all −1), the given
/// lengths, a sink per head (+∞, −∞ and finite values), outputs poisoned with NaN.
struct SparseCase {
    let b: Int, sQ: Int, heads: Int, topk: Int, pages: Int, pageSize: Int, fp8: Bool
    let q: Tensor, cache: Tensor, indices: Tensor, topkLength: Tensor?, attnSink: Tensor?
    let out: Tensor, lse: Tensor

    init(b: Int = 3, sQ: Int = 2, heads: Int = 16, topk: Int = 90, pages: Int = 4, pageSize: Int = 61,
         lengths: [Int32]? = [90, 0, 41], invalidRequest: Int? = 2, fp8: Bool = false, sink: Bool = true, seed: UInt64 = 11) {
        (self.b, self.sQ, self.heads, self.topk, self.pages, self.pageSize, self.fp8) = (b, sQ, heads, topk, pages, pageSize, fp8)
        var rng = InputRandom(seed: seed)
        let slots = pages * pageSize, dim = 576
        var lists = [Int32](repeating: -1, count: b * sQ * topk)
        for index in lists.indices where index / (sQ * topk) != invalidRequest && rng.next() % 8 != 0 {
            lists[index] = Int32(rng.next() % UInt64(slots))
        }
        let counts = lengths ?? Array(repeating: Int32(topk), count: b)
        var used = Set<Int>()
        for index in lists.indices where lists[index] >= 0 && index % topk < Int(counts[index / (sQ * topk)]) {
            used.insert(Int(lists[index]))
        }
        var values = [Float](repeating: .nan, count: slots * dim)
        for slot in used.sorted() { for d in 0 ..< dim { values[slot * dim + d] = Float(Int(rng.next() % 2001) - 1000) / 1000 } }
        let native = Tensor(values, as: .bfloat16, shape: [pages, pageSize, 1, dim])
        cache = fp8 ? try! FP8Quantizer.quantize(native.view, format: .fp8DeepSeek) : native
        q = Tensor((0 ..< b * sQ * heads * dim).map { _ in Float(Int(rng.next() % 4001) - 2000) / 1000 },
                   as: .bfloat16, shape: [b, sQ, heads, dim])
        indices = Tensor(lists, shape: [b, sQ, topk])
        topkLength = lengths.map { Tensor($0, shape: [b]) }
        let sinks: [Float] = (0 ..< heads).map { (h: Int) -> Float in
            switch h % 4 {
            case 0: .infinity
            case 1: -.infinity
            default: Float(h % 7) - 2
            }
        }
        attnSink = sink ? Tensor(sinks, as: .float32, shape: [heads]) : nil
        out = Tensor(hostElementType: .bfloat16, shape: [b, sQ, heads, 512])
        lse = Tensor(hostElementType: .float32, shape: [b, heads, sQ])
        HostElements(out.view).fill(.nan)
        HostElements(lse.view).fill(.nan)
    }

    var kvFormat: Int32 { fp8 ? 2 : 0 }

    /// The schedule through `flashmla_swift_get_sparse_metadata` on the CPU device.
    func metadata() throws -> (schedule: Tensor, splits: Tensor) {
        var parts: Int64 = 0
        #expect(flashmla_swift_num_sm_parts(Devices.cpu, Int64(sQ * heads), 1, &parts) == 0, "\(lastError())")
        let schedule = Tensor(hostElementType: .int32, shape: [Int(parts), 8])
        let splits = Tensor(hostElementType: .int32, shape: [b + 1])
        let d = [hostDescriptor(indices), topkLength.map(hostDescriptor), hostDescriptor(schedule), hostDescriptor(splits)]
        let status = withExtendedLifetime(d) {
            flashmla_swift_get_sparse_metadata(Devices.cpu, nil, d[0]!.raw, d[1]?.raw, Int64(heads), d[2]!.raw, d[3]!.raw)
        }
        try #require(status == 0, "\(lastError())")
        return (schedule, splits)
    }

    /// `flashmla_swift_decode_sparse` on the CPU device into `out` and `lse` (`change` replaces
    /// descriptors first); its status and message.
    func decode(schedule: Tensor, splits: Tensor, format: Int32? = nil, workspace: OpaquePointer? = nil,
                change: (inout [String: Descriptor?]) -> Void = { _ in }) -> (status: Int32, message: String) {
        var d: [String: Descriptor?] = ["q": hostDescriptor(q), "kCache": hostDescriptor(cache),
                                        "indices": hostDescriptor(indices), "topkLength": topkLength.map(hostDescriptor),
                                        "schedule": hostDescriptor(schedule), "splits": hostDescriptor(splits),
                                        "attnSink": attnSink.map(hostDescriptor),
                                        "out": hostDescriptor(out), "lse": hostDescriptor(lse)]
        change(&d)
        let status = withExtendedLifetime(d) {
            flashmla_swift_decode_sparse(Devices.cpu, nil, d["q"]!?.raw, d["kCache"]!?.raw, d["indices"]!?.raw,
                                         d["topkLength"]!?.raw, d["schedule"]!?.raw, d["splits"]!?.raw, 512, 0.05,
                                         format ?? kvFormat, d["attnSink"]!?.raw, d["out"]!?.raw, d["lse"]!?.raw, workspace)
        }
        return (status, lastError())
    }

    /// The same decode through the Swift API on the CPU backend (the path the ABI must reach).
    func swiftDecode() throws -> (out: Tensor, lse: Tensor) {
        let engine = try MLAEngine(backend: .cpu)
        let sparse = SparseIndices(indices: indices.view, topkLength: topkLength?.view)
        let metadata = try engine.getMLAMetadata(sparse: sparse, queryRows: sQ * heads)
        let out = Tensor(hostElementType: .bfloat16, shape: [b, sQ, heads, 512])
        let lse = Tensor(hostElementType: .float32, shape: [b, heads, sQ])
        try engine.flashMLAWithKVCache(q: q.view, kCache: cache.view, indices: sparse, headDimV: 512, metadata: metadata,
                                       softmaxScale: 0.05, kvFormat: fp8 ? .fp8DeepSeek : .native,
                                       attnSink: attnSink?.view, out: out.view, lse: lse.view)
        return (out, lse)
    }
}

/// The raw 32-bit words of a tensor's bytes (2-byte elements widened), to compare results bit for bit.
func bits(_ tensor: Tensor) -> [UInt32] {
    let pointer = tensor.view.hostPointer!
    return (0 ..< tensor.view.elementCount).map { index in
        tensor.elementType.byteCount == 2 ? UInt32(pointer.load(fromByteOffset: index * 2, as: UInt16.self))
                                          : pointer.load(fromByteOffset: index * 4, as: UInt32.self)
    }
}

/// Sparse decoding and attention sinks through the C ABI on `FLASHMLA_SWIFT_DEVICE_CPU`: results
/// bit for bit those of the Swift CPU path, and each bad argument named before any output is written.
@Suite struct ABISparseTests {
    @Test("sparse decode (bf16 and fp8_ds_mla, -1 holes, zero length, sink) equals the Swift CPU path bit for bit",
          arguments: [false, true])
    func sparseMatchesSwift(fp8: Bool) throws {
        let problem = SparseCase(fp8: fp8)
        let (schedule, splits) = try problem.metadata()
        let (status, message) = problem.decode(schedule: schedule, splits: splits)
        try #require(status == 0, "\(message)")
        let swift = try problem.swiftDecode()
        #expect(bits(problem.out) == bits(swift.out))
        #expect(bits(problem.lse) == bits(swift.lse))
        let out = HostElements(problem.out.view).load(), lse = HostElements(problem.lse.view).load()
        #expect(!out.contains { $0.isNaN } && !lse.contains { $0.isNaN }, "NaN reached the outputs")
        // Request 1 (length 0) and request 2 (all −1) see no key: out 0, lse +inf.
        for request in [1, 2] {
            let rows = problem.sQ * problem.heads
            #expect(lse[request * rows ..< (request + 1) * rows].allSatisfy { $0 == .infinity })
            #expect(out[request * rows * 512 ..< (request + 1) * rows * 512].allSatisfy { $0 == 0 })
        }
        // Request 0 sees keys; the sink +inf (head 0) zeroes its output, −inf (head 1) does not.
        #expect(lse[0 ..< problem.heads * problem.sQ].allSatisfy { $0.isFinite })
        #expect(out[0 ..< 512].allSatisfy { $0 == 0 } && out[512 ..< 1024].contains { $0 != 0 })
    }

    @Test("the sink scales each row by 1/(1+exp(sink-lse)) and leaves lse unchanged")
    func sinkFactor() throws {
        let withSink = SparseCase(lengths: nil, invalidRequest: nil, sink: true)
        let without = SparseCase(lengths: nil, invalidRequest: nil, sink: false)
        let (schedule, splits) = try withSink.metadata()
        #expect(withSink.decode(schedule: schedule, splits: splits).status == 0)
        #expect(without.decode(schedule: schedule, splits: splits).status == 0)
        #expect(bits(withSink.lse) == bits(without.lse))
        let lse = HostElements(without.lse.view).load(), sinks = HostElements(withSink.attnSink!.view).load()
        let a = HostElements(withSink.out.view).load(), plain = HostElements(without.out.view).load()
        var worst: Float = 0
        for request in 0 ..< withSink.b { for token in 0 ..< withSink.sQ { for head in 0 ..< withSink.heads {
            let rowLSE = lse[(request * withSink.heads + head) * withSink.sQ + token]
            let factor = 1 / (1 + exp(sinks[head] - rowLSE))
            let base = ((request * withSink.sQ + token) * withSink.heads + head) * 512
            for d in 0 ..< 512 { worst = max(worst, abs(a[base + d] - plain[base + d] * factor) / max(abs(plain[base + d]), 1)) }
        } } }
        #expect(worst < 1.0 / 64, "largest deviation from out·1/(1+exp(sink−lse)): \(worst)")
    }

    @Test("each bad sparse argument is named, and out and lse are left as they were")
    func badArguments() throws {
        let problem = SparseCase()
        let (schedule, splits) = try problem.metadata()
        let short = Tensor(hostElementType: .int32, shape: [problem.b])
        let pastTopk = Tensor([90, 0, 91], shape: [3])
        let garbage = Tensor([0, 5, 5, 9], shape: [4])
        let badIndex = Tensor([Int32](repeating: 7, count: problem.b * problem.sQ * problem.topk).enumerated().map {
            $0.offset == 5 ? Int32(problem.pages * problem.pageSize) : $0.element }, shape: [problem.b, problem.sQ, problem.topk])
        let cases: [(String, [String], (inout [String: Descriptor?]) -> Void)] = [
            ("NULL indices", ["'indices'", "given NULL"], { $0["indices"] = .some(nil) }),
            ("int64-like indices", ["'indices'", "dtype 64"], { $0["indices"] = Descriptor(64, [3, 2, 90]) }),
            ("indices of rank 2", ["'indices'", "rank 3"], { $0["indices"] = Descriptor(Code.int32, [3, 180]) }),
            ("indices for another s_q", ["'indices'", "int32[3, 2, topk]"], { $0["indices"] = Descriptor(Code.int32, [3, 1, 90]) }),
            ("float32 indices", ["'indices'", "expected int32", "given float32"], { $0["indices"] = Descriptor(Code.float32, [3, 2, 90]) }),
            ("an index past the cache", ["'indices[0][0][5]'", "given 244"], { $0["indices"] = hostDescriptor(badIndex) }),
            ("topkLength of 2", ["'topkLength'", "int32[3]"], { $0["topkLength"] = Descriptor(Code.int32, [2]) }),
            ("topkLength float32", ["'topkLength'", "float32"], { $0["topkLength"] = Descriptor(Code.float32, [3]) }),
            ("topkLength past topk", ["'topkLength[2]'", "0...90", "given 91"], {
                $0["topkLength"] = hostDescriptor(pastTopk) }),
            ("attnSink of h_q + 1", ["'attnSink'", "float32[16]"], { $0["attnSink"] = Descriptor(Code.float32, [17]) }),
            ("attnSink bfloat16", ["'attnSink'", "expected float32", "given bfloat16"], {
                $0["attnSink"] = Descriptor(Code.bfloat16, [16]) }),
            ("attnSink strided", ["'attnSink'", "contiguous"], { $0["attnSink"] = Descriptor(Code.float32, [16], strides: [2]) }),
            ("a cache of two KV heads", ["'kCache'", "h_kv = 1"], { $0["kCache"] = Descriptor(Code.bfloat16, [4, 61, 2, 576]) }),
            ("float32 q", ["'q'", "bfloat16 or float16"], { $0["q"] = Descriptor(Code.float32, [3, 2, 16, 576]) }),
            ("numSplits of b entries", ["'numSplits'", "int32[4]", "given int32[3]"], { $0["splits"] = hostDescriptor(short) }),
            ("a schedule of other lengths", ["'metadata'", "the schedule of these topkLength values"], {
                $0["splits"] = hostDescriptor(garbage) }),
            ("out of the wrong shape", ["'out'", "[3, 2, 16, 512]"], { $0["out"] = Descriptor(Code.bfloat16, [3, 2, 16, 576]) }),
            ("lse NULL", ["'lse'", "NULL"], { $0["lse"] = .some(nil) }),
        ]
        for (label, fragments, change) in cases {
            let (status, message) = problem.decode(schedule: schedule, splits: splits, change: change)
            #expect(status == ABIStatus.invalidArgument.rawValue, "\(label): \(message)")
            for fragment in fragments { #expect(message.contains(fragment), "\(label): '\(fragment)' missing from \(message)") }
        }
        let untouched = HostElements(problem.out.view).load().allSatisfy { $0.isNaN }
            && HostElements(problem.lse.view).load().allSatisfy { $0.isNaN }
        #expect(untouched, "an output was written")
        // The format: per-tensor FP8 has no sparse mode; a code outside the three is named too.
        for format: Int32 in [1, 9] {
            let (status, message) = problem.decode(schedule: schedule, splits: splits, format: format)
            #expect(status == ABIStatus.invalidArgument.rawValue && message.contains("'kvFormat'"), "\(message)")
        }
        withExtendedLifetime((short, garbage, pastTopk, badIndex)) {}
    }

    @Test("a workspace on the CPU device and device -2 are refused")
    func devices() throws {
        let problem = SparseCase()
        let (schedule, splits) = try problem.metadata()
        let (status, message) = problem.decode(schedule: schedule, splits: splits,
                                               workspace: OpaquePointer(bitPattern: 0x1000))
        #expect(status == ABIStatus.invalidArgument.rawValue && message.contains("'workspace'"), "\(message)")
        let d = [hostDescriptor(problem.indices), hostDescriptor(schedule), hostDescriptor(splits)]
        let wrong = withExtendedLifetime(d) {
            flashmla_swift_get_sparse_metadata(-2, nil, d[0].raw, nil, 16, d[1].raw, d[2].raw)
        }
        #expect(wrong == ABIStatus.invalidArgument.rawValue && lastError().contains("'device'"), "\(lastError())")
        let untouched = HostElements(problem.out.view).load().allSatisfy { $0.isNaN }
        #expect(untouched)
    }

    @Test("the sparse schedule: NULL topk_length counts topk; bad arguments are named; an absent GPU is reported last")
    func sparseMetadata() throws {
        let problem = SparseCase(lengths: nil)
        let (schedule, splits) = try problem.metadata()
        let engine = try MLAEngine(backend: .cpu)
        let swift = try engine.getMLAMetadata(sparse: SparseIndices(indices: problem.indices.view), queryRows: 32)
        #expect(HostElements(schedule.view).load() == HostElements(swift.tileSchedulerMetadata).load())
        #expect(HostElements(splits.view).load() == HostElements(swift.numSplits).load())
        let indices = hostDescriptor(problem.indices), s = hostDescriptor(schedule), n = hostDescriptor(splits)
        let flat = Descriptor(Code.int32, [3, 180]), short = Descriptor(Code.int32, [3])
        let tooLong = Tensor([1, 2, 99], shape: [3])
        let tooLongDescriptor = hostDescriptor(tooLong)
        let onGPU = [Descriptor(Code.int32, [3, 2, 90]), Descriptor(Code.int32, [132, 8]), Descriptor(Code.int32, [4]),
                     Descriptor(Code.int32, [3])]
        withExtendedLifetime((indices, s, n, flat, short, tooLong, tooLongDescriptor, onGPU)) {
            #expect(flashmla_swift_get_sparse_metadata(Devices.cpu, nil, indices.raw, nil, 0, s.raw, n.raw) == 1)
            #expect(lastError().contains("'numHeadsQ'"))
            #expect(flashmla_swift_get_sparse_metadata(Devices.cpu, nil, flat.raw, nil, 16, s.raw, n.raw) == 1)
            #expect(lastError().contains("'indices'") && lastError().contains("rank 3"), "\(lastError())")
            #expect(flashmla_swift_get_sparse_metadata(Devices.cpu, nil, indices.raw, nil, 16, s.raw, short.raw) == 1)
            #expect(lastError().contains("'numSplits'") && lastError().contains("int32[4]"), "\(lastError())")
            #expect(flashmla_swift_get_sparse_metadata(Devices.cpu, nil, indices.raw, tooLongDescriptor.raw, 16, s.raw, n.raw) == 1)
            #expect(lastError().contains("'topkLength[2]'"), "\(lastError())")
            // On a GPU that does not exist: well-formed arguments end in no-device, bad ones are named first.
            #expect(flashmla_swift_get_sparse_metadata(absentDevice, nil, onGPU[0].raw, nil, 16, onGPU[1].raw, onGPU[2].raw)
                    == ABIStatus.noDevice.rawValue)
            #expect(flashmla_swift_get_sparse_metadata(absentDevice, nil, onGPU[0].raw, nil, 16, onGPU[1].raw, onGPU[3].raw)
                    == ABIStatus.invalidArgument.rawValue)
            #expect(lastError().contains("'numSplits'"), "\(lastError())")
        }
    }
}

/// Dense decoding with `attn_sink` through `flashmla_swift_decode_kv_sink` on the CPU device.
@Suite struct ABISinkTests {
    /// A random bf16 problem (NaN past each request's end) and its schedule through the ABI.
    static func problem() throws -> (RandomProblem, Tensor, Tensor) {
        let config = ProblemConfig(cacheSeqlens: [0, 130, 64, 700], queryLength: 2, queryHeads: 8, kvHeads: 2,
                                   causal: true, elementType: .bfloat16, pageSize: 48)
        let problem = RandomProblem(config, seed: 5)
        var parts: Int64 = 0
        #expect(flashmla_swift_num_sm_parts(Devices.cpu, 8, 2, &parts) == 0)
        let schedule = Tensor(hostElementType: .int32, shape: [Int(parts), 8])
        let splits = Tensor(hostElementType: .int32, shape: [5])
        let d = [hostDescriptor(problem.cacheSeqlens), hostDescriptor(schedule), hostDescriptor(splits)]
        let status = withExtendedLifetime(d) {
            flashmla_swift_get_metadata(Devices.cpu, nil, d[0].raw, 8, 2, d[1].raw, d[2].raw)
        }
        try #require(status == 0, "\(lastError())")
        return (problem, schedule, splits)
    }

    static func decode(_ problem: RandomProblem, _ schedule: Tensor, _ splits: Tensor, sink: Tensor?) -> (Int32, Tensor, Tensor) {
        let out = Tensor(hostElementType: .bfloat16, shape: [4, 2, 8, 512])
        let lse = Tensor(hostElementType: .float32, shape: [4, 8, 2])
        HostElements(out.view).fill(.nan)
        HostElements(lse.view).fill(.nan)
        let d = [problem.q, problem.kCache, problem.blockTable, problem.cacheSeqlens, schedule, splits, out, lse]
            .map(hostDescriptor)
        let sinkDescriptor = sink.map(hostDescriptor)
        let status = withExtendedLifetime((d, sinkDescriptor)) {
            flashmla_swift_decode_kv_sink(Devices.cpu, nil, d[0].raw, d[1].raw, d[2].raw, d[3].raw, d[4].raw, d[5].raw,
                                          512, 0.04, 1, 0, 1, sinkDescriptor?.raw, d[6].raw, d[7].raw, nil)
        }
        return (status, out, lse)
    }

    @Test("dense decode with a sink equals the Swift CPU path bit for bit; NULL sink equals flashmla_swift_decode")
    func denseSink() throws {
        let (problem, schedule, splits) = try Self.problem()
        let sink = Tensor([.infinity, -.infinity, 0.5, 3, -2, 0, 1, 8], as: .float32, shape: [8])
        let (status, out, lse) = Self.decode(problem, schedule, splits, sink: sink)
        try #require(status == 0, "\(lastError())")
        let engine = try MLAEngine(backend: .cpu)
        let metadata = try engine.getMLAMetadata(cacheSeqlens: problem.cacheSeqlens.view, rowsPerKVHead: 8, kvHeads: 2)
        let swift = try engine.flashMLAWithKVCache(q: problem.q.view, kCache: problem.kCache.view,
                                                   blockTable: problem.blockTable.view, cacheSeqlens: problem.cacheSeqlens.view,
                                                   headDimV: 512, metadata: metadata, softmaxScale: 0.04, causal: true,
                                                   attnSink: sink.view)
        #expect(bits(out) == bits(swift.out) && bits(lse) == bits(swift.lse))
        #expect(!HostElements(out.view).load().contains { $0.isNaN })
        // Request 1, head 0 (sink +inf) is zero; head 1 (−inf) is the output without a sink.
        let (plainStatus, plain, plainLSE) = Self.decode(problem, schedule, splits, sink: nil)
        #expect(plainStatus == 0 && bits(plainLSE) == bits(lse))
        let values = HostElements(out.view).load(), reference = HostElements(plain.view).load()
        let head0 = ((1 * 2 + 0) * 8 + 0) * 512, head1 = head0 + 512
        #expect(values[head0 ..< head0 + 512].allSatisfy { $0 == 0 })
        #expect(Array(values[head1 ..< head1 + 512]) == Array(reference[head1 ..< head1 + 512]))
        let old = Tensor(hostElementType: .bfloat16, shape: [4, 2, 8, 512])
        let oldLSE = Tensor(hostElementType: .float32, shape: [4, 8, 2])
        let d = [problem.q, problem.kCache, problem.blockTable, problem.cacheSeqlens, schedule, splits, old, oldLSE]
            .map(hostDescriptor)
        let oldStatus = withExtendedLifetime(d) {
            flashmla_swift_decode(Devices.cpu, nil, d[0].raw, d[1].raw, d[2].raw, d[3].raw, d[4].raw, d[5].raw, 512, 0.04, 1,
                                  d[6].raw, d[7].raw, nil)
        }
        #expect(oldStatus == 0, "\(lastError())")
        #expect(bits(old) == bits(plain) && bits(oldLSE) == bits(plainLSE))
    }

    @Test("a bad sink is named and nothing is written; other lengths than the schedule's are named 'metadata'")
    func badSink() throws {
        let (problem, schedule, splits) = try Self.problem()
        for (sink, fragment) in [(Tensor(hostElementType: .float32, shape: [7]), "float32[8]"),
                                 (Tensor(hostElementType: .float16, shape: [8]), "given float16"),
                                 (Tensor(hostElementType: .float32, shape: [8, 1]), "rank 1")] {
            let (status, out, lse) = Self.decode(problem, schedule, splits, sink: sink)
            #expect(status == ABIStatus.invalidArgument.rawValue, "\(lastError())")
            #expect(lastError().contains("'attnSink'") && lastError().contains(fragment), "\(lastError())")
            let untouched = HostElements(out.view).load().allSatisfy { $0.isNaN } && HostElements(lse.view).load().allSatisfy { $0.isNaN }
            #expect(untouched)
        }
        HostElements(splits.view).storeInt32([0, 1, 2, 3, 9])
        let (status, _, _) = Self.decode(problem, schedule, splits, sink: nil)
        #expect(status == ABIStatus.invalidArgument.rawValue && lastError().contains("'metadata'"), "\(lastError())")
    }
}

/// The validate functions: the decode calls' checks on their inputs alone, without outputs or a device.
@Suite struct ABIValidateTests {
    private func validateDense(_ call: DecodeCall, metadata: Bool = true, sink: Descriptor? = nil) -> (Int32, String) {
        let status = flashmla_swift_validate_decode(
            call.device, call.q?.raw, call.kCache?.raw, call.blockTable?.raw, call.cacheSeqlens?.raw,
            metadata ? call.tileSchedulerMetadata?.raw : nil, metadata ? call.numSplits?.raw : nil,
            call.headDimV, call.softmaxScale, call.causal, call.kvFormat ?? 0, call.kScale, sink?.raw)
        return (status, lastError())
    }

    @Test("well-formed inputs pass on a device that does not exist; each bad one is named as decode names it")
    func dense() {
        #expect(validateDense(DecodeCall()).0 == ABIStatus.ok.rawValue)
        #expect(validateDense(DecodeCall(), metadata: false).0 == ABIStatus.ok.rawValue)
        #expect(validateDense(DecodeCall(), sink: Descriptor(Code.float32, [16])).0 == ABIStatus.ok.rawValue)
        var call = DecodeCall()
        call.q = Descriptor(Code.bfloat16, [2, 16, 576])
        var result = validateDense(call)
        #expect(result.0 == 1 && result.1.contains("'q'") && result.1.contains("rank 4"), "\(result.1)")
        #expect(result.1 == call.run().message)   // the same message decode gives
        call = DecodeCall()
        call.headDimV = 576
        result = validateDense(call)
        #expect(result.0 == 1 && result.1 == "invalid argument 'headDimV': expected 512, given 576")
        call = DecodeCall()
        call.numSplits = Descriptor(Code.int32, [2])
        #expect(validateDense(call).1.contains("'numSplits'"))
        #expect(validateDense(call, metadata: false).0 == ABIStatus.ok.rawValue)
        call = DecodeCall()
        call.numSplits = nil   // one of the pair alone
        result = validateDense(call)
        #expect(result.0 == 1 && result.1.contains("'numSplits'") && result.1.contains("NULL"), "\(result.1)")
        result = validateDense(DecodeCall(), sink: Descriptor(Code.float32, [15]))
        #expect(result.0 == 1 && result.1.contains("'attnSink'"), "\(result.1)")
        call = DecodeCall()
        call.q = Descriptor(Code.bfloat16, [2, 1, 16, 576], data: 0x7f00_0000_0008)
        result = validateDense(call)
        #expect(result.0 == 1 && result.1.contains("16-byte aligned"), "\(result.1)")
        call = DecodeCall()
        call.device = -5
        #expect(validateDense(call).1.contains("'device'"))
    }

    @Test("the sparse validate and the metadata validate")
    func sparseAndMetadata() {
        let q = Descriptor(Code.bfloat16, [2, 1, 64, 576], data: 0x7f00_0000_0000)
        let cache = Descriptor(Code.uint8, [9, 64, 1, 656], data: 0x7f00_1000_0000)
        let indices = Descriptor(Code.int32, [2, 1, 2048], data: 0x7f00_2000_0000)
        let lengths = Descriptor(Code.int32, [2], data: 0x7f00_3000_0000)
        let sink = Descriptor(Code.float32, [64], data: 0x7f00_4000_0000)
        func validate(_ i: Descriptor?, _ l: Descriptor?, format: Int32 = 2) -> (Int32, String) {
            let status = flashmla_swift_validate_sparse_decode(absentDevice, q.raw, cache.raw, i?.raw, l?.raw, nil, nil,
                                                               512, 0.04, format, sink.raw)
            return (status, lastError())
        }
        #expect(validate(indices, lengths).0 == ABIStatus.ok.rawValue)
        #expect(validate(indices, nil).0 == ABIStatus.ok.rawValue)
        #expect(validate(nil, lengths).1.contains("'indices'"))
        #expect(validate(indices, Descriptor(Code.int32, [3])).1.contains("'topkLength'"))
        #expect(validate(indices, lengths, format: 0).1.contains("'kCache'"))
        #expect(validate(Descriptor(Code.int32, [2, 2, 2048]), lengths).1.contains("'indices'"))

        let seqlens = Descriptor(Code.int32, [3], data: 0x7f00_3000_0000)
        #expect(flashmla_swift_validate_metadata(absentDevice, seqlens.raw, 16, 1) == ABIStatus.ok.rawValue)
        #expect(flashmla_swift_validate_metadata(absentDevice, seqlens.raw, 0, 1) == 1 && lastError().contains("'rowsPerKVHead'"))
        let floats = Descriptor(Code.float32, [3])
        #expect(withExtendedLifetime(floats) { flashmla_swift_validate_metadata(absentDevice, floats.raw, 16, 1) } == 1)
        #expect(lastError() == "invalid argument 'cacheSeqlens': expected int32, given float32")
        let negative = Tensor([4, -1, 2], shape: [3])
        let negativeDescriptor = hostDescriptor(negative)
        #expect(withExtendedLifetime((negative, negativeDescriptor)) {
            flashmla_swift_validate_metadata(Devices.cpu, negativeDescriptor.raw, 16, 1)
        } == 1)
        #expect(lastError().contains("'cacheSeqlens[1]'"))
    }
}
