// The portable decode kernel (sm80/decode.cuh) for FP8 caches with pages of any size P
// (1 … 256), strides in bytes:
//   fp8    E4M3 [numPages, P, h_kv, 576] with one per-tensor scale: scale_log2 carries it into
//          the scores and out_scale into the output, so the codes convert exactly to T;
//   fp8ds  DeepSeek-V3.2, uint8 [numPages, P, 1, 656] (out_scale unused).
// STAGES counts raw stages (64 tokens of bytes each) ahead of the one converted T page.
#include "sm80/decode.cuh"

#define FMLA_DECODE_FP8(NAME, T, BLOCK_M, STAGES, KV) FMLA_DECODE_SM80(NAME, T, BLOCK_M, STAGES, KV, false)

// Every configuration the host may pick: 16-row tiles with 1 to 3 raw stages, 32 and 64 rows
// with 1 or 2 (the most that fits is chosen; see DecodeTile.choose).
#define FMLA_DECODE_FP8_ALL(T, SUFFIX, FORMAT, KV)                                            \
    FMLA_DECODE_FP8(flashmla_decode_sm80_##FORMAT##_##SUFFIX##_m16_s1, T, 16, 1, KV)          \
    FMLA_DECODE_FP8(flashmla_decode_sm80_##FORMAT##_##SUFFIX##_m16_s2, T, 16, 2, KV)          \
    FMLA_DECODE_FP8(flashmla_decode_sm80_##FORMAT##_##SUFFIX##_m16_s3, T, 16, 3, KV)          \
    FMLA_DECODE_FP8(flashmla_decode_sm80_##FORMAT##_##SUFFIX##_m32_s1, T, 32, 1, KV)          \
    FMLA_DECODE_FP8(flashmla_decode_sm80_##FORMAT##_##SUFFIX##_m32_s2, T, 32, 2, KV)          \
    FMLA_DECODE_FP8(flashmla_decode_sm80_##FORMAT##_##SUFFIX##_m64_s1, T, 64, 1, KV)          \
    FMLA_DECODE_FP8(flashmla_decode_sm80_##FORMAT##_##SUFFIX##_m64_s2, T, 64, 2, KV)
FMLA_DECODE_FP8_ALL(bf16, bf16, fp8, FMLA_KV_FP8)
FMLA_DECODE_FP8_ALL(fp16, fp16, fp8, FMLA_KV_FP8)
FMLA_DECODE_FP8_ALL(bf16, bf16, fp8ds, FMLA_KV_FP8DS)
FMLA_DECODE_FP8_ALL(fp16, fp16, fp8ds, FMLA_KV_FP8DS)
