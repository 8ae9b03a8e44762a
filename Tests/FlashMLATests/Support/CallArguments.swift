// CallArguments: one decode call's arguments, for tests that change one.
import FlashMLATesting
@testable import FlashMLA

/// The arguments of one `flashMLAWithKVCache(…, out:, lse:)` call, valid until a test changes one.
struct CallArguments {
    var q: TensorView
    var kCache: TensorView
    var blockTable: TensorView
    var cacheSeqlens: TensorView
    var headDimV = 512
    var metadata: MLAMetadata
    var softmaxScale: Float?
    var causal = true
    var out: TensorView
    var lse: TensorView
    /// The problem, the outputs and the tensors made for changed arguments, kept alive with the views.
    var keepAlive: [AnyObject] = []

    /// The valid arguments of `problem` with `metadata`, writing into `out` and `lse`.
    init(_ problem: RandomProblem, metadata: MLAMetadata, out: Tensor, lse: Tensor) {
        q = problem.q.view
        kCache = problem.kCache.view
        blockTable = problem.blockTable.view
        cacheSeqlens = problem.cacheSeqlens.view
        self.metadata = metadata
        self.out = out.view
        self.lse = lse.view
        keepAlive = [problem, out, lse]
    }

    /// A new host tensor (kept alive with the arguments), NaN-filled or, for int32, zero-filled,
    /// viewed with `strides` when given (its memory then spans the strided extent).
    mutating func tensor(_ type: ElementType, _ shape: [Int], strides: [Int]? = nil,
                         int32Values: [Int32]? = nil) -> TensorView {
        let strides = strides ?? TensorView.contiguousStrides(for: shape)
        let span = shape.contains(0) ? 1 : zip(shape, strides).reduce(1) { $0 + ($1.0 - 1) * $1.1 }
        let backing: Tensor
        if let values = int32Values, strides == TensorView.contiguousStrides(for: shape) {
            backing = Tensor(values, shape: shape)
        } else {
            backing = Tensor(hostElementType: type, shape: [span])
            HostElements(backing).fill(type == .int32 ? 0 : .nan)
        }
        keepAlive.append(backing)
        return TensorView(elementType: type, shape: shape, strides: strides, storage: backing.view.storage)
    }

    /// The same view in the memory of CUDA device `ordinal` (never dereferenced).
    static func onDevice(_ view: TensorView, ordinal: Int = 0) -> TensorView {
        TensorView(elementType: view.elementType, shape: view.shape, strides: view.strides,
                   storage: .device(ordinal: ordinal, address: 0x10_0000))
    }

    /// Calls the engine with these arguments.
    func call(_ engine: MLAEngine) throws(MLAError) {
        try engine.flashMLAWithKVCache(q: q, kCache: kCache, blockTable: blockTable, cacheSeqlens: cacheSeqlens,
                                       headDimV: headDimV, metadata: metadata, softmaxScale: softmaxScale,
                                       causal: causal, out: out, lse: lse)
    }

    /// Builds the validated problem for `backend` without running it.
    func problem(backend: Backend) throws(MLAError) -> DecodeProblem {
        try DecodeProblem(q: q, kCache: kCache, blockTable: blockTable, cacheSeqlens: cacheSeqlens,
                          headDimV: headDimV, metadata: metadata, softmaxScale: softmaxScale, causal: causal,
                          out: out, lse: lse, backend: backend)
    }
}

/// The raw bytes of a host view's elements, in row-major order, to see whether anything wrote them.
func rawBits(_ view: TensorView) -> [UInt32] {
    guard let base = view.hostPointer else { return [] }
    var bits = [UInt32]()
    HostElements(view).forEachOffset { offset in
        switch view.elementType.byteCount {
        case 2: bits.append(UInt32(base.load(fromByteOffset: offset * 2, as: UInt16.self)))
        default: bits.append(base.load(fromByteOffset: offset * 4, as: UInt32.self))
        }
    }
    return bits
}
