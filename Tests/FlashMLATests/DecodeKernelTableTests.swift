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

    /// A row class's measured schedule numbers apply to its rows; other rows, and tables without
    /// them (written before tune measured them), get the standard ones.
    @Test func measuredSchedulesApplyToTheirRowClass() throws {
        let measured = SchedulePolicy(fixedCostBlocks: 3, wholeRequestSlackBlocks: 8)
        let tuned = DecodeKernelTable(deviceName: "NVIDIA Test", multiprocessors: 100, computeCapability: "9.0", source: "test",
                                      entries: [.init(maxRowsPerKVHead: 32, kernel: "sm90-lockstep", schedule: measured),
                                                .init(maxRowsPerKVHead: 64, kernel: "sm90-lockstep")])
        #expect(tuned.schedulePolicy(rowsPerKVHead: 16) == measured)
        #expect(tuned.schedulePolicy(rowsPerKVHead: 32) == measured)
        #expect(tuned.schedulePolicy(rowsPerKVHead: 33) == .standard(rowsPerKVHead: 33))
        #expect(tuned.schedulePolicy(rowsPerKVHead: 128) == .standard(rowsPerKVHead: 128))
        let old = #"{"deviceName": "NVIDIA Test", "multiprocessors": 100, "computeCapability": "9.0", "source": "old", "entries": [{"maxRowsPerKVHead": 64, "kernel": "sm80", "milliseconds": {}}]}"#
        let read = try JSONDecoder().decode(DecodeKernelTable.self, from: Data(old.utf8))
        #expect(read.entries.first?.schedule == nil && read.schedulePolicy(rowsPerKVHead: 64) == .standard(rowsPerKVHead: 64))
        #expect(try JSONDecoder().decode(DecodeKernelTable.self, from: JSONEncoder().encode(tuned)) == tuned)
        // The shipped H200 table carries measured numbers for every class; the H100's, measured
        // where the standard numbers come from, carries none.
        let h200 = try #require(DecodeKernelTable.shipped.first { $0.deviceName == "NVIDIA H200" })
        #expect(h200.entries.allSatisfy { $0.schedule != nil })
        #expect([1, 16, 32, 64, 128, 1 << 20].allSatisfy { h200.kernelName(rowsPerKVHead: $0) == "sm90-seesaw" })
        let h100 = try #require(DecodeKernelTable.shipped.first { $0.deviceName.hasPrefix("NVIDIA H100") })
        #expect(h100.entries.allSatisfy { $0.schedule == nil })
        #expect(h100.schedulePolicy(rowsPerKVHead: 64) == .standard(rowsPerKVHead: 64))
    }
}
