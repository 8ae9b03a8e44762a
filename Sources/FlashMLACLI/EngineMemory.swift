// EngineMemory: where a benchmark's tensors live for an engine (the GPU's memory or the host's).
import FlashMLA

/// Puts a benchmark's host inputs where `engine` computes (uploaded to its GPU, or kept on the
/// host for the CPU backend) and allocates its outputs there.
struct EngineMemory {
    private let cuda: CUDABackend?

    init(_ engine: MLAEngine) { cuda = engine.cudaBackend }

    /// `host` in the engine's memory: a device copy on CUDA, the tensor itself on the CPU. A
    /// strided view (a MODEL1 cache's padded pages) is copied with the memory it spans and keeps its strides.
    func place(_ host: Tensor) throws -> Tensor {
        guard let cuda else { return host }
        let view = host.view
        guard !view.isContiguous else { return try cuda.upload(view) }
        let span = 1 + zip(view.shape, view.strides).reduce(0) { $0 + ($1.0 - 1) * $1.1 }
        let flat = try cuda.upload(TensorView(elementType: view.elementType, shape: [span], storage: view.storage))
        return Tensor(view: TensorView(elementType: view.elementType, shape: view.shape, strides: view.strides,
                                       storage: flat.view.storage), owner: flat)
    }

    /// A new tensor of `elementType` and `shape` in the engine's memory, contents unspecified.
    func allocate(_ elementType: ElementType, _ shape: [Int]) throws -> Tensor {
        guard let cuda else { return Tensor(hostElementType: elementType, shape: shape) }
        return try cuda.allocate(elementType: elementType, shape: shape)
    }
}
