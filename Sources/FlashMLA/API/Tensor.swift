// Tensor (a tensor that owns its memory) and HostElements (its host values as Float).
/// A tensor that owns its memory: host memory here, device memory for the CUDA backend.
///
/// Made by the allocating API calls and by tests and tools; the library's kernels only
/// ever see its ``view``.
public final class Tensor: @unchecked Sendable {
    /// The contiguous view of the owned memory.
    public let view: TensorView
    private let owner: AnyObject?
    private let hostAllocation: UnsafeMutableRawPointer?

    /// Allocates a contiguous host tensor. Its contents are unspecified until written.
    public init(hostElementType elementType: ElementType, shape: [Int]) {
        let bytes = max(shape.reduce(1, *) * elementType.byteCount, 1)
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        hostAllocation = pointer
        owner = nil
        view = TensorView(elementType: elementType, shape: shape, storage: .host(pointer))
    }

    /// Wraps memory owned by `owner` (a device allocation, say), which the tensor keeps alive.
    public init(view: TensorView, owner: AnyObject) {
        self.view = view
        self.owner = owner
        hostAllocation = nil
    }

    deinit { hostAllocation?.deallocate() }

    /// A host tensor holding `values`, each rounded to `elementType`.
    public convenience init(_ values: [Float], as elementType: ElementType, shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.init(hostElementType: elementType, shape: shape)
        HostElements(view).store(values)
    }

    /// A host tensor holding `values`.
    public convenience init(_ values: [Int32], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.init(hostElementType: .int32, shape: shape)
        view.hostPointer!.withMemoryRebound(to: Int32.self, capacity: values.count) { pointer in
            for index in values.indices { pointer[index] = values[index] }
        }
    }

    /// The shape.
    public var shape: [Int] { view.shape }
    /// The element type.
    public var elementType: ElementType { view.elementType }
}

/// Reads and writes the elements of a host ``TensorView`` as `Float`, honouring strides.
///
/// Writing rounds to the element type: to nearest even for the floating-point types (E4M3
/// saturating to ±448), to the nearest integer clamped to the type's range for the integers.
public struct HostElements: @unchecked Sendable {
    /// The viewed tensor; its storage must be host memory.
    public let view: TensorView
    private let base: UnsafeMutableRawPointer
    /// The tensor whose memory `view` is, kept alive as long as this value (nil for a view of
    /// memory someone else keeps).
    private let owner: Tensor?

    /// Wraps a host view of memory the caller keeps alive for as long as this value is used.
    /// Precondition: `view.storage` is `.host`. For a ``Tensor`` use ``init(_:)-(Tensor)``,
    /// which holds it: `HostElements(tensor.view)` does not, and Swift may free a tensor
    /// after its last use, such as a temporary `cuda.download(x)` right after `.view` is read.
    public init(_ view: TensorView) {
        guard let pointer = view.hostPointer else { preconditionFailure("HostElements needs host memory") }
        self.view = view
        base = pointer
        owner = nil
    }

    /// Wraps a host tensor and keeps it alive as long as this value. Precondition: its memory
    /// is host memory.
    public init(_ tensor: Tensor) {
        guard let pointer = tensor.view.hostPointer else { preconditionFailure("HostElements needs host memory") }
        view = tensor.view
        base = pointer
        owner = tensor
    }

    /// The element offset of a multi-dimensional index.
    @inlinable
    public func offset(_ index: [Int]) -> Int {
        var offset = 0
        for axis in index.indices { offset += index[axis] * view.strides[axis] }
        return offset
    }

    /// The element at `offset` (in elements from the first one) as a `Float`.
    public subscript(offset offset: Int) -> Float {
        get {
            switch view.elementType {
            case .bfloat16: BFloat16(bitPattern: base.load(fromByteOffset: offset * 2, as: UInt16.self)).floatValue
            case .float16: Float(base.load(fromByteOffset: offset * 2, as: Float16.self))
            case .float32: base.load(fromByteOffset: offset * 4, as: Float.self)
            case .int32: Float(base.load(fromByteOffset: offset * 4, as: Int32.self))
            case .float8E4M3: Float8E4M3(bitPattern: base.load(fromByteOffset: offset, as: UInt8.self)).floatValue
            case .uint8: Float(base.load(fromByteOffset: offset, as: UInt8.self))
            }
        }
        nonmutating set {
            switch view.elementType {
            case .bfloat16: base.storeBytes(of: BFloat16(newValue).bitPattern, toByteOffset: offset * 2, as: UInt16.self)
            case .float16: base.storeBytes(of: Float16(newValue), toByteOffset: offset * 2, as: Float16.self)
            case .float32: base.storeBytes(of: newValue, toByteOffset: offset * 4, as: Float.self)
            case .int32: base.storeBytes(of: HostElements.int32(saturating: newValue), toByteOffset: offset * 4, as: Int32.self)
            case .float8E4M3: base.storeBytes(of: Float8E4M3(newValue).bitPattern, toByteOffset: offset, as: UInt8.self)
            case .uint8: base.storeBytes(of: UInt8(newValue.isNaN ? 0 : min(max(newValue.rounded(), 0), 255)),
                                         toByteOffset: offset, as: UInt8.self)
            }
        }
    }

    /// `value` rounded to an `Int32`, saturating at its bounds; NaN becomes `Int32.min`.
    static func int32(saturating value: Float) -> Int32 {
        if value.isNaN || value <= -2_147_483_648 { return .min }
        if value >= 2_147_483_520 { return .max }
        return Int32(value.rounded())
    }

    /// The `Int32` element at `offset`. Precondition: the type is `int32`.
    public func int32(offset: Int) -> Int32 {
        base.load(fromByteOffset: offset * 4, as: Int32.self)
    }

    /// Every element in row-major order of the shape, as `Float`.
    public func load() -> [Float] {
        var result = [Float]()
        result.reserveCapacity(view.elementCount)
        forEachOffset { result.append(self[offset: $0]) }
        return result
    }

    /// Writes `values` in row-major order of the shape.
    public func store(_ values: [Float]) {
        precondition(values.count == view.elementCount)
        var next = 0
        forEachOffset { offset in
            self[offset: offset] = values[next]
            next += 1
        }
    }

    /// Writes Int32 `values` exactly, in row-major order of the shape. Precondition: the type is `int32`.
    public func storeInt32(_ values: [Int32]) {
        precondition(view.elementType == .int32 && values.count == view.elementCount)
        var next = 0
        forEachOffset { offset in
            base.storeBytes(of: values[next], toByteOffset: offset * 4, as: Int32.self)
            next += 1
        }
    }

    /// Fills every element with `value`.
    public func fill(_ value: Float) {
        forEachOffset { self[offset: $0] = value }
    }

    /// Calls `body` with the element offset of every index, in row-major order.
    public func forEachOffset(_ body: (Int) -> Void) {
        let shape = view.shape, strides = view.strides
        guard !shape.contains(0) else { return }
        var index = [Int](repeating: 0, count: shape.count)
        var offset = 0
        while true {
            body(offset)
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                offset += strides[axis]
                if index[axis] < shape[axis] { break }
                offset -= strides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
            if axis < 0 { return }
        }
    }
}
