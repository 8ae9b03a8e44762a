// The portable decode kernel (sm80/decode.cuh) in sparse mode (SPARSE): DeepSeek-V3.2's sparse
// decode, each query token attending to its own list of cache slots, from a cache in q's type
// ([numPages, P, 1, 576], FMLA_KV_PAGED addressing) or in DeepSeek-V3.2's 656-byte FP8 layout
// ([numPages, P, 1, 656], FMLA_KV_FP8DS). Strides in bytes.
//
// Arguments as sm80/decode_paged.cu's, with block_table → indices (int32 [b][s_q][topk], innermost
// stride 1; bt_stride its batch stride, ind_seq_stride, last, its token stride), seqlens →
// topk_length (int32 [b] or nullptr), num_pages → the cache's slots (numPages·P, clamped to
// 2³¹−1), max_pages → topk, causal unused (0).
#include "sm80/decode.cuh"

#define FMLA_DECODE_SPARSE(NAME, T, BLOCK_M, STAGES, KV)                                                   \
    extern "C" __global__ void __launch_bounds__(256, 1) NAME(                                             \
        const T* q, const u8* kcache, const int* indices, const int* topk_length, const int* sched,        \
        const int* num_splits, T* out, float* lse, float* oaccum, float* lseaccum, int* error_flag,        \
        i64 q_batch_stride, i64 q_seq_stride, i64 q_head_stride, i64 k_page_bytes, i64 k_token_bytes,     \
        i64 k_head_bytes, i64 ind_batch_stride, int s_q, int h_q, int h_kv, int num_slots, int topk,       \
        float scale_log2, int causal, int page_size, float out_scale, const float* attn_sink,              \
        i64 ind_seq_stride) {                                                                              \
        decode_sm80<T, BLOCK_M, STAGES, KV, true>(                                                         \
            q, kcache, indices, topk_length, sched, num_splits, out, lse, oaccum, lseaccum, error_flag,    \
            q_batch_stride, q_seq_stride, q_head_stride, k_page_bytes, k_token_bytes, k_head_bytes,        \
            ind_batch_stride, s_q, h_q, h_kv, num_slots, topk, scale_log2, 0, page_size, out_scale,        \
            attn_sink, ind_seq_stride);                                                                    \
    }

// The tiles and stages sm80/decode_paged.cu (16-bit) and sm80/decode_fp8.cu (FP8) define, but no
// 64-row FP8 tile: with one raw stage (two do not fit in 227 KiB) it spills 4 bytes on sm_90a, so
// FP8 sparse tiles hold at most 32 rows (DecodeTile.choose; h_q = 64 or 128 runs 2 or 4 tiles a token).
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
    FMLA_DECODE_SPARSE(flashmla_decode_sm80_sparse_fp8ds_##SUFFIX##_m32_s2, T, 32, 2, FMLA_KV_FP8DS)
FMLA_IF_bf16(FMLA_DECODE_SPARSE_ALL(bf16, bf16))
FMLA_IF_fp16(FMLA_DECODE_SPARSE_ALL(fp16, fp16))
