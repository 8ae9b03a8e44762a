// swift-tools-version: 6.1
import Foundation
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

// The C ABI as a shared library (python/build.sh builds it with FLASHMLA_C_LIBRARY=1). Declared only
// when asked for: a dynamic library product is linked by every plain `swift build`, and with
// `--static-swift-stdlib` SwiftPM links it against the shared runtime, which lacks the static-only
// Foundation shims (`cannot find -l_FoundationCShims`), so the README's static build would fail.
let cLibraryProducts: [Product] = ProcessInfo.processInfo.environment["FLASHMLA_C_LIBRARY"] == "1"
    ? [.library(name: "FlashMLASwiftC", type: .dynamic, targets: ["CFlashMLA"])]
    : []

let package = Package(
    name: "swift-flash-mla",
    products: [
        .library(name: "FlashMLA", targets: ["FlashMLA"]),
        .executable(name: "flashmla", targets: ["FlashMLACLI"]),
    ] + cLibraryProducts,
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // libcuda through dlopen: devices, contexts, streams, events, memory, modules, launches, tensor maps.
        .target(name: "CUDADriver", swiftSettings: strict),
        // libnvrtc through dlopen: discovery, compile to cubin, the ptxas report, the on-disk cubin cache.
        .target(name: "NVRTC", swiftSettings: strict),
        // Build tool: turns Sources/FlashMLA/Kernels/**.cu(h) into Swift string constants.
        .executableTarget(name: "KernelEmbedder", swiftSettings: strict),
        .plugin(name: "KernelSourcesPlugin", capability: .buildTool(), dependencies: ["KernelEmbedder"]),
        // The public API, the scheduler, the CPU reference backend, the CUDA backend and the kernels.
        .target(
            name: "FlashMLA",
            dependencies: ["CUDADriver", "NVRTC"],
            exclude: ["Kernels"],
            swiftSettings: strict,
            plugins: ["KernelSourcesPlugin"]
        ),
        // Random problems and the Float64 reference that the CLI's checks and the tests share.
        .target(name: "FlashMLATesting", dependencies: ["FlashMLA"], swiftSettings: strict),
        // The command-line tool `flashmla` (the product's name): info, compile, check, bench, tune.
        .executableTarget(
            name: "FlashMLACLI",
            dependencies: ["FlashMLA", "FlashMLATesting", "CUDADriver", "NVRTC",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        .testTarget(name: "CUDADriverTests", dependencies: ["CUDADriver"], swiftSettings: strict),
        .testTarget(name: "NVRTCTests", dependencies: ["NVRTC"], swiftSettings: strict),
        // The C ABI (include/flashmla_swift.h) behind the Python package in python/.
        .target(name: "CFlashMLA", dependencies: ["FlashMLA", "CUDADriver"], exclude: ["include"],
                swiftSettings: strict),
        .testTarget(name: "FlashMLATests", dependencies: ["FlashMLA", "FlashMLATesting", "CUDADriver", "NVRTC"],
                    swiftSettings: strict),
        .testTarget(name: "FlashMLATestingTests", dependencies: ["FlashMLATesting", "FlashMLA"], swiftSettings: strict),
        .testTarget(name: "CFlashMLATests", dependencies: ["CFlashMLA", "FlashMLA", "FlashMLATesting"], swiftSettings: strict),
        .testTarget(name: "FlashMLACLITests", dependencies: ["FlashMLACLI", "FlashMLA", "FlashMLATesting", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: strict),
    ]
)
