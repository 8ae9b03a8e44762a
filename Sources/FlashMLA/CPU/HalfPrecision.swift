// HalfPrecision: conversions between the 16-bit types and Float, a span at a time.
/// Conversions between the 16-bit element types and `Float`, a span at a time.
enum HalfPrecision {
    /// Reads `count` consecutive elements of `type` from element `offset` of `base` as `Float`.
    static func load(_ type: ElementType, from base: UnsafeRawPointer, offset: Int, count: Int,
                     into destination: UnsafeMutablePointer<Float>) {
        let start = base + offset * type.byteCount
        var index = 0
        switch type {
        case .bfloat16:
            while index < count {
                let bits = start.load(fromByteOffset: index * 2, as: UInt16.self)
                destination[index] = Float(bitPattern: UInt32(bits) << 16)
                index += 1
            }
        case .float16:
            while index < count {
                destination[index] = Float(start.load(fromByteOffset: index * 2, as: Float16.self))
                index += 1
            }
        case .float32:
            while index < count {
                destination[index] = start.load(fromByteOffset: index * 4, as: Float.self)
                index += 1
            }
        case .float8E4M3:
            while index < count {
                destination[index] = Float8E4M3(bitPattern: start.load(fromByteOffset: index, as: UInt8.self)).floatValue
                index += 1
            }
        case .int32, .uint8:
            preconditionFailure("not a floating-point type")
        }
    }

    /// Writes `count` values as `type` (rounded to nearest, ties to even) from element `offset` of `base`.
    static func store(_ values: UnsafePointer<Float>, count: Int, as type: ElementType,
                      to base: UnsafeMutableRawPointer, offset: Int) {
        let start = base + offset * type.byteCount
        var index = 0
        switch type {
        case .bfloat16:
            while index < count {
                start.storeBytes(of: BFloat16(values[index]).bitPattern, toByteOffset: index * 2, as: UInt16.self)
                index += 1
            }
        case .float16:
            while index < count {
                start.storeBytes(of: Float16(values[index]), toByteOffset: index * 2, as: Float16.self)
                index += 1
            }
        case .float32:
            while index < count {
                start.storeBytes(of: values[index], toByteOffset: index * 4, as: Float.self)
                index += 1
            }
        case .int32, .uint8, .float8E4M3:
            preconditionFailure("not an output type")
        }
    }
}
