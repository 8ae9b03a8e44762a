// KernelCatalog: the kernel translation units and their compile requests; FlashMLAVersion.
import NVRTC
#if canImport(Glibc)
import Glibc
#endif

/// The library's version, part of every compile-cache key.
public enum FlashMLAVersion {
    /// The package version.
    public static let string = "0.1.0"
}

/// The CUDA translation units of the library and the kernels each defines.
///
/// Every unit is compiled with all `.cuh` headers passed to NVRTC under their paths
/// relative to `Kernels/`, so `#include "common/types.cuh"` needs no include path.
public enum KernelCatalog {
    /// A translation unit.
    public enum Unit: String, CaseIterable, Sendable {
        /// `get_mla_metadata` on the device.
        case scheduler = "scheduler.cu"
        /// The log-sum-exp merge of splits.
        case combine = "combine.cu"
        /// The portable split-KV attention (sm_80 and newer), caches in `q`'s type with 64-token pages.
        case decodeSM80 = "sm80/decode.cu"
        /// The portable split-KV attention for caches in `q`'s type with pages of any size.
        case decodeSM80Paged = "sm80/decode_paged.cu"
        /// The portable split-KV attention for FP8 caches (per-tensor and DeepSeek-V3.2), any page size.
        case decodeSM80FP8 = "sm80/decode_fp8.cu"
        /// The portable sparse attention (DeepSeek-V3.2: each query token's own list of cache
        /// slots) from caches in `q`'s type or the 656-byte FP8 layout, any page size.
        case decodeSM80Sparse = "sm80/decode_sparse.cu"
        /// The Hopper split-KV attention for up to 64 query rows per KV head: TMA and wgmma,
        /// both warpgroups on each page (sm_90a only).
        case decodeSM90Lockstep = "sm90/decode_lockstep.cu"
        /// The Hopper split-KV attention for more rows: TMA and wgmma, the warpgroups on
        /// alternate pages out of phase (sm_90a only).
        case decodeSM90Seesaw = "sm90/decode_seesaw.cu"
        /// The Hopper sparse attention (DeepSeek-V3.2) from caches in `q`'s type or the 656-byte
        /// FP8 layout: a producer warpgroup gathers and converts tokens, wgmma computes (sm_90a only).
        case decodeSM90Sparse = "sm90/decode_sparse.cu"

        /// Whether the unit compiles for `architecture` (wgmma exists only on sm_90a).
        public func supports(architecture: String) -> Bool {
            switch self {
            case .decodeSM90Lockstep, .decodeSM90Seesaw, .decodeSM90Sparse: architecture == "sm_90a"
            default: true
            }
        }
    }

    /// Every kernel source file, keyed by its path under `Kernels/`.
    public static var sources: [String: String] { EmbeddedKernelSources.files }

    /// The NVRTC request that compiles `unit` for `architecture` (e.g. `sm_90a`, `sm_80`): with
    /// only `elementType`'s entry points when one is given (`-DFMLA_ONLY_BF16` / `-DFMLA_ONLY_FP16`,
    /// half the compile), and `options` added (by default this process's `FLASHMLA_KERNEL_OPTIONS`,
    /// so that the backend and `flashmla compile` build the same variant).
    public static func request(for unit: Unit, architecture: String, elementType: ElementType? = nil,
                               options: [String] = environmentOptions) -> CompileRequest {
        let headers = sources.filter { $0.key.hasSuffix(".cuh") }
        var files = headers
        files[unit.rawValue] = sources[unit.rawValue]
        var request = CompileRequest(mainFile: unit.rawValue, sources: files, architecture: architecture)
        switch elementType {
        case .bfloat16?: request.options.append("-DFMLA_ONLY_BF16")
        case .float16?: request.options.append("-DFMLA_ONLY_FP16")
        default: break
        }
        request.options += options
        return request
    }

    /// Extra NVRTC options from the value of `FLASHMLA_KERNEL_OPTIONS` (space-separated, e.g.
    /// `-DFMLA_FP8_SOFT_CVT=1`): a way to try kernel variants without rebuilding. Every kernel the
    /// backend compiles and `flashmla compile` takes them; they are part of the cache key.
    public static func extraOptions(environment value: String?) -> [String] {
        value.map { $0.split(separator: " ").map(String.init) } ?? []
    }

    /// ``extraOptions(environment:)`` of this process's `FLASHMLA_KERNEL_OPTIONS`.
    public static var environmentOptions: [String] {
        extraOptions(environment: getenv("FLASHMLA_KERNEL_OPTIONS").map { String(cString: $0) })
    }

    /// The requests for every unit that compiles for `architecture`.
    public static func requests(architecture: String) -> [CompileRequest] {
        Unit.allCases.filter { $0.supports(architecture: architecture) }.map { request(for: $0, architecture: architecture) }
    }
}
