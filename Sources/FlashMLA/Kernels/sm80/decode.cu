// The portable decode kernel (sm80/decode.cuh) for caches in q's type with 64-token pages:
// FlashMLA's own layout, [numPages, 64, h_kv, 576], strides in elements.
#include "sm80/decode.cuh"

#define FMLA_DECODE(NAME, T, BLOCK_M, STAGES) FMLA_DECODE_SM80(NAME, T, BLOCK_M, STAGES, FMLA_KV_PAGE64, false)

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
