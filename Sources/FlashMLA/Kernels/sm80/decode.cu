// The portable decode kernel (sm80/decode.cuh) for caches in q's type with 64-token pages:
// FlashMLA's own layout, [numPages, 64, h_kv, 576], strides in elements.
#include "sm80/decode.cuh"

#define FMLA_DECODE(NAME, T, BLOCK_M, STAGES)                                                              \
    extern "C" __global__ void __launch_bounds__(256, 1) NAME(                                             \
        const T* q, const T* kcache, const int* block_table, const int* seqlens, const int* sched,         \
        const int* num_splits, T* out, float* lse, float* oaccum, float* lseaccum, int* error_flag,        \
        i64 q_batch_stride, i64 q_seq_stride, i64 q_head_stride, i64 k_page_stride, i64 k_token_stride,   \
        i64 k_head_stride, i64 bt_stride, int s_q, int h_q, int h_kv, int num_pages, int max_pages,        \
        float scale_log2, int causal, const float* attn_sink) {                                                                    \
        decode_sm80<T, BLOCK_M, STAGES, FMLA_KV_PAGE64>(                                                   \
            q, kcache, block_table, seqlens, sched, num_splits, out, lse, oaccum, lseaccum, error_flag,    \
            q_batch_stride, q_seq_stride, q_head_stride, k_page_stride, k_token_stride, k_head_stride,     \
            bt_stride, s_q, h_q, h_kv, num_pages, max_pages, scale_log2, causal, FMLA_PAGE, 1.f, attn_sink);        \
    }

// Every configuration the host may pick: the query tile (16, 32 or 64 rows) from s_q·h_q/h_kv,
// two pipeline stages where shared memory allows, one elsewhere.
#define FMLA_DECODE_ALL(T, SUFFIX)                                  \
    FMLA_DECODE(flashmla_decode_sm80_##SUFFIX##_m16_s1, T, 16, 1)   \
    FMLA_DECODE(flashmla_decode_sm80_##SUFFIX##_m16_s2, T, 16, 2)   \
    FMLA_DECODE(flashmla_decode_sm80_##SUFFIX##_m32_s1, T, 32, 1)   \
    FMLA_DECODE(flashmla_decode_sm80_##SUFFIX##_m32_s2, T, 32, 2)   \
    FMLA_DECODE(flashmla_decode_sm80_##SUFFIX##_m64_s1, T, 64, 1)   \
    FMLA_DECODE(flashmla_decode_sm80_##SUFFIX##_m64_s2, T, 64, 2)
FMLA_IF_bf16(FMLA_DECODE_ALL(bf16, bf16))
FMLA_IF_fp16(FMLA_DECODE_ALL(fp16, fp16))
