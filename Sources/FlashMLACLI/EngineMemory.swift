// EngineMemory: where a benchmark's tensors live for an engine (the GPU's memory or the host's).
import FlashMLA

/// Puts a benchmark's host inputs where `engine` computes (uploaded to its GPU, or kept on the
/// host for the CPU backend) and allocates its outputs there.
struct EngineMemory {
    private let cuda: CUDABackend?

    init(_ engine: MLAEngine) { cuda = engine.cudaBackend }

    /// `host` in the engine's memory: a device copy on CUDA, the tensor itself on the CPU.
    func place(_ host: Tensor) throws -> Tensor {
        guard let cuda else { return host }
        return try cuda.upload(host.view)
    }

    /// A new tensor of `elementType` and `shape` in the engine's memory, contents unspecified.
    func allocate(_ elementType: ElementType, _ shape: [Int]) throws -> Tensor {
        guard let cuda else { return Tensor(hostElementType: elementType, shape: shape) }
        return try cuda.allocate(elementType: elementType, shape: shape)
    }
}
