// TensorMap: a TMA tensor map and the enums that describe it.
/// `CUtensorMapDataType`: the element type a TMA descriptor moves.
public enum TensorMapDataType: UInt32, Sendable, CaseIterable {
    /// `CU_TENSOR_MAP_DATA_TYPE_UINT8`.
    case uint8 = 0
    /// `CU_TENSOR_MAP_DATA_TYPE_UINT16`.
    case uint16 = 1
    /// `CU_TENSOR_MAP_DATA_TYPE_UINT32`.
    case uint32 = 2
    /// `CU_TENSOR_MAP_DATA_TYPE_INT32`.
    case int32 = 3
    /// `CU_TENSOR_MAP_DATA_TYPE_UINT64`.
    case uint64 = 4
    /// `CU_TENSOR_MAP_DATA_TYPE_INT64`.
    case int64 = 5
    /// `CU_TENSOR_MAP_DATA_TYPE_FLOAT16`.
    case float16 = 6
    /// `CU_TENSOR_MAP_DATA_TYPE_FLOAT32`.
    case float32 = 7
    /// `CU_TENSOR_MAP_DATA_TYPE_FLOAT64`.
    case float64 = 8
    /// `CU_TENSOR_MAP_DATA_TYPE_BFLOAT16`.
    case bfloat16 = 9
    /// `CU_TENSOR_MAP_DATA_TYPE_FLOAT32_FTZ`.
    case float32FTZ = 10
    /// `CU_TENSOR_MAP_DATA_TYPE_TFLOAT32`.
    case tfloat32 = 11
    /// `CU_TENSOR_MAP_DATA_TYPE_TFLOAT32_FTZ`.
    case tfloat32FTZ = 12

    /// Bytes per element.
    public var elementSize: Int {
        switch self {
        case .uint8: return 1
        case .uint16, .float16, .bfloat16: return 2
        case .uint32, .int32, .float32, .float32FTZ, .tfloat32, .tfloat32FTZ: return 4
        case .uint64, .int64, .float64: return 8
        }
    }
}

/// `CUtensorMapInterleave`.
public enum TensorMapInterleave: UInt32, Sendable, CaseIterable {
    /// `CU_TENSOR_MAP_INTERLEAVE_NONE`.
    case none = 0
    /// `CU_TENSOR_MAP_INTERLEAVE_16B`.
    case bytes16 = 1
    /// `CU_TENSOR_MAP_INTERLEAVE_32B`.
    case bytes32 = 2
}

/// `CUtensorMapSwizzle`: the shared-memory swizzle pattern of the box.
public enum TensorMapSwizzle: UInt32, Sendable, CaseIterable {
    /// `CU_TENSOR_MAP_SWIZZLE_NONE`.
    case none = 0
    /// `CU_TENSOR_MAP_SWIZZLE_32B`.
    case bytes32 = 1
    /// `CU_TENSOR_MAP_SWIZZLE_64B`.
    case bytes64 = 2
    /// `CU_TENSOR_MAP_SWIZZLE_128B`.
    case bytes128 = 3
    /// `CU_TENSOR_MAP_SWIZZLE_128B_ATOM_32B` (CUDA 12.8+, sm_100).
    case bytes128Atom32B = 4
    /// `CU_TENSOR_MAP_SWIZZLE_128B_ATOM_32B_FLIP_8B` (CUDA 12.8+, sm_100).
    case bytes128Atom32BFlip8B = 5
    /// `CU_TENSOR_MAP_SWIZZLE_128B_ATOM_64B` (CUDA 12.8+, sm_100).
    case bytes128Atom64B = 6
}

/// `CUtensorMapL2promotion`.
public enum TensorMapL2Promotion: UInt32, Sendable, CaseIterable {
    /// `CU_TENSOR_MAP_L2_PROMOTION_NONE`.
    case none = 0
    /// `CU_TENSOR_MAP_L2_PROMOTION_L2_64B`.
    case bytes64 = 1
    /// `CU_TENSOR_MAP_L2_PROMOTION_L2_128B`.
    case bytes128 = 2
    /// `CU_TENSOR_MAP_L2_PROMOTION_L2_256B`.
    case bytes256 = 3
}

/// `CUtensorMapFloatOOBfill`: what out-of-bounds elements read as.
public enum TensorMapOOBFill: UInt32, Sendable, CaseIterable {
    /// `CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE`: zeros.
    case none = 0
    /// `CU_TENSOR_MAP_FLOAT_OOB_FILL_NAN_REQUEST_ZERO_FMA`.
    case nanRequestZeroFMA = 1
}

/// A TMA descriptor (`CUtensorMap`): 128 opaque bytes, held here as sixteen 64-bit words.
///
/// Swift cannot give a stored value the 64/128-byte alignment the driver requires, so encoding
/// happens in an aligned scratch buffer and `KernelArguments.append(_:)` copies the bytes into a
/// 128-byte-aligned slot.
public struct TensorMap: Sendable, Equatable {
    /// The descriptor size, bytes.
    public static let byteCount = 128
    /// The alignment the descriptor needs in memory (cuda.h: 64; CUDA 13 on Linux declares 128).
    public static let alignment = 128

    /// The opaque words.
    public var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                       UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

    /// An all-zero descriptor (not usable by a kernel).
    public init() {
        words = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    }

    /// A descriptor from its 128 bytes. Throws `.invalidArgument` for any other length.
    public init(bytes: [UInt8]) throws(CUDAError) {
        guard bytes.count == Self.byteCount else {
            throw .invalidArgument("a tensor map is \(Self.byteCount) bytes, got \(bytes.count)")
        }
        self.init()
        withUnsafeMutableBytes(of: &words) { destination in
            bytes.withUnsafeBytes { destination.copyMemory(from: $0) }
        }
    }

    /// The 128 bytes.
    public var bytes: [UInt8] {
        withUnsafeBytes { Array($0) }
    }

    /// Calls `body` with the 128 bytes (not necessarily aligned).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        Swift.withUnsafeBytes(of: words) { body($0) }
    }

    /// Compares the 128 bytes.
    public static func == (lhs: TensorMap, rhs: TensorMap) -> Bool {
        lhs.bytes == rhs.bytes
    }

    /// Encodes a tiled TMA descriptor (`cuTensorMapEncodeTiled`).
    /// - Parameters:
    ///   - dataType: the element type.
    ///   - rank: dimensions, 1...5 (3...5 with interleave).
    ///   - globalAddress: the tensor's device address (16-byte aligned; 32 with 32-byte interleave).
    ///   - globalDims: `rank` sizes, innermost (contiguous) first, each 1...2^32.
    ///   - globalStrides: `rank - 1` byte strides of dimensions 1..., each a multiple of 16 below 2^40.
    ///   - boxDims: `rank` box sizes, each 1...256.
    ///   - elementStrides: `rank` traversal strides, each 1...8 (usually all 1).
    ///   - interleave, swizzle, l2Promotion, oobFill: the descriptor's modes.
    public static func encodeTiled(
        dataType: TensorMapDataType,
        rank: Int,
        globalAddress: UInt64,
        globalDims: [UInt64],
        globalStrides: [UInt64],
        boxDims: [UInt32],
        elementStrides: [UInt32],
        interleave: TensorMapInterleave = .none,
        swizzle: TensorMapSwizzle = .none,
        l2Promotion: TensorMapL2Promotion = .none,
        oobFill: TensorMapOOBFill = .none
    ) throws(CUDAError) -> TensorMap {
        try validateTiled(rank: rank, globalAddress: globalAddress, globalDims: globalDims,
                          globalStrides: globalStrides, boxDims: boxDims, elementStrides: elementStrides,
                          interleave: interleave)
        let driver = try CUDADriver.shared()
        let encode = try driver.symbols.cuTensorMapEncodeTiled.get()
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: alignment)
        defer { scratch.deallocate() }
        scratch.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
        let status = globalDims.withUnsafeBufferPointer { dims in
            globalStrides.withUnsafeBufferPointer { strides in
                boxDims.withUnsafeBufferPointer { box in
                    elementStrides.withUnsafeBufferPointer { elementStride in
                        encode(scratch, dataType.rawValue, UInt32(rank),
                               UnsafeMutableRawPointer(bitPattern: UInt(globalAddress)),
                               dims.baseAddress, rank > 1 ? strides.baseAddress : nil,
                               box.baseAddress, elementStride.baseAddress,
                               interleave.rawValue, swizzle.rawValue, l2Promotion.rawValue, oobFill.rawValue)
                    }
                }
            }
        }
        if status != CUConstant.success {
            throw driver.error(code: status, function: driver.symbols.cuTensorMapEncodeTiled.name)
        }
        var map = TensorMap()
        withUnsafeMutableBytes(of: &map.words) { $0.copyMemory(from: UnsafeRawBufferPointer(start: scratch, count: byteCount)) }
        return map
    }

    /// The documented structural limits of `cuTensorMapEncodeTiled`, checked up front for clear errors.
    static func validateTiled(rank: Int, globalAddress: UInt64, globalDims: [UInt64], globalStrides: [UInt64],
                              boxDims: [UInt32], elementStrides: [UInt32],
                              interleave: TensorMapInterleave) throws(CUDAError) {
        guard (1...5).contains(rank) else { throw .invalidArgument("tensor map rank \(rank) is not in 1...5") }
        guard globalDims.count == rank else {
            throw .invalidArgument("tensor map: \(globalDims.count) global dims for rank \(rank)")
        }
        guard globalStrides.count == rank - 1 else {
            throw .invalidArgument("tensor map: \(globalStrides.count) global strides for rank \(rank) (need \(rank - 1))")
        }
        guard boxDims.count == rank else {
            throw .invalidArgument("tensor map: \(boxDims.count) box dims for rank \(rank)")
        }
        guard elementStrides.count == rank else {
            throw .invalidArgument("tensor map: \(elementStrides.count) element strides for rank \(rank)")
        }
        let addressAlignment: UInt64 = interleave == .bytes32 ? 32 : 16
        guard globalAddress % addressAlignment == 0 else {
            throw .invalidArgument("tensor map: global address 0x\(String(globalAddress, radix: 16)) is not \(addressAlignment)-byte aligned")
        }
        for (index, dim) in globalDims.enumerated() where dim == 0 || dim > (1 << 32) {
            throw .invalidArgument("tensor map: global dim[\(index)] = \(dim) is not in 1...2^32")
        }
        for (index, stride) in globalStrides.enumerated() where stride % 16 != 0 || stride >= (1 << 40) {
            throw .invalidArgument("tensor map: global stride[\(index)] = \(stride) is not a multiple of 16 below 2^40")
        }
        for (index, box) in boxDims.enumerated() where box == 0 || box > 256 {
            throw .invalidArgument("tensor map: box dim[\(index)] = \(box) is not in 1...256")
        }
        for (index, step) in elementStrides.enumerated() where step == 0 || step > 8 {
            throw .invalidArgument("tensor map: element stride[\(index)] = \(step) is not in 1...8")
        }
    }
}
