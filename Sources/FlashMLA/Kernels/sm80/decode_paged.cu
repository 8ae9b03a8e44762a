// The portable decode kernel (sm80/decode.cuh) for caches in q's type with pages of any size
// P (1 … 256): [numPages, P, h_kv, 576], strides in bytes. Token t of a request is slot t % P
// of page block_table[t / P]; the schedule still walks 64-token blocks of the sequence.
#include "sm80/decode.cuh"

#define FMLA_DECODE_PAGED(NAME, T, BLOCK_M, STAGES) FMLA_DECODE_SM80(NAME, T, BLOCK_M, STAGES, FMLA_KV_PAGED, false)

// The tiles and stages of sm80/decode.cu but one: 64 rows with two stages needs a register
// more than 255 on sm_90a (its 128 accumulators live across the next page's per-token
// addressing) and would spill, so 64-row tiles of this unit take one stage (the host's list of
// tiles: DecodeSharedMemory.portable in CUDA/DecodeTile.swift).
#define FMLA_DECODE_PAGED_ALL(T, SUFFIX)                                        \
    FMLA_DECODE_PAGED(flashmla_decode_sm80_paged_##SUFFIX##_m16_s1, T, 16, 1)   \
    FMLA_DECODE_PAGED(flashmla_decode_sm80_paged_##SUFFIX##_m16_s2, T, 16, 2)   \
    FMLA_DECODE_PAGED(flashmla_decode_sm80_paged_##SUFFIX##_m32_s1, T, 32, 1)   \
    FMLA_DECODE_PAGED(flashmla_decode_sm80_paged_##SUFFIX##_m32_s2, T, 32, 2)   \
    FMLA_DECODE_PAGED(flashmla_decode_sm80_paged_##SUFFIX##_m64_s1, T, 64, 1)
FMLA_DECODE_PAGED_ALL(bf16, bf16)
FMLA_DECODE_PAGED_ALL(fp16, fp16)
