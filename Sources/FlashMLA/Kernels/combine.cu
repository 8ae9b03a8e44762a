// Merges the splits of each request by log-sum-exp.
//
// Layout of the accumulators (written by the decode kernels): split s of the whole batch
// (request r's splits are s = num_splits[r] ..< num_splits[r+1]) holds, for every KV head
// and every query row R = qi·g + gi of that head (g = h_q/h_kv), a normalized fp32 output
// oaccum[s][kvh][R][0..512) and its natural-log lse lseaccum[s][kvh][R] (−∞: no key seen).
//
// One warp merges one (request, KV head, row); a block of FMLA_COMBINE_ROWS warps takes that
// many consecutive rows of one request's KV head, so the test for a single split (such a
// request was written to `out` directly) is the same for the whole block, which then returns at
// once. Lane l owns the output columns 128·k + 4·l … +3 (k = 0 … 3): each of the warp's loads of a
// partial row is one coalesced 512-byte float4 access. The splits' lse values are read 32 at a
// time (one a lane) and reduced with shuffles; a split's weight is shuffled from the lane that
// computed it. No block-wide barrier: a warp past the last row just returns. Two splits' rows
// (eight float4 loads a lane) are in flight before the first is used.
//
// Launched after the decode kernel with programmatic dependent launch (sm_90 and newer), a
// block may start while the decode kernel still runs: it reads the schedule's split counts
// (written by a kernel that completed before the decode kernel began), then waits for the
// decode kernel before it reads the accumulators. Those are read with plain coherent loads,
// not the read-only path, since they are written while this grid is already resident.
#include "common/params.cuh"
#include "common/softmax.cuh"

#define FMLA_COMBINE_ROWS 8                             // warps (rows) of one block
#define FMLA_COMBINE_THREADS (32 * FMLA_COMBINE_ROWS)

// The maximum (MAX) or the sum of v over the warp, returned to every lane.
template <bool MAX>
__device__ __forceinline__ float warp_reduce(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        const float w = __shfl_xor_sync(0xffffffff, v, offset);
        v = MAX ? fmaxf(v, w) : v + w;
    }
    return v;
}

template <typename T>
__device__ __forceinline__ void combine_row(const CombineParams& params) {
    const float* const lseaccum = params.lseaccum;
    const float* const oaccum = params.oaccum;
    const int* __restrict__ const num_splits = params.num_splits;
    T* __restrict__ const out = static_cast<T*>(params.out);
    float* __restrict__ const lse = params.lse;
    const float* __restrict__ const attn_sink = params.attn_sink;
    const int h_q = params.h_q, s_q = params.s_q, h_kv = params.h_kv;
    const int g = h_q / h_kv;
    const int rows = s_q * g;
    const int chunks = (rows + FMLA_COMBINE_ROWS - 1) / FMLA_COMBINE_ROWS;   // blocks per (request, KV head)
    const int kvh = (blockIdx.x / chunks) % h_kv;
    const int req = blockIdx.x / (chunks * h_kv);
    const int row = (blockIdx.x % chunks) * FMLA_COMBINE_ROWS + threadIdx.x / 32;   // R = qi·g + gi
    const int first = num_splits[req], count = num_splits[req + 1] - first;
    if (count <= 1 || row >= rows) return;        // the first: the same for the whole block
    grid_dependency_wait();                       // the decode kernel's partials are complete
    const int qi = row / g, head = kvh * g + row % g;
    const i64 stride = (i64)h_kv * rows;          // one split's rows
    const i64 base = (i64)kvh * rows + row;
    const int lane = threadIdx.x % 32;
    auto split_lse = [&](int s) { return s < count ? lseaccum[(first + s) * stride + base] : -FMLA_INF; };

    // The first 32 splits' lse stay in registers (one a lane) for the weights.
    const float lse0 = split_lse(lane);
    float max_lse = lse0;
    for (int s = lane + 32; s < count; s += 32) max_lse = fmaxf(max_lse, split_lse(s));
    max_lse = warp_reduce<true>(max_lse);
    float acc[16];
#pragma unroll
    for (int i = 0; i < 16; ++i) acc[i] = 0.f;
    float final_lse;
    if (max_lse == -FMLA_INF) {                   // warp-uniform: the row saw no key in any split
        final_lse = FMLA_INF;
    } else {
        float sum = expf(lse0 - max_lse);
        for (int s = lane + 32; s < count; s += 32) sum += expf(split_lse(s) - max_lse);
        final_lse = max_lse + logf(warp_reduce<false>(sum));
        // The sink scales the row once, through its weights; lse is reported without it.
        const float sink = sink_factor(attn_sink, head, final_lse * FMLA_LOG2E);
        const float* o_split = oaccum + (first * stride + base) * 512 + 4 * lane;
        auto add = [&](float w, const float4 (&v)[4]) {
#pragma unroll
            for (int k = 0; k < 4; ++k) {
                acc[4 * k] += w * v[k].x; acc[4 * k + 1] += w * v[k].y;
                acc[4 * k + 2] += w * v[k].z; acc[4 * k + 3] += w * v[k].w;
            }
        };
        auto load = [&](int s, float4 (&v)[4]) {
#pragma unroll
            for (int k = 0; k < 4; ++k) v[k] = *reinterpret_cast<const float4*>(o_split + s * stride * 512 + 128 * k);
        };
        for (int s0 = 0; s0 < count; s0 += 32) {
            const float w_lane = sink * expf((s0 == 0 ? lse0 : split_lse(s0 + lane)) - final_lse);   // 0 past count
            const int n = min(32, count - s0);
            int s = 0;
            for (; s + 2 <= n; s += 2) {
                float4 a[4], b[4];
                load(s0 + s, a);
                load(s0 + s + 1, b);
                add(__shfl_sync(0xffffffff, w_lane, s), a);
                add(__shfl_sync(0xffffffff, w_lane, s + 1), b);
            }
            if (s < n) {
                float4 a[4];
                load(s0 + s, a);
                add(__shfl_sync(0xffffffff, w_lane, s), a);
            }
        }
    }
    T* o = out + out_row(req, qi, head, s_q, h_q) + 4 * lane;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        u32* o32 = reinterpret_cast<u32*>(o + 128 * k);
        o32[0] = pack2<T>(acc[4 * k], acc[4 * k + 1]);
        o32[1] = pack2<T>(acc[4 * k + 2], acc[4 * k + 3]);
    }
    if (lane == 0) lse[lse_index(req, qi, head, s_q, h_q)] = final_lse;
}

#define FMLA_COMBINE(NAME, T)                                                                       \
    FMLA_IF_##T(extern "C" __global__ void __launch_bounds__(FMLA_COMBINE_THREADS)                  \
    NAME(const __grid_constant__ CombineParams params) { combine_row<T>(params); })
FMLA_COMBINE(flashmla_combine_bf16, bf16)
FMLA_COMBINE(flashmla_combine_fp16, fp16)
