// The portable decode kernel (sm80/decode.cuh) in sparse mode (SPARSE): DeepSeek-V3.2's sparse
// decode, each query token attending to its own list of cache slots, from a cache in q's type
// ([numPages, P, 1, 576], FMLA_KV_PAGED addressing) or in DeepSeek-V3.2's 656-byte FP8 layout
// ([numPages, P, 1, 656], FMLA_KV_FP8DS), or FlashMLA HEAD's MODEL1 sparse decode (d_qk = 512,
// 584-byte page-grouped tokens, FMLA_KV_MODEL1) with its optional extra cache. Strides in bytes.
//
// The DecodeParams fields as sm80/decode_paged.cu reads them, with block_table → indices (int32
// [b][s_q][topk], innermost stride 1; bt_stride its batch stride, ind_seq_stride its token
// stride), seqlens → topk_length (int32 [b] or nullptr), num_pages → the cache's slots
// (numPages·P, clamped to 2³¹−1), max_pages → topk, causal unused (0).
#include "sm80/decode.cuh"

#define FMLA_DECODE_SPARSE(NAME, T, BLOCK_M, STAGES, KV) FMLA_DECODE_SM80(NAME, T, BLOCK_M, STAGES, KV, true)

// The tiles and stages sm80/decode_paged.cu (16-bit) and sm80/decode_fp8.cu (FP8) define, but no
// 64-row FP8 tile: with one raw stage (two do not fit in 227 KiB) it spills 4 bytes on sm_90a, so
// FP8 sparse tiles hold at most 32 rows (DecodeSharedMemory.portable; h_q = 64 or 128 runs 2 or 4
// tiles a token).
#define FMLA_DECODE_SPARSE_ALL(T, SUFFIX)                                                                  \
    FMLA_DECODE_SPARSE(flashmla_decode_sm80_sparse_##SUFFIX##_m16_s1, T, 16, 1, FMLA_KV_PAGED)             \
    FMLA_DECODE_SPARSE(flashmla_decode_sm80_sparse_##SUFFIX##_m16_s2, T, 16, 2, FMLA_KV_PAGED)             \
    FMLA_DECODE_SPARSE(flashmla_decode_sm80_sparse_##SUFFIX##_m32_s1, T, 32, 1, FMLA_KV_PAGED)             \
    FMLA_DECODE_SPARSE(flashmla_decode_sm80_sparse_##SUFFIX##_m32_s2, T, 32, 2, FMLA_KV_PAGED)             \
    FMLA_DECODE_SPARSE(flashmla_decode_sm80_sparse_##SUFFIX##_m64_s1, T, 64, 1, FMLA_KV_PAGED)             \
    FMLA_DECODE_SPARSE(flashmla_decode_sm80_sparse_fp8ds_##SUFFIX##_m16_s1, T, 16, 1, FMLA_KV_FP8DS)       \
    FMLA_DECODE_SPARSE(flashmla_decode_sm80_sparse_fp8ds_##SUFFIX##_m16_s2, T, 16, 2, FMLA_KV_FP8DS)       \
    FMLA_DECODE_SPARSE(flashmla_decode_sm80_sparse_fp8ds_##SUFFIX##_m16_s3, T, 16, 3, FMLA_KV_FP8DS)       \
    FMLA_DECODE_SPARSE(flashmla_decode_sm80_sparse_fp8ds_##SUFFIX##_m32_s1, T, 32, 1, FMLA_KV_FP8DS)       \
    FMLA_DECODE_SPARSE(flashmla_decode_sm80_sparse_fp8ds_##SUFFIX##_m32_s2, T, 32, 2, FMLA_KV_FP8DS)       \
    FMLA_DECODE_SPARSE(flashmla_decode_sm80_sparse_model1_##SUFFIX##_m16_s1, T, 16, 1, FMLA_KV_MODEL1)     \
    FMLA_DECODE_SPARSE(flashmla_decode_sm80_sparse_model1_##SUFFIX##_m16_s2, T, 16, 2, FMLA_KV_MODEL1)     \
    FMLA_DECODE_SPARSE(flashmla_decode_sm80_sparse_model1_##SUFFIX##_m16_s3, T, 16, 3, FMLA_KV_MODEL1)     \
    FMLA_DECODE_SPARSE(flashmla_decode_sm80_sparse_model1_##SUFFIX##_m32_s1, T, 32, 1, FMLA_KV_MODEL1)     \
    FMLA_DECODE_SPARSE(flashmla_decode_sm80_sparse_model1_##SUFFIX##_m32_s2, T, 32, 2, FMLA_KV_MODEL1)
FMLA_IF_bf16(FMLA_DECODE_SPARSE_ALL(bf16, bf16))
FMLA_IF_fp16(FMLA_DECODE_SPARSE_ALL(fp16, fp16))
