// Merges the splits of each request by log-sum-exp.
//
// Layout of the accumulators (written by the decode kernels): split s of the whole batch
// (request r's splits are s = num_splits[r] ..< num_splits[r+1]) holds, for every KV head
// and every query row R = qi·g + gi of that head (g = h_q/h_kv), a normalized fp32 output
// oaccum[s][kvh][R][0..512) and its natural-log lse lseaccum[s][kvh][R] (−∞: no key seen).
//
// One block of 128 threads merges one (request, KV head, row); each thread owns 4 of the
// 512 output columns. Requests with a single split were written to `out` directly and
// their blocks return at once. The splits' lse values are read 128 at a time (one a thread)
// and reduced across the block, and their weights pass through shared memory, so that no
// thread walks the splits' lse one dependent load at a time and the output loop issues four
// loads before it waits for one.
//
// Launched after the decode kernel with programmatic dependent launch (sm_90 and newer), a
// block may start while the decode kernel still runs: it reads the schedule's split counts
// (written by a kernel that completed before the decode kernel began), then waits for the
// decode kernel before it reads the accumulators. Those are read with plain coherent loads,
// not the read-only path, since they are written while this grid is already resident.
#include "common/types.cuh"

#define FMLA_COMBINE_THREADS 128

// The maximum (MAX) or the sum of v over the block's 128 threads, returned to every thread;
// `red` holds one value a warp. The two barriers make back-to-back calls safe.
template <bool MAX>
__device__ __forceinline__ float block_reduce(float v, float* red) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        const float w = __shfl_xor_sync(0xffffffff, v, offset);
        v = MAX ? fmaxf(v, w) : v + w;
    }
    if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
    __syncthreads();
    v = MAX ? fmaxf(fmaxf(red[0], red[1]), fmaxf(red[2], red[3])) : (red[0] + red[1]) + (red[2] + red[3]);
    __syncthreads();
    return v;
}

template <typename T>
__device__ __forceinline__ void combine_row(const float* lseaccum, const float* oaccum,
                                            const int* __restrict__ num_splits, T* __restrict__ out,
                                            float* __restrict__ lse, int h_q, int s_q, int h_kv) {
    __shared__ float weight[FMLA_COMBINE_THREADS];
    __shared__ float red[FMLA_COMBINE_THREADS / 32];
    const int g = h_q / h_kv;
    const int rows = s_q * g;
    const int row = blockIdx.x % rows;            // R = qi·g + gi within the KV head
    const int kvh = (blockIdx.x / rows) % h_kv;
    const int req = blockIdx.x / (rows * h_kv);
    const int first = num_splits[req], count = num_splits[req + 1] - first;
    if (count <= 1) return;                       // the same for the whole block
    grid_dependency_wait();                       // the decode kernel's partials are complete
    const int qi = row / g, head = kvh * g + row % g;
    const i64 stride = (i64)h_kv * rows;          // one split's rows
    const i64 base = (i64)kvh * rows + row;
    const int t = threadIdx.x;
    auto split_lse = [&](int s) { return lseaccum[(first + s) * stride + base]; };

    float max_lse = -FMLA_INF;
    for (int s = t; s < count; s += FMLA_COMBINE_THREADS) max_lse = fmaxf(max_lse, split_lse(s));
    max_lse = block_reduce<true>(max_lse, red);
    const int col = t * 4;
    float acc[4] = {0.f, 0.f, 0.f, 0.f};
    float final_lse;
    if (max_lse == -FMLA_INF) {                   // block-uniform: the row saw no key in any split
        final_lse = FMLA_INF;
    } else {
        float sum = 0.f;
        for (int s = t; s < count; s += FMLA_COMBINE_THREADS) sum += expf(split_lse(s) - max_lse);
        final_lse = max_lse + logf(block_reduce<false>(sum, red));
        const float* o_split = oaccum + ((first * stride + base) * 512 + col);
        for (int s0 = 0; s0 < count; s0 += FMLA_COMBINE_THREADS) {
            const int n = min(FMLA_COMBINE_THREADS, count - s0);
            if (t < n) weight[t] = expf(split_lse(s0 + t) - final_lse);
            __syncthreads();
            int s = 0;
            for (; s + 4 <= n; s += 4) {
                float4 v[4];
#pragma unroll
                for (int k = 0; k < 4; ++k) v[k] = *reinterpret_cast<const float4*>(o_split + (s0 + s + k) * stride * 512);
#pragma unroll
                for (int k = 0; k < 4; ++k) {
                    const float w = weight[s + k];
                    acc[0] += w * v[k].x; acc[1] += w * v[k].y; acc[2] += w * v[k].z; acc[3] += w * v[k].w;
                }
            }
            for (; s < n; ++s) {
                const float4 v = *reinterpret_cast<const float4*>(o_split + (s0 + s) * stride * 512);
                const float w = weight[s];
                acc[0] += w * v.x; acc[1] += w * v.y; acc[2] += w * v.z; acc[3] += w * v.w;
            }
            __syncthreads();                      // the weights are rewritten by the next chunk
        }
    }
    T* o = out + (((i64)req * s_q + qi) * h_q + head) * 512 + col;
    u32* o32 = reinterpret_cast<u32*>(o);
    o32[0] = pack2<T>(acc[0], acc[1]);
    o32[1] = pack2<T>(acc[2], acc[3]);
    if (t == 0) lse[((i64)req * h_q + head) * s_q + qi] = final_lse;
}

#define FMLA_COMBINE(NAME, T)                                                                       \
    extern "C" __global__ void __launch_bounds__(128)                                               \
    NAME(const float* lseaccum, const float* oaccum, const int* num_splits, T* out, float* lse,      \
         int h_q, int s_q, int h_kv) {                                                              \
        combine_row<T>(lseaccum, oaccum, num_splits, out, lse, h_q, s_q, h_kv);                     \
    }
FMLA_COMBINE(flashmla_combine_bf16, bf16)
FMLA_COMBINE(flashmla_combine_fp16, fp16)
