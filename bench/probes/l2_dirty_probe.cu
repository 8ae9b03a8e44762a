// What a streaming read pays when the L2 is full of dirty lines, and whether a cache policy
// avoids it. bench_grid.py (triton's do_bench) and `flashmla bench` flush the L2 before each
// timed call by writing a 256 MiB buffer, which leaves the whole L2 dirty; every kernel timed
// after it writes those lines back to DRAM while it reads. This probe reads a 608 MB buffer
// (about what a 4k decode reads) after three flushes: `dirty` (a 256 MiB memset), `clean` (a
// 256 MiB read: the L2 then holds clean lines) and `dirty+idle` (the memset, then a kernel that
// spins 200 µs on one SM), with each of these ways to read:
//   plain      ld.global.v4
//   first      ld.global.L2::cache_hint, createpolicy evict_first 1.0 (our TMA's policy)
//   cs         ld.global.cs (cache streaming)
//   lu         ld.global.lu (last use)
//   last       ld.global.L2::cache_hint, evict_last 1.0
//   unchanged  ld.global.L2::cache_hint, evict_unchanged 1.0
//   nc         ld.global.nc.L1::no_allocate
//   bulk       cp.async.bulk (the TMA engine, 1-d), no hint
//   bulkfirst  cp.async.bulk with the evict_first policy
// Times are medians of 25 reads each, CUDA events around the read kernel alone.
// Build and run on the GPU machine:
//   nvcc -arch=sm_90a -O3 -o /tmp/l2probe bench/probes/l2_dirty_probe.cu && /tmp/l2probe
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(x)                                                                      \
    do {                                                                              \
        cudaError_t e = (x);                                                          \
        if (e != cudaSuccess) {                                                       \
            printf("%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e)); \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

typedef unsigned long long u64;
enum Way { PLAIN, FIRST, CS, LU, LAST, UNCHANGED, NC, BULK, BULKFIRST, WAYS };
static const char* names[WAYS] = {"plain", "first", "cs", "lu", "last", "unchanged", "nc", "bulk", "bulkfirst"};

template <int W>
__device__ __forceinline__ uint4 load(const uint4* p, u64 policy) {
    uint4 v;
    if (W == PLAIN) asm volatile("ld.global.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    if (W == CS) asm volatile("ld.global.cs.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    if (W == LU) asm volatile("ld.global.lu.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    if (W == NC)
        asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    if (W == FIRST || W == LAST || W == UNCHANGED)
        asm volatile("ld.global.L2::cache_hint.v4.u32 {%0,%1,%2,%3}, [%4], %5;"
                     : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p), "l"(policy));
    return v;
}

template <int W>
__global__ void __launch_bounds__(512) read_ld(const uint4* __restrict__ a, long n, unsigned* out) {
    u64 policy = 0;
    if (W == FIRST) asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
    if (W == LAST) asm volatile("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;" : "=l"(policy));
    if (W == UNCHANGED) asm volatile("createpolicy.fractional.L2::evict_unchanged.b64 %0, 1.0;" : "=l"(policy));
    unsigned acc = 0;
    const long stride = (long)gridDim.x * blockDim.x;
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    for (; i + 3 * stride < n; i += 4 * stride) {
        uint4 v[4];
#pragma unroll
        for (int k = 0; k < 4; ++k) v[k] = load<W>(a + i + k * stride, policy);
#pragma unroll
        for (int k = 0; k < 4; ++k) acc ^= v[k].x ^ v[k].y ^ v[k].z ^ v[k].w;
    }
    for (; i < n; i += stride) {
        uint4 v = load<W>(a + i, policy);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x12345678u) out[blockIdx.x] = acc;   // never, in practice: keeps the loads
}

// 1-d bulk copies of CHUNK bytes into a ring of STAGES buffers, one issuing thread a block.
#define CHUNK 32768
#define STAGES 4
template <bool HINT>
__global__ void read_bulk(const char* __restrict__ a, long chunks, unsigned* out) {
    extern __shared__ __align__(128) char ring[];
    __shared__ __align__(8) u64 bars[STAGES];
    const unsigned ring_s = (unsigned)__cvta_generic_to_shared(ring);
    auto bar = [&](int s) { return (unsigned)__cvta_generic_to_shared(&bars[s]); };
    if (threadIdx.x != 0) return;
    for (int s = 0; s < STAGES; ++s) asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" :: "r"(bar(s)));
    asm volatile("fence.mbarrier_init.release.cluster;");
    u64 policy;
    asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
    auto issue = [&](long c, int s) {
        asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" :: "r"(bar(s)), "r"(CHUNK) : "memory");
        if (HINT)
            asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], %4;"
                         :: "r"(ring_s + s * CHUNK), "l"(a + c * CHUNK), "r"(CHUNK), "r"(bar(s)), "l"(policy) : "memory");
        else
            asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];"
                         :: "r"(ring_s + s * CHUNK), "l"(a + c * CHUNK), "r"(CHUNK), "r"(bar(s)) : "memory");
    };
    unsigned acc = 0;
    int k = 0;
    for (long c = blockIdx.x; c < chunks && k < STAGES; c += gridDim.x, ++k) issue(c, k);
    k = 0;
    for (long c = blockIdx.x; c < chunks; c += gridDim.x, ++k) {
        const int s = k % STAGES;
        const unsigned parity = (k / STAGES) & 1;
        asm volatile("{ .reg .pred p; W: mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1; @!p bra W; }"
                     :: "r"(bar(s)), "r"(parity) : "memory");
        acc ^= *(volatile unsigned*)(ring + s * CHUNK);
        const long next = c + (long)STAGES * gridDim.x;
        if (next < chunks) issue(next, s);
    }
    if (acc == 0x12345678u) out[blockIdx.x] = acc;
}

__global__ void spin(long long cycles) {
    const long long t0 = clock64();
    while (clock64() - t0 < cycles) {}
}

int main() {
    const long bytes = 608L << 20, flush_bytes = 256L << 20;
    int sms, clock_khz;
    CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0));
    char *a, *flush;
    unsigned* out;
    CHECK(cudaMalloc(&a, bytes));
    CHECK(cudaMalloc(&flush, flush_bytes));
    CHECK(cudaMalloc(&out, 4096 * 4));
    CHECK(cudaMemset(a, 1, bytes));
    CHECK(cudaFuncSetAttribute(read_bulk<false>, cudaFuncAttributeMaxDynamicSharedMemorySize, STAGES * CHUNK));
    CHECK(cudaFuncSetAttribute(read_bulk<true>, cudaFuncAttributeMaxDynamicSharedMemorySize, STAGES * CHUNK));
    const long n = bytes / 16;
    auto run = [&](int way) {
        switch (way) {
            case PLAIN: read_ld<PLAIN><<<sms * 4, 512>>>((const uint4*)a, n, out); break;
            case FIRST: read_ld<FIRST><<<sms * 4, 512>>>((const uint4*)a, n, out); break;
            case CS: read_ld<CS><<<sms * 4, 512>>>((const uint4*)a, n, out); break;
            case LU: read_ld<LU><<<sms * 4, 512>>>((const uint4*)a, n, out); break;
            case LAST: read_ld<LAST><<<sms * 4, 512>>>((const uint4*)a, n, out); break;
            case UNCHANGED: read_ld<UNCHANGED><<<sms * 4, 512>>>((const uint4*)a, n, out); break;
            case NC: read_ld<NC><<<sms * 4, 512>>>((const uint4*)a, n, out); break;
            case BULK: read_bulk<false><<<sms, 32, STAGES * CHUNK>>>(a, bytes / CHUNK, out); break;
            case BULKFIRST: read_bulk<true><<<sms, 32, STAGES * CHUNK>>>(a, bytes / CHUNK, out); break;
        }
        CHECK(cudaGetLastError());
    };
    const char* flush_names[3] = {"dirty", "clean", "dirty+idle"};
    auto do_flush = [&](int f) {
        if (f == 1) {
            read_ld<PLAIN><<<sms * 4, 512>>>((const uint4*)flush, flush_bytes / 16, out);
            CHECK(cudaGetLastError());
        } else {
            CHECK(cudaMemsetAsync(flush, 0, flush_bytes));
            if (f == 2) {
                spin<<<1, 1>>>(200LL * clock_khz / 1000);
                CHECK(cudaGetLastError());
            }
        }
    };
    cudaEvent_t e0, e1;
    CHECK(cudaEventCreate(&e0));
    CHECK(cudaEventCreate(&e1));
    printf("read %ld MB, %d SMs; median µs of 25 (GB/s)\n%-10s", bytes >> 20, sms, "way");
    for (int f = 0; f < 3; ++f) printf(" %18s", flush_names[f]);
    printf("\n");
    for (int way = 0; way < WAYS; ++way) {
        printf("%-10s", names[way]);
        for (int f = 0; f < 3; ++f) {
            std::vector<float> t;
            for (int r = 0; r < 27; ++r) {
                do_flush(f);
                CHECK(cudaEventRecord(e0));
                run(way);
                CHECK(cudaEventRecord(e1));
                CHECK(cudaEventSynchronize(e1));
                float ms;
                CHECK(cudaEventElapsedTime(&ms, e0, e1));
                if (r >= 2) t.push_back(ms * 1000.f);
            }
            std::sort(t.begin(), t.end());
            const float med = t[t.size() / 2];
            printf(" %9.1f (%6.0f)", med, bytes / med / 1e3);
        }
        printf("\n");
    }
    CHECK(cudaDeviceSynchronize());
    return 0;
}
