// Tests of PtxasReport.
import Testing
import Foundation
@testable import NVRTC

@Suite struct PtxasReportTests {
    @Test func twoKernelsWithSpill() {
        let report = PtxasReport.parse(PtxasFixtures.twoKernelsSM80)
        #expect(report.kernels.map(\.name) == ["_Z12spill_kernelILi512EEvPfPKf", "small_kernel"])
        #expect(report.deviceFunctions.isEmpty)
        #expect(report.hasSpills)

        #expect(report.kernel(named: "_Z12spill_kernelILi512EEvPfPKf") == KernelResources(
            name: "_Z12spill_kernelILi512EEvPfPKf", registers: 255, barriers: 0, sharedMemoryBytes: 0,
            stackFrameBytes: 3232, spillStoreBytes: 1744, spillLoadBytes: 1744, constantBytes: 368))
        #expect(report.kernel(named: "small_kernel") == KernelResources(
            name: "small_kernel", registers: 10, barriers: 1, sharedMemoryBytes: 4096,
            stackFrameBytes: 0, spillStoreBytes: 0, spillLoadBytes: 0, constantBytes: 372))
    }

    @Test func sm90aWithRegisterLimit() {
        let report = PtxasReport.parse(PtxasFixtures.maxrregcountSM90a)
        #expect(report.kernels.count == 2)
        #expect(report.hasSpills)
        let spiller = report.kernels[0]
        #expect(spiller.registers == 32)
        #expect(spiller.stackFrameBytes == 5104)
        #expect(spiller.spillStoreBytes == 4804)
        #expect(spiller.spillLoadBytes == 5912)
        #expect(spiller.constantBytes == nil)  // ptxas prints no cmem[0] for sm_90a
        let small = report.kernels[1]
        #expect(small.name == "small_kernel")
        #expect(small.registers == 10)
        #expect(small.sharedMemoryBytes == 4096)
        #expect(!small.spills)
    }

    @Test func deviceFunctionIsNotAKernel() {
        let report = PtxasReport.parse(PtxasFixtures.deviceFunctionSM80)
        #expect(report.kernels == [KernelResources(
            name: "uses_helper", registers: 40, barriers: 1, sharedMemoryBytes: 0,
            stackFrameBytes: 160, spillStoreBytes: 0, spillLoadBytes: 0, constantBytes: 364)])
        #expect(report.deviceFunctions.map(\.name) == ["_Z6helperPfi"])
        #expect(!report.hasSpills)
    }

    @Test func noSpillsAndSingleKernel() {
        let onlySmall = PtxasFixtures.twoKernelsSM80
            .split(separator: "\n")
            .drop { !$0.contains("'small_kernel'") }
            .joined(separator: "\n")
        let report = PtxasReport.parse(onlySmall)
        #expect(report.kernels.map(\.name) == ["small_kernel"])
        #expect(!report.hasSpills)
    }

    @Test func propertiesAfterUsedLineAndOlderFormat() {
        // Older ptxas prints the properties without the "ptxas ." prefix, sometimes after the "Used" line.
        let log = """
            ptxas info    : Compiling entry function 'flashmla_decode_sm80' for 'sm_80'
            ptxas info    : Used 168 registers, 4096 bytes smem, 400 bytes cmem[0]
            ptxas info    : Function properties for flashmla_decode_sm80
                8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads
            """
        let report = PtxasReport.parse(log)
        #expect(report.kernels == [KernelResources(
            name: "flashmla_decode_sm80", registers: 168, barriers: 0, sharedMemoryBytes: 4096,
            stackFrameBytes: 8, spillStoreBytes: 4, spillLoadBytes: 12, constantBytes: 400)])
        #expect(report.hasSpills)
    }

    @Test func emptyAndUnrelatedLogs() {
        #expect(PtxasReport.parse("") == PtxasReport(kernels: []))
        let warnings = "main.cu(3): warning #177-D: variable \"x\" was declared but never referenced\n"
        #expect(PtxasReport.parse(warnings).kernels.isEmpty)
    }

    @Test func codableRoundTrip() throws {
        let report = PtxasReport.parse(PtxasFixtures.deviceFunctionSM80)
        let data = try JSONEncoder().encode(report)
        #expect(try JSONDecoder().decode(PtxasReport.self, from: data) == report)
    }
}
