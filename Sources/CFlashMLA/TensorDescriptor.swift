// The C ABI's status codes, failures, dtype codes and tensor descriptors.
import FlashMLA

/// The status codes of the C ABI (`FLASHMLA_SWIFT_OK`, `FLASHMLA_SWIFT_ERROR_*` in `flashmla_swift.h`).
public enum ABIStatus: Int32, Sendable {
    case ok = 0
    case invalidArgument = 1
    case unsupportedDevice = 2
    case backend = 3
    case noDevice = 4
}

/// A failure of an ABI call: its status code and the message `flashmla_swift_last_error` returns.
struct ABIFailure: Error {
    var status: ABIStatus
    var message: String

    init(status: ABIStatus, message: String) {
        self.status = status
        self.message = message
    }

    /// The code and text of a library error.
    init(_ error: MLAError) {
        switch error {
        case .invalidArgument: status = .invalidArgument
        case .unsupportedDevice: status = .unsupportedDevice
        case .backend: status = .backend
        }
        message = error.description
    }

    /// An invalid-argument failure in the library's wording.
    static func invalid(_ argument: String, expected: String, given: String) -> ABIFailure {
        ABIFailure(MLAError.invalidArgument(argument: argument, expected: expected, given: given))
    }
}

/// The element type codes (`FLASHMLA_SWIFT_DTYPE_*`).
enum DTypeCode {
    static func elementType(_ code: Int32) -> ElementType? {
        switch code {
        case 1: .bfloat16
        case 2: .float16
        case 3: .float32
        case 4: .int32
        case 5: .float8E4M3
        case 6: .uint8
        default: nil
        }
    }

    static let accepted = "1 (bfloat16), 2 (float16), 3 (float32), 4 (int32), 5 (float8_e4m3) or 6 (uint8)"
}

/// The layout of `flashmla_swift_tensor`: `uint64_t data; int32_t dtype; int32_t rank;
/// int64_t shape[8]; int64_t strides[8];`, 144 bytes with no padding.
enum TensorDescriptor {
    static let maxRank = 8
    static let dataOffset = 0
    static let dtypeOffset = 8
    static let rankOffset = 12
    static let shapeOffset = 16
    static let stridesOffset = 16 + 8 * maxRank
    static let byteCount = 16 + 16 * maxRank
    /// Extents above this are refused (the kernels index with 32-bit counts).
    static let maxExtent = Int(Int32.max)
    /// Tensors with more elements than this are refused (2^48), so that no size computation overflows.
    static let maxElements = 1 << 48

    /// Stands in for the address of an empty host tensor given as 0 (never read).
    nonisolated(unsafe) private static let emptyHost = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 16)

    /// The view a descriptor describes, in the memory `backend` reads: host memory for the CPU
    /// device, that device's memory for a CUDA device.
    ///
    /// Checks what the library cannot: the pointer, the type code, the rank, extents and
    /// strides in range, and a non-null address for a tensor with elements.
    static func view(_ pointer: UnsafeRawPointer?, _ argument: String, backend: Backend) throws(ABIFailure) -> TensorView {
        guard let pointer else {
            throw .invalid(argument, expected: "a flashmla_swift_tensor", given: "NULL")
        }
        let data = pointer.loadUnaligned(fromByteOffset: dataOffset, as: UInt64.self)
        let code = pointer.loadUnaligned(fromByteOffset: dtypeOffset, as: Int32.self)
        let rank = Int(pointer.loadUnaligned(fromByteOffset: rankOffset, as: Int32.self))
        guard let elementType = DTypeCode.elementType(code) else {
            throw .invalid(argument, expected: "dtype \(DTypeCode.accepted)", given: "dtype \(code)")
        }
        guard (0...maxRank).contains(rank) else {
            throw .invalid(argument, expected: "rank 0...\(maxRank)", given: "rank \(rank)")
        }
        var shape: [Int] = [], strides: [Int] = []
        shape.reserveCapacity(rank)
        strides.reserveCapacity(rank)
        for axis in 0..<rank {
            shape.append(Int(pointer.loadUnaligned(fromByteOffset: shapeOffset + 8 * axis, as: Int64.self)))
            strides.append(Int(pointer.loadUnaligned(fromByteOffset: stridesOffset + 8 * axis, as: Int64.self)))
        }
        guard shape.allSatisfy({ (0...maxExtent).contains($0) }) else {
            throw .invalid(argument, expected: "every extent in 0...\(maxExtent)", given: "shape \(shape)")
        }
        guard strides.allSatisfy({ (0...maxElements).contains($0) }) else {
            throw .invalid(argument, expected: "every stride in 0...\(maxElements) elements", given: "strides \(strides)")
        }
        var elements = 1, span = 1
        for axis in 0..<rank {
            let (count, countOverflow) = elements.multipliedReportingOverflow(by: shape[axis])
            let (reach, reachOverflow) = strides[axis].multipliedReportingOverflow(by: max(shape[axis] - 1, 0))
            guard !countOverflow, !reachOverflow, count <= maxElements, reach <= maxElements else {
                throw .invalid(argument, expected: "at most \(maxElements) elements and as many elements spanned",
                               given: "shape \(shape), strides \(strides)")
            }
            elements = count
            span += reach
            guard span <= maxElements else {
                throw .invalid(argument, expected: "at most \(maxElements) elements spanned",
                               given: "shape \(shape), strides \(strides)")
            }
        }
        guard data != 0 || elements == 0 else {
            throw .invalid(argument, expected: "a device address", given: "data 0 for \(elementType)\(shape)")
        }
        let storage: TensorStorage = switch backend {
        case .cpu: .host(UnsafeMutableRawPointer(bitPattern: UInt(data)) ?? emptyHost)
        case let .cuda(ordinal): .device(ordinal: ordinal, address: data)
        }
        return TensorView(elementType: elementType, shape: shape, strides: strides, storage: storage)
    }

    /// ``view(_:_:backend:)`` for an optional argument: nil for a NULL pointer.
    static func optionalView(_ pointer: UnsafeRawPointer?, _ argument: String, backend: Backend) throws(ABIFailure) -> TensorView? {
        guard pointer != nil else { return nil }
        return try view(pointer, argument, backend: backend)
    }

    /// The sparse selection of `indices` and the optional `topkLength` (NULL: every entry counts).
    static func sparse(_ indices: UnsafeRawPointer?, _ topkLength: UnsafeRawPointer?, backend: Backend) throws(ABIFailure) -> SparseIndices {
        SparseIndices(indices: try view(indices, "indices", backend: backend),
                      topkLength: try optionalView(topkLength, "topkLength", backend: backend))
    }
}
