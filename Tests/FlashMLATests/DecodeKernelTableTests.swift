// Tests of DecodeKernelTable.
import FlashMLA
import Foundation
import Testing

/// The per-device kernel table: lookup, matching and its file.
@Suite struct DecodeKernelTableTests {
    let table = DecodeKernelTable(deviceName: "NVIDIA Test", multiprocessors: 100, computeCapability: "9.0",
                                  source: "test", entries: [.init(maxRowsPerKVHead: 64, kernel: "sm90-lockstep", milliseconds: ["sm80": 0.2, "sm90-lockstep": 0.1]),
                                                            .init(maxRowsPerKVHead: 16, kernel: "sm80")])

    @Test func entriesCoverRowsUpToTheirBound() {
        #expect(table.kernelName(rowsPerKVHead: 1) == "sm80")
        #expect(table.kernelName(rowsPerKVHead: 16) == "sm80")
        #expect(table.kernelName(rowsPerKVHead: 17) == "sm90-lockstep")
        #expect(table.kernelName(rowsPerKVHead: 64) == "sm90-lockstep")
        #expect(table.kernelName(rowsPerKVHead: 65) == nil)
    }

    @Test func aTableMatchesOnlyItsOwnCard() {
        #expect(table.matches(deviceName: "NVIDIA Test", multiprocessors: 100, computeCapability: "9.0"))
        #expect(!table.matches(deviceName: "NVIDIA Test", multiprocessors: 114, computeCapability: "9.0"))
        #expect(!table.matches(deviceName: "NVIDIA Test PCIe", multiprocessors: 100, computeCapability: "9.0"))
        #expect(!table.matches(deviceName: "NVIDIA Test", multiprocessors: 100, computeCapability: "10.0"))
        // The shipped tables are for distinct cards, and each covers every row count.
        let names = DecodeKernelTable.shipped.map(\.deviceName)
        #expect(Set(names).count == names.count)
        for shipped in DecodeKernelTable.shipped {
            #expect(shipped.kernelName(rowsPerKVHead: 1) != nil && shipped.kernelName(rowsPerKVHead: 1 << 20) != nil)
        }
    }

    @Test func storedTablesRoundTripPrivately() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tune-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = DecodeKernelTable.fileURL(cacheDirectory: folder, deviceName: "NVIDIA Test/1", multiprocessors: 100, computeCapability: "9.0")
        #expect(url.lastPathComponent == "NVIDIA_Test_1-100sm-9.0.json")
        #expect(try DecodeKernelTable.load(from: url) == nil)
        try table.store(to: url)
        #expect(try DecodeKernelTable.load(from: url) == table)
        let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
        #expect((attributes[.posixPermissions] as? Int).map { $0 & 0o777 } == 0o600)
        let folderAttributes = try FileManager.default.attributesOfItem(atPath: url.deletingLastPathComponent().path)
        #expect((folderAttributes[.posixPermissions] as? Int).map { $0 & 0o777 } == 0o700)
    }

    @Test func aTableOthersMayWriteOrThatIsNotATableIsRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tune-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = DecodeKernelTable.fileURL(cacheDirectory: folder, deviceName: "NVIDIA Test", multiprocessors: 100, computeCapability: "9.0")
        try table.store(to: url)
        chmod(url.path, 0o666)
        #expect(throws: MLAError.self) { try DecodeKernelTable.load(from: url) }
        chmod(url.path, 0o600)
        try Data("not json".utf8).write(to: url)
        chmod(url.path, 0o600)
        #expect(throws: MLAError.self) { try DecodeKernelTable.load(from: url) }
    }
}
