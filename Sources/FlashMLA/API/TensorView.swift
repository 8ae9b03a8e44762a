// TensorView: a strided view of host or device memory, and TensorStorage.
/// Where a tensor's elements live.
public enum TensorStorage: Equatable, @unchecked Sendable {
    /// Host memory at this address.
    case host(UnsafeMutableRawPointer)
    /// Device memory of the CUDA device with this ordinal, at this device address.
    case device(ordinal: Int, address: UInt64)

    /// The device ordinal, or `nil` for host memory.
    public var deviceOrdinal: Int? {
        if case let .device(ordinal, _) = self { return ordinal }
        return nil
    }
}

/// A typed, strided, non-owning view of a tensor in host or device memory.
///
/// Strides count elements, not bytes. A view does not keep its memory alive: whoever
/// made it (a ``Tensor``, a PyTorch tensor, a caller's buffer) must outlive its use.
public struct TensorView: Equatable, @unchecked Sendable {
    /// The type of every element.
    public var elementType: ElementType
    /// The extent of each dimension, outermost first.
    public var shape: [Int]
    /// The distance in elements between neighbours along each dimension.
    public var strides: [Int]
    /// The memory holding element `[0, 0, …]`.
    public var storage: TensorStorage

    /// Creates a view; `strides` default to the contiguous (row-major) ones.
    public init(elementType: ElementType, shape: [Int], strides: [Int]? = nil, storage: TensorStorage) {
        self.elementType = elementType
        self.shape = shape
        self.strides = strides ?? TensorView.contiguousStrides(for: shape)
        self.storage = storage
    }

    /// The row-major strides of a contiguous tensor of this shape.
    public static func contiguousStrides(for shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var step = 1
        for axis in shape.indices.reversed() {
            strides[axis] = step
            step *= max(shape[axis], 1)
        }
        return strides
    }

    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// The number of elements.
    public var elementCount: Int { shape.reduce(1, *) }

    /// Whether the elements are laid out row-major with no gaps (size-1 dimensions may have any stride).
    public var isContiguous: Bool {
        let expected = TensorView.contiguousStrides(for: shape)
        return shape.indices.allSatisfy { shape[$0] <= 1 || strides[$0] == expected[$0] }
    }

    /// The host address of the first element, or `nil` for device memory.
    public var hostPointer: UnsafeMutableRawPointer? {
        if case let .host(pointer) = storage { return pointer }
        return nil
    }

    /// The device address of the first element, or `nil` for host memory.
    public var deviceAddress: UInt64? {
        if case let .device(_, address) = storage { return address }
        return nil
    }

    /// A description such as `bfloat16[2, 1, 16, 576]`.
    public var shapeDescription: String {
        "\(elementType)[\(shape.map(String.init).joined(separator: ", "))]"
    }
}
