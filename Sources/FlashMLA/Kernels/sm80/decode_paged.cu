// The portable decode kernel (sm80/decode.cuh) for caches in q's type with pages of any size
// P (1 … 256): [numPages, P, h_kv, 576], strides in bytes. Token t of a request is slot t % P
// of page block_table[t / P]; the schedule still walks 64-token blocks of the sequence.
#include "sm80/decode.cuh"

#define FMLA_DECODE_PAGED(NAME, T, BLOCK_M, STAGES)                                                        \
    extern "C" __global__ void __launch_bounds__(256, 1) NAME(                                             \
        const T* q, const u8* kcache, const int* block_table, const int* seqlens, const int* sched,        \
        const int* num_splits, T* out, float* lse, float* oaccum, float* lseaccum, int* error_flag,        \
        i64 q_batch_stride, i64 q_seq_stride, i64 q_head_stride, i64 k_page_bytes, i64 k_token_bytes,     \
        i64 k_head_bytes, i64 bt_stride, int s_q, int h_q, int h_kv, int num_pages, int max_pages,         \
        float scale_log2, int causal, int page_size, float out_scale, const float* attn_sink) {                                    \
        decode_sm80<T, BLOCK_M, STAGES, FMLA_KV_PAGED>(                                                    \
            q, kcache, block_table, seqlens, sched, num_splits, out, lse, oaccum, lseaccum, error_flag,    \
            q_batch_stride, q_seq_stride, q_head_stride, k_page_bytes, k_token_bytes, k_head_bytes,        \
            bt_stride, s_q, h_q, h_kv, num_pages, max_pages, scale_log2, causal, page_size, out_scale, attn_sink);    \
    }

// The tiles and stages of sm80/decode.cu but one: 64 rows with two stages needs a register
// more than 255 on sm_90a (its 128 accumulators live across the next page's per-token
// addressing) and would spill, so 64-row tiles of this unit take one stage (DecodeTile.choose).
#define FMLA_DECODE_PAGED_ALL(T, SUFFIX)                                        \
    FMLA_DECODE_PAGED(flashmla_decode_sm80_paged_##SUFFIX##_m16_s1, T, 16, 1)   \
    FMLA_DECODE_PAGED(flashmla_decode_sm80_paged_##SUFFIX##_m16_s2, T, 16, 2)   \
    FMLA_DECODE_PAGED(flashmla_decode_sm80_paged_##SUFFIX##_m32_s1, T, 32, 1)   \
    FMLA_DECODE_PAGED(flashmla_decode_sm80_paged_##SUFFIX##_m32_s2, T, 32, 2)   \
    FMLA_DECODE_PAGED(flashmla_decode_sm80_paged_##SUFFIX##_m64_s1, T, 64, 1)
FMLA_DECODE_PAGED_ALL(bf16, bf16)
FMLA_DECODE_PAGED_ALL(fp16, fp16)
