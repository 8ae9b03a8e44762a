// CompileCommand: `flashmla compile`.
import ArgumentParser
import CUDADriver
import FlashMLA
import Foundation
import NVRTC

/// `flashmla compile`: compiles every kernel translation unit with NVRTC (through the on-disk
/// cache unless `--no-cache`) and prints each kernel's ptxas resources. Needs NVRTC, not a GPU.
///
/// Fails on a compile error, on any register spill, or when NVRTC is missing; a non-zero stack
/// frame alone is reported but is not a failure. `FLASHMLA_KERNEL_OPTIONS` adds NVRTC options as
/// it does for the backend, so a variant's registers and spills can be read before it is run.
struct CompileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compile",
        abstract: "Compile the kernels with NVRTC and report registers, shared memory, stack and spills."
    )

    @Option(name: .customLong("arch"),
            help: "A GPU architecture such as sm_90a or sm_80; repeat for several (default: device 0's, else sm_90a).")
    var architectures: [String] = []

    @Flag(name: .customLong("no-cache"), help: "Compile even when the cache holds the program (and leave the cache alone).")
    var noCache = false

    @Flag(help: "Print each unit's NVRTC log.")
    var verbose = false

    func validate() throws {
        for arch in architectures where !arch.hasPrefix("sm_") || arch.count < 5 {
            throw ValidationError("--arch \(arch): expected a real architecture such as sm_90a or sm_80")
        }
    }

    func run() throws {
        let library: NVRTCLibrary
        do {
            library = try NVRTCLibrary.load()
        } catch {
            StandardError.line(error.description)
            throw ExitCode.failure
        }
        let compiler = NVRTCCompiler(library: library)
        let cache = CompileCache(directory: CompileCache.defaultDirectory(), packageVersion: FlashMLAVersion.string)
        let targets = architectures.isEmpty ? [Self.defaultArchitecture()] : architectures
        print("NVRTC \(library.version.major).\(library.version.minor) at \(library.path)")
        if noCache {
            print("cache: bypassed (--no-cache)")
        } else if cache.folderProblem() != nil {
            print("cache: \(cache.directory.path) (not used: see the warning)")
        } else {
            print("cache: \(cache.directory.path)")
        }
        let extraOptions = KernelCatalog.environmentOptions
        if !extraOptions.isEmpty { print("options (FLASHMLA_KERNEL_OPTIONS): \(extraOptions.joined(separator: " "))") }

        var table = TextTable(headers: ["arch", "unit", "kernel", "regs", "smem", "stack", "spill st", "spill ld",
                                        "cache", "time"],
                              leftAligned: [0, 1, 2, 8])
        var failures: [String] = []
        var stackNotes: [String] = []
        let clock = ContinuousClock()
        let work = targets.flatMap { arch in
            KernelCatalog.Unit.allCases.filter { $0.supports(architecture: arch) }.map { (arch, $0) }
        }
        let progress = ProgressLine()
        defer { progress.finish() }
        for (position, (arch, unit)) in work.enumerated() {
            let request = KernelCatalog.request(for: unit, architecture: arch, options: extraOptions)
            let started = clock.now
            progress.start(Self.progressLabel(unit: unit.rawValue, architecture: arch, position: position,
                                              count: work.count, architectures: targets.count))
            let program: CompiledProgram, cacheState: String
            do {
                if noCache {
                    program = try compiler.compile(request)
                    cacheState = "bypassed"
                } else {
                    let outcome = try cache.program(for: request, compiler: compiler)
                    program = outcome.program
                    cacheState = outcome.cacheHit ? "hit" : cache.folderProblem() != nil ? "unused" : "miss"
                }
            } catch {
                progress.finish()
                failures.append("\(unit.rawValue) (\(arch)): compile error")
                StandardError.line("error: \(unit.rawValue) for \(arch):\n\(error.description)")
                table.rows.append([arch, unit.rawValue, "(compile error)", "", "", "", "", "", "", ""])
                continue
            }
            progress.finish()
            let seconds = String(format: "%.2f s", WallClockTimer.milliseconds(clock.now - started) / 1000)
            if verbose {
                print("── NVRTC log: \(unit.rawValue) (\(arch)) ──")
                print(program.log.isEmpty ? "(empty)" : program.log)
            }
            let functions = program.report.kernels.map { ($0, false) } + program.report.deviceFunctions.map { ($0, true) }
            if functions.isEmpty {
                table.rows.append([arch, unit.rawValue, "(no kernels reported)", "", "", "", "", "", cacheState, seconds])
            }
            for (function, isDeviceFunction) in functions {
                let name = isDeviceFunction ? "\(function.name) (device fn)" : function.name
                table.rows.append([arch, unit.rawValue, name,
                                   isDeviceFunction ? "" : "\(function.registers)",
                                   isDeviceFunction ? "" : "\(function.sharedMemoryBytes)",
                                   "\(function.stackFrameBytes)", "\(function.spillStoreBytes)",
                                   "\(function.spillLoadBytes)", cacheState, seconds])
                if function.spills {
                    failures.append("\(function.name) (\(arch)) spills \(function.spillStoreBytes) bytes stored, "
                        + "\(function.spillLoadBytes) bytes loaded")
                }
                if function.stackFrameBytes > 0 {
                    stackNotes.append("\(function.name) (\(arch)) has a \(function.stackFrameBytes)-byte stack frame")
                }
            }
        }
        print("")
        print(table.render(), terminator: "")
        for note in stackNotes { print("note: \(note)") }
        guard failures.isEmpty else {
            for failure in failures { StandardError.line("failure: \(failure)") }
            throw ExitCode.failure
        }
        print("ok: \(targets.joined(separator: ", ")): no compile errors, no spills")
    }

    /// `compiling sm90/decode_seesaw.cu (3/5)`, with the architecture when there are several.
    static func progressLabel(unit: String, architecture: String, position: Int, count: Int, architectures: Int) -> String {
        "compiling \(unit)" + (architectures > 1 ? " for \(architecture)" : "") + " (\(position + 1)/\(count))"
    }

    /// Device 0's NVRTC architecture when a driver and a device are present, else `sm_90a`.
    static func defaultArchitecture() -> String {
        (try? Device(ordinal: 0))?.nvrtcArchitecture ?? "sm_90a"
    }
}
