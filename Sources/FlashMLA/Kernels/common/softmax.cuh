// The softmax pieces every kernel shares: exp2/log2 on the special-function unit, the running
// maximum as an exponent base, the quad reductions of a row, the rescale of an output tile, and
// the attention sink's factor.
//
// Every decode kernel keeps scores in log2 units (the softmax scale times log2 e folded in) and,
// for each of its two accumulator rows, a running maximum m and row sum l. The accumulator
// fragments of mma.sync m16n8 (sm80) and of wgmma m64nN (sm90) share one layout: a thread holds
// rows ra (elements 4·j, 4·j + 1 of each group of four) and rb = ra + 8 (4·j + 2, 4·j + 3), and the
// four lanes of a quad (lane / 4 equal) hold the rest of those rows' columns.
#pragma once
#include "common/types.cuh"

#define FMLA_INF __int_as_float(0x7f800000)
#define FMLA_LN2 0.69314718055994530942f
#define FMLA_LOG2E 1.44269504088896340736f

__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
__device__ __forceinline__ float fast_log2(float x) {
    float y;
    asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// A row maximum as an exponent base: a row that has seen no key yet (−∞) uses 0, so that
// exp2(−∞ − base) is 0 rather than NaN.
__device__ __forceinline__ float exp_base(float m) { return m == -FMLA_INF ? 0.f : m; }

// The maximum / the sum of x over the four lanes of this thread's quad, which hold one row.
__device__ __forceinline__ float quad_max(float x) {
    x = fmaxf(x, __shfl_xor_sync(0xffffffff, x, 1));
    return fmaxf(x, __shfl_xor_sync(0xffffffff, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
    x += __shfl_xor_sync(0xffffffff, x, 1);
    return x + __shfl_xor_sync(0xffffffff, x, 2);
}

// O ← O·(ca, cb): row ra's elements times ca, row rb's times cb, for a wgmma tile (o[4·N]) or
// N mma.sync tiles (o[N][4]).
template <int N>
__device__ __forceinline__ void scale_rows(float (&o)[N], float ca, float cb) {
#pragma unroll
    for (int t = 0; t < N / 4; ++t) {
        o[4 * t] *= ca; o[4 * t + 1] *= ca;
        o[4 * t + 2] *= cb; o[4 * t + 3] *= cb;
    }
}
template <int N>
__device__ __forceinline__ void scale_rows(float (&o)[N][4], float ca, float cb) {
#pragma unroll
    for (int t = 0; t < N; ++t) {
        o[t][0] *= ca; o[t][1] *= ca;
        o[t][2] *= cb; o[t][3] *= cb;
    }
}

// The attention sink (FlashMLA's attn_sink, float32 [h_q]; nullptr: none): a final output row of
// query head `head` whose log-sum-exp is `lse_log2` (log2 units, finite: the row saw a key) is
// multiplied by exp(lse) / (exp(lse) + exp(sink)) = 1 / (1 + 2^(sink·log2 e − lse_log2)); the lse
// itself is reported unchanged. sink = +inf gives 0, sink = −inf gives 1 (ex2 of ±inf is +inf / +0).
// A row that saw no key is not passed here: its output is 0 whatever the sink.
__device__ __forceinline__ float sink_factor(const float* attn_sink, int head, float lse_log2) {
    if (attn_sink == nullptr) return 1.f;
    return 1.f / (1.f + fast_exp2(attn_sink[head] * FMLA_LOG2E - lse_log2));
}
