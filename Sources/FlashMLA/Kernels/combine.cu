// Merges the splits of each request by log-sum-exp.
//
// Layout of the accumulators (written by the decode kernels): split s of the whole batch
// (request r's splits are s = num_splits[r] ..< num_splits[r+1]) holds, for every KV head
// and every query row R = qi·g + gi of that head (g = h_q/h_kv), a normalized fp32 output
// oaccum[s][kvh][R][0..512) and its natural-log lse lseaccum[s][kvh][R] (−∞: no key seen).
//
// One block of 128 threads merges one (request, KV head, row); each thread owns 4 of the
// 512 output columns. Requests with a single split were written to `out` directly and
// their blocks return at once.
#include "common/types.cuh"

template <typename T>
__device__ __forceinline__ void combine_row(const float* __restrict__ lseaccum, const float* __restrict__ oaccum,
                                            const int* __restrict__ num_splits, T* __restrict__ out,
                                            float* __restrict__ lse, int h_q, int s_q, int h_kv) {
    const int g = h_q / h_kv;
    const int rows = s_q * g;
    const int row = blockIdx.x % rows;            // R = qi·g + gi within the KV head
    const int kvh = (blockIdx.x / rows) % h_kv;
    const int req = blockIdx.x / (rows * h_kv);
    const int first = num_splits[req], count = num_splits[req + 1] - first;
    if (count <= 1) return;
    const int qi = row / g, head = kvh * g + row % g;
    const i64 stride = (i64)h_kv * rows;          // one split's rows
    const i64 base = (i64)kvh * rows + row;

    float max_lse = -FMLA_INF;
    for (int s = 0; s < count; ++s) max_lse = fmaxf(max_lse, lseaccum[(first + s) * stride + base]);
    const int col = threadIdx.x * 4;
    float acc[4] = {0.f, 0.f, 0.f, 0.f};
    float final_lse;
    if (max_lse == -FMLA_INF) {
        final_lse = FMLA_INF;                     // the row saw no key in any split
    } else {
        float sum = 0.f;
        for (int s = 0; s < count; ++s) sum += expf(lseaccum[(first + s) * stride + base] - max_lse);
        final_lse = max_lse + logf(sum);
        for (int s = 0; s < count; ++s) {
            float w = expf(lseaccum[(first + s) * stride + base] - final_lse);
            const float4 v = *reinterpret_cast<const float4*>(oaccum + ((first + s) * stride + base) * 512 + col);
            acc[0] += w * v.x; acc[1] += w * v.y; acc[2] += w * v.z; acc[3] += w * v.w;
        }
    }
    T* o = out + (((i64)req * s_q + qi) * h_q + head) * 512 + col;
    u32* o32 = reinterpret_cast<u32*>(o);
    o32[0] = pack2<T>(acc[0], acc[1]);
    o32[1] = pack2<T>(acc[2], acc[3]);
    if (threadIdx.x == 0) lse[((i64)req * h_q + head) * s_q + qi] = final_lse;
}

#define FMLA_COMBINE(NAME, T)                                                                       \
    extern "C" __global__ void __launch_bounds__(128)                                               \
    NAME(const float* lseaccum, const float* oaccum, const int* num_splits, T* out, float* lse,      \
         int h_q, int s_q, int h_kv) {                                                              \
        combine_row<T>(lseaccum, oaccum, num_splits, out, lse, h_q, s_q, h_kv);                     \
    }
FMLA_COMBINE(flashmla_combine_bf16, bf16)
FMLA_COMBINE(flashmla_combine_fp16, fp16)
