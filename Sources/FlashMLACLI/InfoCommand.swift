// InfoCommand: `flashmla info`.
import ArgumentParser
import CUDADriver
import FlashMLA
import Foundation
import NVRTC

/// `flashmla info`: what this machine offers the library — the CUDA driver and its devices,
/// NVRTC, the compile cache and the backend `Backend.automatic()` picks. Always exits 0; what is
/// missing is said, not thrown.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show the CUDA driver, devices, NVRTC, the compile cache and the automatic backend."
    )

    func run() throws {
        print("flashmla \(FlashMLAVersion.string)")
        print("")
        describeDriver()
        print("")
        describeNVRTC()
        print("")
        describeCache()
        print("")
        print("automatic backend: \(Backend.automatic())")
    }

    private func describeDriver() {
        let driver: CUDADriver
        do {
            driver = try CUDADriver.shared()
        } catch {
            print("CUDA driver: not available")
            print("  \(error)")
            print("devices: none (no driver)")
            return
        }
        print("CUDA driver: \(driver.libraryPath)")
        print("  version: \(Self.cudaVersion(driver.version)) (\(driver.version))")
        let devices: [Device]
        do {
            devices = try Device.all()
        } catch {
            print("devices: cannot be listed: \(error)")
            return
        }
        guard !devices.isEmpty else {
            print("devices: none")
            return
        }
        print("devices: \(devices.count)")
        for device in devices {
            print("  cuda:\(device.ordinal)  \(device.name)")
            print("    compute capability:        \(device.computeCapability)"
                + (device.computeCapability.major >= 8 ? "" : " (unsupported: the kernels need 8.0 or newer)"))
            print("    multiprocessors:           \(device.multiprocessorCount)")
            print("    shared memory per block:   \(ByteText.format(device.maxSharedMemoryPerBlockOptin)) (opt-in)")
            print("    L2 cache:                  \(ByteText.format(device.l2CacheSize))")
            print("    memory:                    \(ByteText.format(device.totalMemory))")
            print("    NVRTC architecture:        \(device.nvrtcArchitecture)")
            do {
                let table = try DecodeKernelTable.table(for: device, cacheDirectory: CompileCache.defaultDirectory())
                print("    kernel table:              \(table?.source ?? "none (the rule: sm90 lockstep up to 64 rows per KV head, seesaw above)")")
                for entry in table?.entries ?? [] {
                    let rows = entry.maxRowsPerKVHead == Int(Int32.max) ? "any" : "≤ \(entry.maxRowsPerKVHead)"
                    let policy = entry.schedule ?? .standard(rowsPerKVHead: entry.maxRowsPerKVHead)
                    print("      rows \(rows): \(entry.kernel), fixed cost \(policy.fixedCostBlocks) blocks, "
                        + "slack \(policy.wholeRequestSlackBlocks) blocks\(entry.schedule == nil ? " (standard)" : " (measured)")")
                }
            } catch {
                print("    kernel table:              unusable: \(error)")
            }
        }
    }

    private func describeNVRTC() {
        do {
            let library = try NVRTCLibrary.load()
            print("NVRTC: \(library.path)")
            print("  version: \(library.version.major).\(library.version.minor)")
        } catch {
            print("NVRTC: not found")
            for line in error.description.split(separator: "\n", omittingEmptySubsequences: false) {
                print("  \(line)")
            }
        }
    }

    private func describeCache() {
        let directory = CompileCache.defaultDirectory()
        if let problem = CompileCache(directory: directory, packageVersion: FlashMLAVersion.string).folderProblem() {
            print("compile cache: \(directory.path) (not used)")
            print("  \(problem)")
            return
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory.path))?
            .filter { $0.hasSuffix(".cubin") }
        if let entries {
            print("compile cache: \(directory.path) (\(entries.count) cubin(s))")
        } else {
            print("compile cache: \(directory.path) (not created yet)")
        }
    }

    /// A `cuDriverGetVersion` number as `major.minor`: 13000 → `13.0`, 12080 → `12.8`.
    static func cudaVersion(_ version: Int32) -> String {
        "\(version / 1000).\(version % 1000 / 10)"
    }
}
