// Placeholder while the CUDA backend is written; replaced in the next commit.
/// The CUDA backend of one device.
public final class CUDABackend: @unchecked Sendable {
    static func shared(device: Int) throws(MLAError) -> CUDABackend {
        throw .unsupportedDevice(device: "cuda:\(device)", reason: "the CUDA backend is not built yet")
    }
    func metadata(cacheSeqlens: TensorView, queryHeadsPerKVHead: Int, kvHeads: Int) throws(MLAError) -> MLAMetadata {
        throw .backend("not built")
    }
    func allocate(elementType: ElementType, shape: [Int]) throws(MLAError) -> Tensor { throw .backend("not built") }
    func decode(_ problem: DecodeProblem, workspace: Workspace?, stream: ExecutionStream?) throws(MLAError) {
        throw .backend("not built")
    }
}
/// Split accumulators for one device.
public final class Workspace: @unchecked Sendable {}
/// A CUDA stream the work is queued on.
public final class ExecutionStream: @unchecked Sendable {}
