// CubinGlobals: the initialized 32-bit global variables of a cubin, read from its ELF image.

/// The values of a cubin's initialized 4-byte global variables (such as `extern "C" __device__
/// const int name = 42;`), read from its ELF symbol table and data sections on the host: what
/// `cuModuleGetGlobal` and a copy would give once the cubin is loaded, without a driver, a device
/// or a copy (a synchronous copy is one of the calls a thread may not make while a stream it
/// started capturing is being captured, and a kernel may be loaded then).
public struct CubinGlobals: Sendable, Equatable {
    /// Each 4-byte object symbol with initialized data, by name, its bytes read as a little-endian `Int32`.
    public let values: [String: Int32]

    /// Reads `cubin`, a 64-bit little-endian ELF image as NVRTC produces it.
    /// - Throws: ``NVRTCError/malformedCubin(_:)`` when it is not one, or a table runs past its end.
    public init(cubin: [UInt8]) throws(NVRTCError) {
        let image = ELFImage(cubin)
        guard cubin.count >= 64, cubin[0] == 0x7F, cubin[1] == 0x45, cubin[2] == 0x4C, cubin[3] == 0x46 else {
            throw .malformedCubin("not an ELF image")
        }
        guard cubin[4] == 2, cubin[5] == 1 else { throw .malformedCubin("not a 64-bit little-endian ELF image") }
        let sectionTable = try image.integer(at: 0x28, bytes: 8)
        let entrySize = try image.integer(at: 0x3A, bytes: 2), count = try image.integer(at: 0x3C, bytes: 2)
        guard entrySize >= 64 else { throw .malformedCubin("section headers of \(entrySize) bytes") }
        var sections: [Section] = []
        for index in 0 ..< count {
            let header = sectionTable + index * entrySize
            sections.append(Section(type: try image.integer(at: header + 4, bytes: 4),
                                    offset: try image.integer(at: header + 24, bytes: 8),
                                    size: try image.integer(at: header + 32, bytes: 8),
                                    link: try image.integer(at: header + 40, bytes: 4)))
        }
        var values: [String: Int32] = [:]
        for table in sections where table.type == Section.symbolTable {
            guard table.link < sections.count else { throw .malformedCubin("a symbol table names no string table") }
            let names = sections[table.link]
            for symbol in stride(from: table.offset, to: table.offset + table.size - 23, by: 24) {
                let info = try image.integer(at: symbol + 4, bytes: 1)
                let sectionIndex = try image.integer(at: symbol + 6, bytes: 2)
                let value = try image.integer(at: symbol + 8, bytes: 8), size = try image.integer(at: symbol + 16, bytes: 8)
                // A 4-byte object (STT_OBJECT) in a section that holds its bytes (not SHT_NOBITS).
                guard info & 0xF == 1, size == 4, sectionIndex > 0, sectionIndex < sections.count,
                      sections[sectionIndex].type != Section.noBits else { continue }
                let name = try image.string(at: names.offset + (try image.integer(at: symbol, bytes: 4)), end: names.offset + names.size)
                let data = sections[sectionIndex]
                guard value + 4 <= data.size else { throw .malformedCubin("\(name) lies past the end of its section") }
                values[name] = Int32(truncatingIfNeeded: try image.integer(at: data.offset + value, bytes: 4))
            }
        }
        self.values = values
    }

    /// Globals given by value (for tests of what reads them).
    init(values: [String: Int32]) {
        self.values = values
    }

    /// The global `name`, or nil when the cubin has no such initialized 4-byte global.
    public subscript(name: String) -> Int32? { values[name] }

    private struct Section {
        static let symbolTable = 2   // SHT_SYMTAB
        static let noBits = 8        // SHT_NOBITS
        var type: Int, offset: Int, size: Int, link: Int
    }
}

/// Bounds-checked little-endian reads from an ELF image.
private struct ELFImage {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The unsigned little-endian integer of `count` bytes at `offset`.
    func integer(at offset: Int, bytes count: Int) throws(NVRTCError) -> Int {
        guard offset >= 0, count <= 8, offset <= bytes.count - count else {
            throw .malformedCubin("a read of \(count) bytes at \(offset) runs past the image's \(bytes.count) bytes")
        }
        var value: UInt64 = 0
        for index in (0 ..< count).reversed() { value = value << 8 | UInt64(bytes[offset + index]) }
        guard value <= UInt64(Int.max) else { throw .malformedCubin("an offset or size of \(value) bytes") }
        return Int(value)
    }

    /// The NUL-terminated string at `offset`, which must end before `end`.
    func string(at offset: Int, end: Int) throws(NVRTCError) -> String {
        guard offset >= 0, end <= bytes.count, offset < end else { throw .malformedCubin("a name outside its string table") }
        guard let terminator = bytes[offset ..< end].firstIndex(of: 0) else { throw .malformedCubin("an unterminated name") }
        return String(decoding: bytes[offset ..< terminator], as: UTF8.self)
    }
}
