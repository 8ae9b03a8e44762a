// DeviceAllocation: a shared owner of one device allocation.
import CUDADriver

/// A reference-counted owner of one device allocation, so that tensors, metadata and
/// workspaces can share and outlive the scope that made them.
public final class DeviceAllocation: @unchecked Sendable {
    /// The owned memory.
    public let buffer: DeviceBuffer

    /// Allocates `byteCount` bytes on `device`.
    public init(device: Device, byteCount: Int) throws(MLAError) {
        buffer = try cuda { () throws(CUDAError) in try DeviceBuffer(device: device, byteCount: byteCount) }
    }

    /// The device address of the first byte.
    public var address: UInt64 { buffer.address }
}

/// Runs a driver call, turning its error into ``MLAError/backend(_:)``.
func cuda<Result: ~Copyable>(_ body: () throws(CUDAError) -> Result) throws(MLAError) -> Result {
    do {
        return try body()
    } catch {
        throw .backend(error.description)
    }
}
