// Model1Quantizer: host quantization into FlashMLA HEAD's MODEL1 cache layout.
/// Quantizes KV-cache values into FlashMLA HEAD's "MODEL1" layout (``KVCacheFormat/fp8Model1``,
/// ``Model1Layout``) on the host, as FlashMLA's `tests/quant.py::quantize_k_cache` does.
///
/// For each token and each of its 7 groups of 64 NoPE values: `s = 2^⌈log₂ max(amax / 448, 10⁻⁴)⌉`
/// (a power of two, stored as its UE8M0 byte `log₂ s + 127`), codes E4M3(x / s) (exact division,
/// rounded to nearest even, saturating); the 64 RoPE values are stored as bf16. A group holding a
/// NaN keeps NaN codes.
public enum Model1Quantizer {
    /// The UE8M0 scale byte of a group whose largest magnitude is `amax`:
    /// `⌈log₂ max(amax / 448, 10⁻⁴)⌉ + 127` (a NaN or infinite `amax` takes the largest, 254).
    public static func scaleByte(amax: Float) -> UInt8 {
        let ratio = max(amax / Float8E4M3.greatestFiniteMagnitude, 1e-4)
        guard ratio.isFinite else { return 254 }
        // ⌈log₂ ratio⌉ exactly: the exponent, plus one unless ratio is a power of two.
        let exponent = Int(ratio.exponent) + (ratio.significand > 1 ? 1 : 0)
        return UInt8(min(max(exponent + 127, 0), 254))
    }

    /// Writes token `slot` of the page at `page` (a page of `pageSize` tokens) from its 512
    /// `values` (448 NoPE, then 64 RoPE): its 576 data bytes and its 8 scale bytes (the last 0).
    public static func encodeToken(_ values: UnsafePointer<Float>, slot: Int, pageSize: Int,
                                   page: UnsafeMutableRawPointer) {
        let data = page + Model1Layout.dataOffset(slot: slot)
        let scales = page + Model1Layout.scaleOffset(slot: slot, pageSize: pageSize)
        let group = Model1Layout.groupSize
        for groupIndex in 0 ..< Model1Layout.scalesPerToken {
            let range = groupIndex * group ..< (groupIndex + 1) * group
            let amax = range.reduce(Float(0)) { max($0, values[$1].magnitude) }
            let byte = scaleByte(amax: amax)
            let scale = Model1Layout.scaleValue(byte)
            for index in range {
                data.storeBytes(of: Float8E4M3(values[index] / scale).bitPattern, toByteOffset: index, as: UInt8.self)
            }
            scales.storeBytes(of: byte, toByteOffset: groupIndex, as: UInt8.self)
        }
        scales.storeBytes(of: UInt8(0), toByteOffset: Model1Layout.scalesPerToken, as: UInt8.self)
        for index in 0 ..< Model1Layout.ropeDims {
            let bits = BFloat16(values[Model1Layout.nopeDims + index]).bitPattern
            data.storeBytes(of: bits.littleEndian, toByteOffset: Model1Layout.nopeDims + 2 * index, as: UInt16.self)
        }
    }

    /// A host MODEL1 cache holding `cache`'s values: `cache` is a host floating-point tensor
    /// `[numPages, P, 1, 512]`; the result is uint8 `[numPages, P, 1, 584]` whose pages are
    /// ``Model1Layout/paddedPageBytes(pageSize:)`` apart (strides `[pageBytes, 584, 584, 1]`; the
    /// padding is zero), so that every page starts 16-byte aligned as the GPU kernel needs.
    public static func quantize(_ cache: TensorView) throws(MLAError) -> Tensor {
        guard cache.rank == 4, cache.shape[2] == 1, cache.shape[3] == Model1Layout.headDim, cache.hostPointer != nil,
              cache.elementType != .int32, cache.elementType != .uint8 else {
            throw .invalidArgument(argument: "cache", expected: "a host floating-point tensor [numPages, P, 1, \(Model1Layout.headDim)]",
                                   given: cache.shapeDescription)
        }
        let numPages = cache.shape[0], pageSize = cache.shape[1], dim = Model1Layout.headDim
        let pageBytes = Model1Layout.paddedPageBytes(pageSize: pageSize)
        let storage = Tensor(hostElementType: .uint8, shape: [max(numPages * pageBytes, 1)])
        let base = storage.view.hostPointer!
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(numPages * pageBytes, 1))
        let values = HostElements(cache).load()
        values.withUnsafeBufferPointer { source in
            for page in 0 ..< numPages {
                for slot in 0 ..< pageSize {
                    encodeToken(source.baseAddress! + (page * pageSize + slot) * dim, slot: slot, pageSize: pageSize,
                                page: base + page * pageBytes)
                }
            }
        }
        let token = Model1Layout.tokenBytes
        let view = TensorView(elementType: .uint8, shape: [numPages, pageSize, 1, token],
                              strides: [pageBytes, token, token, 1], storage: storage.view.storage)
        return Tensor(view: view, owner: storage)
    }
}
