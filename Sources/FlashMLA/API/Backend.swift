// Backend: where the attention runs (CPU or a CUDA device).
import CUDADriver
import NVRTC

/// Where the attention runs.
public enum Backend: Sendable, Equatable, CustomStringConvertible {
    /// The Float32 reference on the host, parallel over (request, KV head).
    case cpu
    /// The CUDA device with this ordinal; kernels are compiled by NVRTC for its architecture.
    case cuda(device: Int)

    /// `.cuda(device: 0)` when the driver loads, a device of compute capability 8.0 or newer
    /// exists and NVRTC is found; `.cpu` otherwise.
    public static func automatic() -> Backend {
        guard let driver = try? CUDADriver.shared(),
              (try? driver.deviceCount()) ?? 0 > 0,
              let device = try? Device(ordinal: 0),
              device.computeCapability.major >= 8,
              (try? NVRTCLibrary.load()) != nil
        else { return .cpu }
        return .cuda(device: 0)
    }

    public var description: String {
        switch self {
        case .cpu: "cpu"
        case let .cuda(device): "cuda:\(device)"
        }
    }
}
