// Tests of the decode call's argument checks.
import Testing
import FlashMLATesting
@testable import FlashMLA

/// One invalid argument of the decode call.
struct InvalidCase: Sendable, CustomTestStringConvertible {
    /// What is wrong.
    let label: String
    /// The argument the error must name.
    let argument: String
    /// Text the error's `given` (or, when `inExpected`, its `expected`) must contain.
    let mention: String
    let inExpected: Bool
    let change: @Sendable (inout CallArguments, RandomProblem) -> Void

    init(_ label: String, _ argument: String, _ mention: String, inExpected: Bool = false,
         _ change: @escaping @Sendable (inout CallArguments, RandomProblem) -> Void) {
        self.label = label
        self.argument = argument
        self.mention = mention
        self.inExpected = inExpected
        self.change = change
    }

    var testDescription: String { label }
}

/// Every bad input of the decode call throws `.invalidArgument` naming it, before any write.
@Suite struct ValidationTests {
    /// b 2, s_q 2, h_q 4, h_kv 2; 6 pages (3 unused), block table [2, 3].
    static let spec = ProblemConfig(cacheSeqlens: [70, 5], queryLength: 2, queryHeads: 4, kvHeads: 2, causal: true,
                                  elementType: .bfloat16)

    static func doubled(_ shape: [Int]) -> [Int] { TensorView.contiguousStrides(for: shape).map { $0 * 2 } }
    static func padded(_ shape: [Int]) -> [Int] {
        var strides = TensorView.contiguousStrides(for: shape)
        for axis in strides.indices.dropLast() { strides[axis] *= 2 }
        return strides
    }
    static func table(_ problem: RandomProblem, _ edit: (inout [[Int32]]) -> Void) -> [Int32] {
        var table = problem.blockTableRows
        edit(&table)
        return table.flatMap { $0 }
    }
    static func metadata(lengths: [Int32], rowsPerKVHead: Int = 4, kvHeads: Int = 2) -> MLAMetadata {
        let engine = try! MLAEngine(backend: .cpu, cpuMultiprocessors: 7)
        let seqlens = Tensor(lengths, shape: [lengths.count])
        return withExtendedLifetime(seqlens) {
            try! engine.getMLAMetadata(cacheSeqlens: seqlens.view, rowsPerKVHead: rowsPerKVHead,
                                       kvHeads: kvHeads)
        }
    }

    static let cases: [InvalidCase] = [
        // q
        .init("q of rank 3", "q", "rank 3") { a, _ in a.q = a.tensor(.bfloat16, [4, 4, 576]) },
        .init("q head dim 512", "q", "512") { a, _ in a.q = a.tensor(.bfloat16, [2, 2, 4, 512]) },
        .init("q float32", "q", "float32") { a, _ in a.q = a.tensor(.float32, [2, 2, 4, 576]) },
        .init("q int32", "q", "int32") { a, _ in a.q = a.tensor(.int32, [2, 2, 4, 576]) },
        .init("q without requests", "q", "[0, 2, 4, 576]") { a, _ in a.q = a.tensor(.bfloat16, [0, 2, 4, 576]) },
        .init("q without query tokens", "q", "[2, 0, 4, 576]") { a, _ in a.q = a.tensor(.bfloat16, [2, 0, 4, 576]) },
        .init("q without heads", "q", "[2, 2, 0, 576]") { a, _ in a.q = a.tensor(.bfloat16, [2, 2, 0, 576]) },
        .init("q innermost stride 2", "q", "strides") { a, _ in
            a.q = a.tensor(.bfloat16, [2, 2, 4, 576], strides: doubled([2, 2, 4, 576]))
        },
        .init("q in device memory", "q", "device memory of cuda:0") { a, _ in a.q = CallArguments.onDevice(a.q) },
        // kCache
        .init("kCache of rank 3", "kCache", "rank 3") { a, _ in a.kCache = a.tensor(.bfloat16, [6, 64, 1152]) },
        .init("kCache float16 with bfloat16 q", "kCache", "float16") { a, _ in
            a.kCache = a.tensor(.float16, [6, 64, 2, 576])
        },
        .init("kCache pages of 300", "kCache", "300") { a, _ in a.kCache = a.tensor(.bfloat16, [2, 300, 2, 576]) },
        .init("kCache head dim 512", "kCache", "512") { a, _ in a.kCache = a.tensor(.bfloat16, [6, 64, 2, 512]) },
        .init("h_kv not dividing h_q", "kCache", "h_kv = 3") { a, _ in a.kCache = a.tensor(.bfloat16, [6, 64, 3, 576]) },
        .init("kCache without KV heads", "kCache", "[6, 64, 0, 576]") { a, _ in
            a.kCache = a.tensor(.bfloat16, [6, 64, 0, 576])
        },
        .init("kCache innermost stride 2", "kCache", "strides") { a, _ in
            a.kCache = a.tensor(.bfloat16, [6, 64, 2, 576], strides: doubled([6, 64, 2, 576]))
        },
        .init("kCache in device memory", "kCache", "device memory of cuda:0") { a, _ in
            a.kCache = CallArguments.onDevice(a.kCache)
        },
        // headDimV
        .init("headDimV 576", "headDimV", "576") { a, _ in a.headDimV = 576 },
        .init("headDimV 0", "headDimV", "0") { a, _ in a.headDimV = 0 },
        // blockTable
        .init("blockTable of rank 1", "blockTable", "rank 1") { a, _ in a.blockTable = a.tensor(.int32, [6]) },
        .init("blockTable float32", "blockTable", "float32") { a, _ in a.blockTable = a.tensor(.float32, [2, 3]) },
        .init("blockTable with 3 rows", "blockTable", "[3, 3]") { a, _ in a.blockTable = a.tensor(.int32, [3, 3]) },
        .init("blockTable innermost stride 2", "blockTable", "strides") { a, _ in
            a.blockTable = a.tensor(.int32, [2, 3], strides: [6, 2])
        },
        .init("blockTable in device memory", "blockTable", "device memory of cuda:0") { a, _ in
            a.blockTable = CallArguments.onDevice(a.blockTable)
        },
        .init("a used page past the cache", "blockTable[0][1]", "6") { a, p in
            a.blockTable = a.tensor(.int32, [2, 3], int32Values: table(p) { $0[0][1] = 6 })
        },
        .init("a negative used page", "blockTable[1][0]", "-3") { a, p in
            a.blockTable = a.tensor(.int32, [2, 3], int32Values: table(p) { $0[1][0] = -3 })
        },
        // cacheSeqlens
        .init("cacheSeqlens of rank 2", "cacheSeqlens", "rank 2") { a, _ in a.cacheSeqlens = a.tensor(.int32, [2, 1]) },
        .init("cacheSeqlens float32", "cacheSeqlens", "float32") { a, _ in a.cacheSeqlens = a.tensor(.float32, [2]) },
        .init("cacheSeqlens of 3", "cacheSeqlens", "int32[3]") { a, _ in a.cacheSeqlens = a.tensor(.int32, [3]) },
        .init("cacheSeqlens strided", "cacheSeqlens", "strides") { a, _ in
            a.cacheSeqlens = a.tensor(.int32, [2], strides: [2])
        },
        .init("cacheSeqlens in device memory", "cacheSeqlens", "device memory of cuda:0") { a, _ in
            a.cacheSeqlens = CallArguments.onDevice(a.cacheSeqlens)
        },
        .init("a negative length", "cacheSeqlens[1]", "-1") { a, _ in
            a.cacheSeqlens = a.tensor(.int32, [2], int32Values: [70, -1])
        },
        .init("a length past the block-table row", "cacheSeqlens[0]", "1000") { a, _ in
            a.cacheSeqlens = a.tensor(.int32, [2], int32Values: [1000, 5])
        },
        .init("a length past the block-table row, expected range", "cacheSeqlens[0]", "0...192", inExpected: true) { a, _ in
            a.cacheSeqlens = a.tensor(.int32, [2], int32Values: [193, 5])
        },
        // out
        .init("out of rank 3", "out", "rank 3") { a, _ in a.out = a.tensor(.bfloat16, [4, 4, 512]) },
        .init("out head dim 576", "out", "576") { a, _ in a.out = a.tensor(.bfloat16, [2, 2, 4, 576]) },
        .init("out float16", "out", "float16") { a, _ in a.out = a.tensor(.float16, [2, 2, 4, 512]) },
        .init("out with padded rows", "out", "strides") { a, _ in
            a.out = a.tensor(.bfloat16, [2, 2, 4, 512], strides: padded([2, 2, 4, 512]))
        },
        .init("out in device memory", "out", "device memory of cuda:0") { a, _ in a.out = CallArguments.onDevice(a.out) },
        // lse
        .init("lse of rank 4", "lse", "rank 4") { a, _ in a.lse = a.tensor(.float32, [2, 4, 2, 1]) },
        .init("lse bfloat16", "lse", "bfloat16") { a, _ in a.lse = a.tensor(.bfloat16, [2, 4, 2]) },
        .init("lse as [b, s_q, h_q]", "lse", "[2, 2, 4]") { a, _ in a.lse = a.tensor(.float32, [2, 2, 4]) },
        .init("lse with padded rows", "lse", "strides") { a, _ in
            a.lse = a.tensor(.float32, [2, 4, 2], strides: padded([2, 4, 2]))
        },
        .init("lse in device memory", "lse", "device memory of cuda:0") { a, _ in a.lse = CallArguments.onDevice(a.lse) },
        // metadata
        .init("metadata for 3 requests", "metadata", "b=3") { a, _ in a.metadata = metadata(lengths: [70, 5, 9]) },
        .init("metadata for other heads", "metadata", "kvHeads=1") { a, _ in
            a.metadata = metadata(lengths: [70, 5], rowsPerKVHead: 8, kvHeads: 1)
        },
        .init("metadata for other lengths", "metadata", "numSplits") { a, _ in
            a.metadata = metadata(lengths: [700, 5])
        },
        .init("metadata without a host schedule", "metadata", "without") { a, _ in
            let m = a.metadata
            a.metadata = MLAMetadata(shape: m.shape, tileSchedulerMetadata: m.tileSchedulerMetadata,
                                     numSplits: m.numSplits, hostSchedule: nil, owners: [m])
        },
        .init("tileSchedulerMetadata float32", "tileSchedulerMetadata", "float32") { a, _ in
            let m = a.metadata
            a.metadata = MLAMetadata(shape: m.shape, tileSchedulerMetadata: a.tensor(.float32, m.tileSchedulerMetadata.shape),
                                     numSplits: m.numSplits, hostSchedule: m.hostSchedule, owners: [m])
        },
        .init("tileSchedulerMetadata of 7 columns", "tileSchedulerMetadata", "int32[3, 8]", inExpected: true) { a, _ in
            let m = a.metadata
            a.metadata = MLAMetadata(shape: m.shape, tileSchedulerMetadata: a.tensor(.int32, [3, 7]),
                                     numSplits: m.numSplits, hostSchedule: m.hostSchedule, owners: [m])
        },
        .init("numSplits strided", "numSplits", "strides [2]") { a, _ in
            let m = a.metadata
            a.metadata = MLAMetadata(shape: m.shape, tileSchedulerMetadata: m.tileSchedulerMetadata,
                                     numSplits: a.tensor(.int32, [3], strides: [2]), hostSchedule: m.hostSchedule, owners: [m])
        },
        .init("numSplits in device memory", "numSplits", "device memory of cuda:0") { a, _ in
            let m = a.metadata
            a.metadata = MLAMetadata(shape: m.shape, tileSchedulerMetadata: m.tileSchedulerMetadata,
                                     numSplits: CallArguments.onDevice(m.numSplits), hostSchedule: m.hostSchedule, owners: [m])
        },
        // softmaxScale
        .init("softmaxScale 0", "softmaxScale", "0.0") { a, _ in a.softmaxScale = 0 },
        .init("softmaxScale negative", "softmaxScale", "-1.0") { a, _ in a.softmaxScale = -1 },
        .init("softmaxScale NaN", "softmaxScale", "nan") { a, _ in a.softmaxScale = .nan },
        .init("softmaxScale infinite", "softmaxScale", "inf") { a, _ in a.softmaxScale = .infinity },
    ]

    /// A valid call on a fresh random problem, with NaN-filled outputs.
    private static func fixture() throws -> (MLAEngine, RandomProblem, CallArguments, Tensor, Tensor) {
        var generator = SeededGenerator.fresh()
        let problem = RandomProblem(spec, using: &generator)
        let engine = try MLAEngine(backend: .cpu, cpuMultiprocessors: 7)
        let (out, lse) = problem.poisonedOutputs()
        let arguments = CallArguments(problem, metadata: try problem.metadata(multiprocessors: 7), out: out, lse: lse)
        return (engine, problem, arguments, out, lse)
    }

    @Test("rejects", arguments: cases)
    func rejects(_ invalid: InvalidCase) throws {
        let (engine, problem, valid, out, lse) = try Self.fixture()
        var arguments = valid
        invalid.change(&arguments, problem)
        let before = [rawBits(out.view), rawBits(lse.view), rawBits(arguments.out), rawBits(arguments.lse)]

        let error = #expect(throws: MLAError.self) { try arguments.call(engine) }
        guard case let .invalidArgument(argument, expected, given)? = error else {
            Issue.record("expected .invalidArgument, got \(String(describing: error))")
            return
        }
        #expect(argument == invalid.argument, "\(error!)")
        #expect((invalid.inExpected ? expected : given).contains(invalid.mention), "\(error!)")
        let after = [rawBits(out.view), rawBits(lse.view), rawBits(arguments.out), rawBits(arguments.lse)]
        #expect(after == before, "an output was written")
        #expect(after[0].allSatisfy { Float(bitPattern: $0 << 16).isNaN } && after[1].allSatisfy { Float(bitPattern: $0).isNaN })
    }

    @Test("the unchanged arguments are valid and the default scale is 1/√576")
    func validArguments() throws {
        let (engine, _, arguments, out, _) = try Self.fixture()
        #expect(try arguments.problem(backend: .cpu).softmaxScale == 1 / 24)
        var scaled = arguments
        scaled.softmaxScale = 0.5
        #expect(try scaled.problem(backend: .cpu).softmaxScale == 0.5)
        let problem = try arguments.problem(backend: .cpu)
        #expect(problem.batchSize == 2 && problem.queryLength == 2 && problem.queryHeads == 4 && problem.kvHeads == 2)
        #expect(problem.numPages == 6 && problem.maxPagesPerRequest == 3 && problem.rowsPerKVHead == 4)
        try arguments.call(engine)
        #expect(!HostElements(out).load().contains { $0.isNaN })
    }

    @Test("on CUDA, a tensor in host memory or on another device is named")
    func cudaStorage() throws {
        let (_, _, hostArguments, _, _) = try Self.fixture()
        let error = #expect(throws: MLAError.self) { _ = try hostArguments.problem(backend: .cuda(device: 1)) }
        #expect(error == .invalidArgument(argument: "q", expected: "device memory of cuda:1", given: "host memory"))

        var arguments = hostArguments
        for path in [\CallArguments.q, \.kCache, \.blockTable, \.cacheSeqlens, \.out, \.lse] {
            arguments[keyPath: path] = CallArguments.onDevice(arguments[keyPath: path], ordinal: 1)
        }
        arguments.kCache = CallArguments.onDevice(arguments.kCache, ordinal: 0)
        let other = #expect(throws: MLAError.self) { _ = try arguments.problem(backend: .cuda(device: 1)) }
        #expect(other == .invalidArgument(argument: "kCache", expected: "device memory of cuda:1",
                                          given: "device memory of cuda:0"))
    }

    @Test("validate needs no outputs, names what the full call names, and its inputs run with any metadata check once")
    func validationEntryPoint() throws {
        let (engine, problem, arguments, out, lse) = try Self.fixture()
        let inputs = try engine.validate(q: arguments.q, kCache: arguments.kCache, blockTable: arguments.blockTable,
                                         cacheSeqlens: arguments.cacheSeqlens, headDimV: 512, causal: true)
        #expect(inputs.outShape == [2, 2, 4, 512] && inputs.lseShape == [2, 4, 2] && inputs.backend == .cpu)
        try inputs.checkMetadata(arguments.metadata)
        let other = Self.metadata(lengths: [70, 5, 9])
        #expect(throws: MLAError.invalidArgument(argument: "metadata", expected: inputs.metadataShape(numSMParts: 3).description,
                                                 given: other.shape.description)) {
            try inputs.checkMetadata(other)
        }
        let error = #expect(throws: MLAError.self) {
            _ = try engine.validate(q: arguments.q, kCache: arguments.kCache, blockTable: arguments.blockTable,
                                    cacheSeqlens: arguments.cacheSeqlens, headDimV: 576)
        }
        #expect(error == .invalidArgument(argument: "headDimV", expected: "512", given: "576"))
        try engine.flashMLAWithKVCache(DecodeProblem(inputs, metadata: arguments.metadata, out: out.view, lse: lse.view))
        let (allocated, allocatedLSE) = try engine.flashMLAWithKVCache(inputs, metadata: arguments.metadata)
        #expect(rawBits(allocated.view) == rawBits(out.view) && rawBits(allocatedLSE.view) == rawBits(lse.view))
        // Inputs validated for another backend are refused by name.
        var onDevice = arguments
        for path in [\CallArguments.q, \.kCache, \.blockTable, \.cacheSeqlens] {
            onDevice[keyPath: path] = CallArguments.onDevice(onDevice[keyPath: path])
        }
        let cudaInputs = try DecodeInputs(q: onDevice.q, kCache: onDevice.kCache, blockTable: onDevice.blockTable,
                                          cacheSeqlens: onDevice.cacheSeqlens, headDimV: 512, backend: .cuda(device: 0))
        #expect(throws: MLAError.invalidArgument(argument: "inputs", expected: "validated for this engine's backend cpu",
                                                 given: "validated for cuda:0")) {
            _ = try engine.flashMLAWithKVCache(cudaInputs, metadata: arguments.metadata)
        }
        withExtendedLifetime((problem, onDevice)) {}
    }
}
