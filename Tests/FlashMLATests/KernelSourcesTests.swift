import Foundation
import Testing
@testable import FlashMLA

/// The kernels reach the library through the build plugin; these tests hold the embedded
/// copies equal to the files in Sources/FlashMLA/Kernels.
@Suite struct KernelSourcesTests {
    static let kernelsFolder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/FlashMLA/Kernels")

    @Test func embeddedSourcesEqualTheFiles() throws {
        let root = Self.kernelsFolder.standardizedFileURL.path
        var onDisk: [String: String] = [:]
        let walker = try #require(FileManager.default.enumerator(atPath: root))
        for case let path as String in walker where path.hasSuffix(".cu") || path.hasSuffix(".cuh") {
            onDisk[path] = try String(contentsOfFile: root + "/" + path, encoding: .utf8)
        }
        #expect(!onDisk.isEmpty)
        #expect(Set(KernelCatalog.sources.keys) == Set(onDisk.keys))
        for (name, text) in onDisk {
            #expect(KernelCatalog.sources[name] == text, "embedded \(name) differs from the file")
        }
    }

    @Test func everyUnitIsEmbeddedWithItsHeaders() {
        for unit in KernelCatalog.Unit.allCases {
            let request = KernelCatalog.request(for: unit, architecture: "sm_90a")
            #expect(request.sources[unit.rawValue] != nil, "\(unit.rawValue) is not embedded")
            #expect(request.sources.keys.filter { $0.hasSuffix(".cu") } == [unit.rawValue])
            #expect(request.sources.keys.contains("common/types.cuh"))
        }
    }

    @Test func tileChoiceFitsTheSharedMemory() {
        // H100 (227 KiB), A100 (163 KiB), sm_86 (99 KiB): the chosen tile always fits.
        for limit in [232_448, 166_912, 101_376] {
            for rows in [1, 16, 17, 32, 33, 64, 128, 256] {
                let tile = DecodeTile.choose(rowsPerKVHead: rows, sharedMemoryLimit: limit)
                #expect(tile != nil)
                if let tile { #expect(tile.sharedMemoryBytes <= limit) }
            }
        }
        #expect(DecodeTile.choose(rowsPerKVHead: 128, sharedMemoryLimit: 232_448) == DecodeTile(rows: 64, stages: 2))
        #expect(DecodeTile.choose(rowsPerKVHead: 8, sharedMemoryLimit: 232_448) == DecodeTile(rows: 16, stages: 2))
        #expect(DecodeTile.choose(rowsPerKVHead: 20, sharedMemoryLimit: 49_152) == nil)
    }
}
