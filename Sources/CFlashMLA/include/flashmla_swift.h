/*
 * flashmla_swift.h: the C ABI of swift-flash-mla (libFlashMLASwiftC.so).
 *
 * FlashMLA's two calls, MLA decode attention over a paged KV cache, for callers that own
 * the memory and the stream (PyTorch through ctypes, or C/C++ code). Every tensor is
 * described by a device address, an element type, a shape and strides. The library
 * copies nothing, allocates no inputs or outputs, and never waits for the device: work
 * is queued on the CUstream you pass. Kernels are compiled by NVRTC the first time
 * they are needed on a device; libcuda and libnvrtc are opened with dlopen, so the
 * library links against neither.
 *
 * Errors: every call that can fail returns an int status (FLASHMLA_SWIFT_OK or one of
 * FLASHMLA_SWIFT_ERROR_*). On failure, flashmla_swift_last_error() returns a message
 * naming the argument, what was expected and what was given (or the failing driver /
 * NVRTC call). Argument checks run before any work is queued and before any output is
 * written.
 *
 * Threads: every function may be called from any thread. Calls on one device share
 * the device's compiled kernels. A workspace must not be used by two calls whose
 * work can run at the same time on the device (see flashmla_swift_workspace_create).
 *
 * CUDA graphs: flashmla_swift_get_metadata and flashmla_swift_decode can be captured
 * once a call of the same kind (and, for decode, a workspace large enough) has run on
 * the device outside capture: the first call compiles and loads the kernels, and a
 * workspace that must grow allocates memory. For decode, the same kind means the same
 * element type and the same kernel, which the rows per KV head (s_q * h_q / h_kv) pick:
 * on Hopper up to 16, 17 to 64, and more each use another kernel.
 *
 * Devices: `device` is a CUDA device ordinal (>= 0), or FLASHMLA_SWIFT_DEVICE_CPU: then every
 * tensor's data is a host address, the library's CPU backend (a Float32 reference, slow)
 * computes the call before it returns, `stream` is ignored and `workspace` must be NULL.
 *
 * Validation: each call checks each argument once, before any work. The validate functions
 * (flashmla_swift_validate_metadata, _validate_decode, _validate_sparse_decode) run the same
 * checks on a call's inputs alone, with no outputs, no device and no work: for a caller that
 * wants the library's message before it allocates the outputs.
 *
 * Versioning: FLASHMLA_SWIFT_ABI_VERSION changes whenever a declaration here changes
 * incompatibly; compare it with flashmla_swift_abi_version() after loading. Additions keep
 * it (flashmla_swift_decode_kv and the FP8 dtype codes were added in 0.1 at version 1; the
 * validate functions, sparse decoding, attention sinks and FLASHMLA_SWIFT_DEVICE_CPU in 0.1
 * too; FLASHMLA_SWIFT_KV_MODEL1 and the _v2 sparse functions with the extra cache later: look a
 * symbol up to tell an older library).
 */
#ifndef FLASHMLA_SWIFT_H
#define FLASHMLA_SWIFT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The version of this interface. */
#define FLASHMLA_SWIFT_ABI_VERSION 1

/* ---- Status codes ------------------------------------------------------------------- */

/** Success. */
#define FLASHMLA_SWIFT_OK 0
/** An argument's value, shape, stride, type, placement or alignment is not accepted. */
#define FLASHMLA_SWIFT_ERROR_INVALID_ARGUMENT 1
/** The device cannot run the kernels (compute capability below 8.0, too little shared memory). */
#define FLASHMLA_SWIFT_ERROR_UNSUPPORTED_DEVICE 2
/** The CUDA driver or NVRTC failed (out of memory, compile failure, launch failure, ...). */
#define FLASHMLA_SWIFT_ERROR_BACKEND 3
/** No usable CUDA driver is installed, or no device has this ordinal. */
#define FLASHMLA_SWIFT_ERROR_NO_DEVICE 4

/* ---- Element types (flashmla_swift_tensor.dtype) ------------------------------------ */

/** Brain floating point, 2 bytes (torch.bfloat16). */
#define FLASHMLA_SWIFT_DTYPE_BFLOAT16 1
/** IEEE half precision, 2 bytes (torch.float16). */
#define FLASHMLA_SWIFT_DTYPE_FLOAT16 2
/** IEEE single precision, 4 bytes (torch.float32). */
#define FLASHMLA_SWIFT_DTYPE_FLOAT32 3
/** 32-bit signed integer (torch.int32). */
#define FLASHMLA_SWIFT_DTYPE_INT32 4
/** OCP FP8 E4M3, 1 byte (torch.float8_e4m3fn): a per-tensor FP8 cache, or DeepSeek-V3.2 bytes. */
#define FLASHMLA_SWIFT_DTYPE_FLOAT8_E4M3 5
/** Unsigned byte (torch.uint8): a DeepSeek-V3.2 FP8 cache. */
#define FLASHMLA_SWIFT_DTYPE_UINT8 6

/* ---- KV cache formats (flashmla_swift_decode_kv's kv_format) ------------------------- */

/** k_cache in q's type, [num_pages, page_size, h_kv, 576]. */
#define FLASHMLA_SWIFT_KV_NATIVE 0
/**
 * Per-tensor FP8: float8_e4m3 [num_pages, page_size, h_kv, 576]; a value is code * k_scale
 * (k_scale finite and > 0).
 */
#define FLASHMLA_SWIFT_KV_FP8_E4M3 1
/**
 * DeepSeek-V3.2's FP8 layout: uint8 (or float8_e4m3 bytes) [num_pages, page_size, 1, 656];
 * per token 512 E4M3 codes, 4 little-endian float32 scales (one per 128 codes), 64 bf16 RoPE
 * values. NoPE value i is code[i] * scale[i / 128] (float32) rounded to q's type; V is the
 * first 512 values. h_kv must be 1.
 */
#define FLASHMLA_SWIFT_KV_FP8_DS_MLA 2
/**
 * FlashMLA HEAD's "MODEL1" FP8 layout, sparse decoding only (flashmla_swift_decode_sparse_v2):
 * q is [b, s_q, h_q, 512] (d_qk = 448 NoPE + 64 RoPE); k_cache uint8 (or float8_e4m3 bytes)
 * [num_pages, page_size, 1, 584] with each page grouped: token t's 448 E4M3 codes and 64 bf16
 * RoPE values at byte t * 576 of its page, its 7 UE8M0 scales (2^(byte - 127), one per 64 codes)
 * and a pad byte at page_size * 576 + t * 8. dim 1's stride must be 584 bytes, dim 0's at least
 * page_size * 584 (on a GPU a multiple of 16). NoPE value i is code[i] * scale[i / 64] rounded to
 * q's type; V is all 512 values, RoPE included; the default scale is 1 / sqrt(512).
 */
#define FLASHMLA_SWIFT_KV_MODEL1 3

/* ---- Devices ------------------------------------------------------------------------ */

/**
 * The `device` argument that runs a call on the host: tensors in host memory, computed by the
 * library's CPU backend (Float32, FlashMLA's split-KV schedule for 132 multiprocessors) before
 * the call returns; `stream` is ignored and `workspace` must be NULL. Any other negative
 * value is FLASHMLA_SWIFT_ERROR_INVALID_ARGUMENT.
 */
#define FLASHMLA_SWIFT_DEVICE_CPU (-1)

/** The most dimensions a tensor descriptor holds. */
#define FLASHMLA_SWIFT_MAX_RANK 8

/**
 * A strided tensor in device memory (144 bytes, no padding).
 *
 * data:    the device address (CUdeviceptr) of element [0, 0, ...]; may be 0 only when
 *          the tensor has no elements.
 * dtype:   one of FLASHMLA_SWIFT_DTYPE_*.
 * rank:    the number of dimensions, 0 ... FLASHMLA_SWIFT_MAX_RANK.
 * shape:   the extents, outermost first; entries past rank are ignored. Each in 0 ... 2^31-1.
 * strides: the distance between neighbours along each dimension, counted in elements
 *          (torch's Tensor.stride()), not bytes; each >= 0.
 *
 * The memory must belong to the device passed to the call (host memory for
 * FLASHMLA_SWIFT_DEVICE_CPU); the library does not check the owner of an address (PyTorch
 * callers: all tensors on the call's device).
 */
typedef struct flashmla_swift_tensor {
    uint64_t data;
    int32_t dtype;
    int32_t rank;
    int64_t shape[FLASHMLA_SWIFT_MAX_RANK];
    int64_t strides[FLASHMLA_SWIFT_MAX_RANK];
} flashmla_swift_tensor;

#if defined(__cplusplus) && __cplusplus >= 201103L
static_assert(sizeof(flashmla_swift_tensor) == 144, "flashmla_swift_tensor is 144 bytes");
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(flashmla_swift_tensor) == 144, "flashmla_swift_tensor is 144 bytes");
#endif

/** An opaque workspace: split accumulators and an error flag in one device's memory. */
typedef struct flashmla_swift_workspace flashmla_swift_workspace;

/* ---- Version and errors ------------------------------------------------------------- */

/** FLASHMLA_SWIFT_ABI_VERSION of the loaded library. Never fails. */
int32_t flashmla_swift_abi_version(void);

/** The library's version, e.g. "0.1.0": a static NUL-terminated string. Never fails. */
const char *flashmla_swift_version(void);

/**
 * The message of the last failed call made on the calling thread, or "" if none has
 * failed there. Successful calls leave it unchanged. The string stays valid until the
 * next failing call on the same thread; copy it to keep it.
 */
const char *flashmla_swift_last_error(void);

/* ---- Metadata (FlashMLA's get_mla_metadata) ----------------------------------------- */

/**
 * The number of rows ("SM parts") of the tile-scheduler metadata for these heads on
 * device `device`: max(1, multiprocessors / num_heads_k / ceil(num_heads_per_head_k / 64)).
 * Allocate tile_scheduler_metadata as int32 [*num_sm_parts_out, 8].
 *
 * num_heads_per_head_k: s_q * h_q / h_kv (>= 1).   num_heads_k: h_kv (>= 1).
 * Writes *num_sm_parts_out on success only. The first call on a device initialises the
 * library's state for that device (outside any stream capture).
 */
int flashmla_swift_num_sm_parts(int32_t device, int64_t num_heads_per_head_k, int64_t num_heads_k,
                                int64_t *num_sm_parts_out);

/**
 * Checks the arguments of flashmla_swift_get_metadata but its outputs (cache_seqlens and the
 * head counts, each of the latter in 1 ... 2^31-1), as that call would: no device is needed and
 * nothing is queued. FLASHMLA_SWIFT_OK or FLASHMLA_SWIFT_ERROR_INVALID_ARGUMENT.
 */
int flashmla_swift_validate_metadata(int32_t device, const flashmla_swift_tensor *cache_seqlens,
                                     int64_t num_heads_per_head_k, int64_t num_heads_k);

/**
 * Queues the scheduler kernel on `stream` (a CUstream of `device`; NULL is the legacy
 * default stream). It reads cache_seqlens, int32 [b] (contiguous), and writes
 * tile_scheduler_metadata, int32 [num_sm_parts, 8], and num_splits, int32 [b + 1], both
 * contiguous and allocated by the caller (num_sm_parts from flashmla_swift_num_sm_parts).
 * b may be 0. Allocates nothing; the first call on a device compiles the kernel.
 */
int flashmla_swift_get_metadata(int32_t device, void *stream,
                                const flashmla_swift_tensor *cache_seqlens,
                                int64_t num_heads_per_head_k, int64_t num_heads_k,
                                const flashmla_swift_tensor *tile_scheduler_metadata,
                                const flashmla_swift_tensor *num_splits);

/**
 * The schedule of a sparse decode (flashmla_swift_decode_sparse), queued on `stream`: as
 * flashmla_swift_get_metadata with each request's count of index entries for its length.
 *
 * indices:      int32 [b, s_q, topk] (b, topk >= 1): only its shape is read.
 * topk_length:  int32 [b], contiguous, or NULL (every request counts all topk entries); the
 *               scheduler clamps each value to 0 ... topk.
 * num_heads_q:  h_q (1 ... 2^31-1). The schedule tiles s_q * h_q rows of the one KV head:
 *               allocate tile_scheduler_metadata as int32 [n, 8] with n from
 *               flashmla_swift_num_sm_parts(device, s_q * h_q, 1, &n), num_splits as int32 [b + 1].
 */
int flashmla_swift_get_sparse_metadata(int32_t device, void *stream,
                                       const flashmla_swift_tensor *indices,
                                       const flashmla_swift_tensor *topk_length,
                                       int64_t num_heads_q,
                                       const flashmla_swift_tensor *tile_scheduler_metadata,
                                       const flashmla_swift_tensor *num_splits);

/**
 * flashmla_swift_get_sparse_metadata with FlashMLA's extra cache lists (MODEL1):
 * extra_indices int32 [b, s_q, extra_topk] (only its shape is read) or NULL (no extra cache:
 * exactly flashmla_swift_get_sparse_metadata); extra_topk_length int32 [b], contiguous, or NULL
 * (only with extra_indices). With extra lists each request is scheduled as
 * ceil(max(L, 1) / 64) * 64 + EL index positions (L its topk_length or topk, EL its
 * extra_topk_length or extra_topk), FlashMLA's count; the schedule must then be used with the
 * same extra lists.
 */
int flashmla_swift_get_sparse_metadata_v2(int32_t device, void *stream,
                                          const flashmla_swift_tensor *indices,
                                          const flashmla_swift_tensor *topk_length,
                                          const flashmla_swift_tensor *extra_indices,
                                          const flashmla_swift_tensor *extra_topk_length,
                                          int64_t num_heads_q,
                                          const flashmla_swift_tensor *tile_scheduler_metadata,
                                          const flashmla_swift_tensor *num_splits);

/* ---- Decode (FlashMLA's flash_mla_with_kvcache) -------------------------------------- */

/**
 * Queues the split-KV MLA decode attention and the combine of its splits on `stream`
 * (a CUstream of `device`; NULL is the legacy default stream).
 *
 * q:            [b, s_q, h_q, 576], bfloat16 or float16; any strides with innermost 1,
 *               the others multiples of 8, data 16-byte aligned.
 * k_cache:      [num_pages, page_size, h_kv, 576], q's type, page_size in 1 ... 256 (token t
 *               of a request is slot t % page_size of page block_table[t / page_size]); the
 *               same layout rules as q (strides multiples of 16 bytes). Values are its first
 *               512 channels. h_kv divides h_q. (FP8 caches: flashmla_swift_decode_kv.)
 * block_table:  int32 [b, max_pages], innermost stride 1.
 * cache_seqlens: int32 [b], contiguous; each in 0 ... max_pages * page_size.
 * tile_scheduler_metadata, num_splits: from flashmla_swift_get_metadata for these
 *               cache_seqlens with num_heads_per_head_k = s_q * h_q / h_kv and
 *               num_heads_k = h_kv; contiguous.
 * head_dim_v:   512.
 * softmax_scale: applied to q.k before the softmax; finite and > 0 (FlashMLA's default
 *               is 1 / sqrt(576)).
 * causal:       nonzero: query row j of a request of length n sees keys 0 ... n - s_q + j.
 * out:          [b, s_q, h_q, 512], q's type, contiguous: the attention output
 *               (0 for a request of length 0).
 * lse:          float32 [b, h_q, s_q], contiguous: the natural-log log-sum-exp of the
 *               scaled scores (+inf for a row that sees no key).
 * workspace:    from flashmla_swift_workspace_create on `device`, or NULL for the
 *               device's own shared workspace. It grows (allocates) when this shape needs
 *               more than it holds; reserve it first to capture the call in a CUDA graph.
 *
 * Entries of cache_seqlens or block_table that are out of range (device memory is not
 * read on the host) are skipped by the kernels, not reported here.
 */
int flashmla_swift_decode(int32_t device, void *stream,
                          const flashmla_swift_tensor *q,
                          const flashmla_swift_tensor *k_cache,
                          const flashmla_swift_tensor *block_table,
                          const flashmla_swift_tensor *cache_seqlens,
                          const flashmla_swift_tensor *tile_scheduler_metadata,
                          const flashmla_swift_tensor *num_splits,
                          int64_t head_dim_v, float softmax_scale, int32_t causal,
                          const flashmla_swift_tensor *out,
                          const flashmla_swift_tensor *lse,
                          flashmla_swift_workspace *workspace);

/**
 * flashmla_swift_decode for a cache in `kv_format` (FLASHMLA_SWIFT_KV_*): with
 * FLASHMLA_SWIFT_KV_NATIVE it is flashmla_swift_decode (k_scale ignored); with
 * FLASHMLA_SWIFT_KV_FP8_E4M3 k_cache is float8_e4m3 with the per-tensor scale `k_scale`; with
 * FLASHMLA_SWIFT_KV_FP8_DS_MLA k_cache holds DeepSeek-V3.2's 656-byte tokens (k_scale ignored).
 * q, out and lse are as for flashmla_swift_decode; the kernel dequantizes the cache into q's
 * type (per-tensor: the codes exactly, k_scale applied to the scores and the output).
 * An unknown kv_format, a cache whose type or bytes a token do not match the format, or a
 * k_scale that is not finite and > 0 is FLASHMLA_SWIFT_ERROR_INVALID_ARGUMENT.
 */
int flashmla_swift_decode_kv(int32_t device, void *stream,
                             const flashmla_swift_tensor *q,
                             const flashmla_swift_tensor *k_cache,
                             const flashmla_swift_tensor *block_table,
                             const flashmla_swift_tensor *cache_seqlens,
                             const flashmla_swift_tensor *tile_scheduler_metadata,
                             const flashmla_swift_tensor *num_splits,
                             int64_t head_dim_v, float softmax_scale, int32_t causal,
                             int32_t kv_format, float k_scale,
                             const flashmla_swift_tensor *out,
                             const flashmla_swift_tensor *lse,
                             flashmla_swift_workspace *workspace);

/**
 * flashmla_swift_decode_kv with FlashMLA's attention sink: attn_sink is float32 [h_q],
 * contiguous, or NULL for none. Each output row of head h is multiplied by
 * exp(lse) / (exp(lse) + exp(attn_sink[h])); lse is written unchanged. +inf zeroes the head's
 * output, -inf changes nothing.
 *
 * Runs on a CUDA device or, with FLASHMLA_SWIFT_DEVICE_CPU, on the CPU backend.
 */
int flashmla_swift_decode_kv_sink(int32_t device, void *stream,
                                  const flashmla_swift_tensor *q,
                                  const flashmla_swift_tensor *k_cache,
                                  const flashmla_swift_tensor *block_table,
                                  const flashmla_swift_tensor *cache_seqlens,
                                  const flashmla_swift_tensor *tile_scheduler_metadata,
                                  const flashmla_swift_tensor *num_splits,
                                  int64_t head_dim_v, float softmax_scale, int32_t causal,
                                  int32_t kv_format, float k_scale,
                                  const flashmla_swift_tensor *attn_sink,
                                  const flashmla_swift_tensor *out,
                                  const flashmla_swift_tensor *lse,
                                  flashmla_swift_workspace *workspace);

/**
 * Sparse decoding (FlashMLA's `indices` mode, DeepSeek-V3.2's DSA), queued on `stream`: query
 * token j of request i attends to the cache slots indices[i][j][k] for k < topk_length[i]
 * (all topk without topk_length), -1 entries skipped, with no causal mask. A slot is
 * page * page_size + offset (no block table). A row that sees no valid slot has out 0 and
 * lse +inf.
 *
 * q:            [b, s_q, h_q, 576] bfloat16 or float16, as for flashmla_swift_decode.
 * k_cache:      h_kv = 1: [num_pages, page_size, 1, 576] in q's type (kv_format
 *               FLASHMLA_SWIFT_KV_NATIVE), or DeepSeek-V3.2's uint8 (or float8_e4m3 bytes)
 *               [num_pages, page_size, 1, 656] (FLASHMLA_SWIFT_KV_FP8_DS_MLA); page_size
 *               1 ... 256. FLASHMLA_SWIFT_KV_FP8_E4M3 is refused.
 * indices:      int32 [b, s_q, topk], topk >= 1, innermost stride 1; each counted entry -1
 *               or in 0 ... num_pages * page_size - 1 (checked where the host can read it;
 *               on a GPU an entry out of range is skipped by the kernel).
 * topk_length:  int32 [b], contiguous, each in 0 ... topk, or NULL.
 * tile_scheduler_metadata, num_splits: from flashmla_swift_get_sparse_metadata for these
 *               indices, topk_length and h_q.
 * attn_sink:    float32 [h_q], contiguous, or NULL (flashmla_swift_decode_kv_sink).
 * head_dim_v, softmax_scale, out, lse, workspace: as for flashmla_swift_decode.
 *
 * Runs on a CUDA device (on Hopper Kernels/sm90/decode_sparse.cu, elsewhere and for MODEL1 the
 * portable Kernels/sm80/decode_sparse.cu) or, with
 * FLASHMLA_SWIFT_DEVICE_CPU, on the CPU backend.
 */
int flashmla_swift_decode_sparse(int32_t device, void *stream,
                                 const flashmla_swift_tensor *q,
                                 const flashmla_swift_tensor *k_cache,
                                 const flashmla_swift_tensor *indices,
                                 const flashmla_swift_tensor *topk_length,
                                 const flashmla_swift_tensor *tile_scheduler_metadata,
                                 const flashmla_swift_tensor *num_splits,
                                 int64_t head_dim_v, float softmax_scale, int32_t kv_format,
                                 const flashmla_swift_tensor *attn_sink,
                                 const flashmla_swift_tensor *out,
                                 const flashmla_swift_tensor *lse,
                                 flashmla_swift_workspace *workspace);

/**
 * flashmla_swift_decode_sparse with FlashMLA's extra cache (MODEL1, kv_format
 * FLASHMLA_SWIFT_KV_MODEL1 only): extra_k_cache in k_cache's format with its own page size
 * ([extra_num_pages, extra_page_size, 1, 584]); extra_indices int32 [b, s_q, extra_topk]
 * (extra_topk >= 1, innermost stride 1; slots page * extra_page_size + offset of extra_k_cache,
 * -1 skipped), required with extra_k_cache; extra_topk_length int32 [b], contiguous, each in
 * 0 ... extra_topk, or NULL. The valid extra slots are more keys of the same softmax (one lse over
 * both lists). extra_indices or extra_topk_length without extra_k_cache is
 * FLASHMLA_SWIFT_ERROR_INVALID_ARGUMENT. All three NULL: exactly flashmla_swift_decode_sparse
 * (which also takes FLASHMLA_SWIFT_KV_MODEL1). tile_scheduler_metadata and num_splits come from
 * flashmla_swift_get_sparse_metadata_v2 with the same lists.
 */
int flashmla_swift_decode_sparse_v2(int32_t device, void *stream,
                                    const flashmla_swift_tensor *q,
                                    const flashmla_swift_tensor *k_cache,
                                    const flashmla_swift_tensor *indices,
                                    const flashmla_swift_tensor *topk_length,
                                    const flashmla_swift_tensor *extra_k_cache,
                                    const flashmla_swift_tensor *extra_indices,
                                    const flashmla_swift_tensor *extra_topk_length,
                                    const flashmla_swift_tensor *tile_scheduler_metadata,
                                    const flashmla_swift_tensor *num_splits,
                                    int64_t head_dim_v, float softmax_scale, int32_t kv_format,
                                    const flashmla_swift_tensor *attn_sink,
                                    const flashmla_swift_tensor *out,
                                    const flashmla_swift_tensor *lse,
                                    flashmla_swift_workspace *workspace);

/* ---- Validation without outputs ----------------------------------------------------- */

/**
 * Checks the arguments of flashmla_swift_decode_kv_sink but its outputs, workspace and stream,
 * exactly as that call checks them, with no device and no work: FLASHMLA_SWIFT_OK or
 * FLASHMLA_SWIFT_ERROR_INVALID_ARGUMENT with the message that call would give. The metadata is
 * optional: with tile_scheduler_metadata and num_splits both NULL it is not checked (say,
 * before the schedule exists); give both or neither. attn_sink may be NULL.
 */
int flashmla_swift_validate_decode(int32_t device,
                                   const flashmla_swift_tensor *q,
                                   const flashmla_swift_tensor *k_cache,
                                   const flashmla_swift_tensor *block_table,
                                   const flashmla_swift_tensor *cache_seqlens,
                                   const flashmla_swift_tensor *tile_scheduler_metadata,
                                   const flashmla_swift_tensor *num_splits,
                                   int64_t head_dim_v, float softmax_scale, int32_t causal,
                                   int32_t kv_format, float k_scale,
                                   const flashmla_swift_tensor *attn_sink);

/**
 * flashmla_swift_validate_decode for flashmla_swift_decode_sparse: its arguments but the
 * outputs, workspace and stream; the metadata pair optional (both NULL: not checked),
 * topk_length and attn_sink may be NULL.
 */
int flashmla_swift_validate_sparse_decode(int32_t device,
                                          const flashmla_swift_tensor *q,
                                          const flashmla_swift_tensor *k_cache,
                                          const flashmla_swift_tensor *indices,
                                          const flashmla_swift_tensor *topk_length,
                                          const flashmla_swift_tensor *tile_scheduler_metadata,
                                          const flashmla_swift_tensor *num_splits,
                                          int64_t head_dim_v, float softmax_scale, int32_t kv_format,
                                          const flashmla_swift_tensor *attn_sink);

/**
 * flashmla_swift_validate_sparse_decode for flashmla_swift_decode_sparse_v2: the extra cache and
 * its lists as that call takes them (NULL: none).
 */
int flashmla_swift_validate_sparse_decode_v2(int32_t device,
                                             const flashmla_swift_tensor *q,
                                             const flashmla_swift_tensor *k_cache,
                                             const flashmla_swift_tensor *indices,
                                             const flashmla_swift_tensor *topk_length,
                                             const flashmla_swift_tensor *extra_k_cache,
                                             const flashmla_swift_tensor *extra_indices,
                                             const flashmla_swift_tensor *extra_topk_length,
                                             const flashmla_swift_tensor *tile_scheduler_metadata,
                                             const flashmla_swift_tensor *num_splits,
                                             int64_t head_dim_v, float softmax_scale, int32_t kv_format,
                                             const flashmla_swift_tensor *attn_sink);

/* ---- Workspaces --------------------------------------------------------------------- */

/**
 * Creates an empty workspace on CUDA device `device` (not FLASHMLA_SWIFT_DEVICE_CPU, which
 * needs none) and stores it in *workspace_out. Calls whose
 * work may overlap on the device (different streams, no ordering between them) need
 * different workspaces; calls ordered on one stream can share one.
 */
int flashmla_swift_workspace_create(int32_t device, flashmla_swift_workspace **workspace_out);

/**
 * Grows `workspace` (never shrinks it) to hold `max_total_splits` splits of `query_rows`
 * rows: a decode of b requests with metadata of num_sm_parts rows needs
 * max_total_splits = b + num_sm_parts and query_rows = h_q * s_q. Growing frees the old
 * memory; do not grow a workspace that queued or captured work still uses.
 */
int flashmla_swift_workspace_reserve(flashmla_swift_workspace *workspace, int64_t max_total_splits,
                                     int64_t query_rows);

/**
 * Releases `workspace` (NULL is ignored). Its memory is freed: the work that uses it
 * must have finished, and no captured graph may still use it.
 */
void flashmla_swift_workspace_destroy(flashmla_swift_workspace *workspace);

#ifdef __cplusplus
}
#endif

#endif /* FLASHMLA_SWIFT_H */
