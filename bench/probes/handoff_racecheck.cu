// Does compute-sanitizer's racecheck follow the handoffs the seesaw kernel uses? Two warpgroups
// exchange a value a row through shared memory once an iteration, in both directions, the way
// decode_seesaw.cu exchanges m0 and m1, then sum their parts across a __syncthreads as it does
// its row sums. Every variant is correctly synchronized by the PTX memory model; racecheck
// should report nothing on any of them.
//   0: producer `bar.arrive id, 256`, consumer `bar.sync id, 256` (decode_seesaw.cu's handoff)
//   1: both sides `bar.sync id, 256`
//   2: an mbarrier per direction, 128 producer arrivals (release), consumer try_wait (acquire)
// Build and run on the GPU machine:
//   nvcc -arch=sm_90a -o /tmp/probe bench/probes/handoff_racecheck.cu
//   compute-sanitizer --tool racecheck /tmp/probe VARIANT
#include <cstdio>
#include <cstdlib>

__device__ __forceinline__ void bar_sync(int id) { asm volatile("bar.sync %0, 256;" :: "r"(id) : "memory"); }
__device__ __forceinline__ void bar_arrive(int id) { asm volatile("bar.arrive %0, 256;" :: "r"(id) : "memory"); }
__device__ __forceinline__ unsigned smem(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }
__device__ __forceinline__ void mbar_arrive(unsigned bar) {
    asm volatile("{ .reg .b64 st; mbarrier.arrive.shared::cta.b64 st, [%0]; }" :: "r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_wait(unsigned bar, unsigned parity) {
    asm volatile("{ .reg .pred p; W: mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1; @!p bra W; }"
                 :: "r"(bar), "r"(parity) : "memory");
}

__global__ void handoff(int variant, int iterations, float* out) {
    __shared__ float x0[128], x1[128], red[256];
    __shared__ __align__(8) unsigned long long bars[2];
    const int wg = threadIdx.x / 128, t = threadIdx.x % 128;
    if (threadIdx.x == 0) {
        for (int i = 0; i < 2; ++i)
            asm volatile("mbarrier.init.shared::cta.b64 [%0], 128;" :: "r"(smem(&bars[i])) : "memory");
    }
    __syncthreads();
    float acc = 0.f;
    for (int i = 0; i < iterations; ++i) {
        const unsigned parity = i & 1;
        if (wg == 0) {
            x0[t] = acc + i;                                          // m0 posted
            if (variant == 0) bar_arrive(1); else if (variant == 1) bar_sync(1); else mbar_arrive(smem(&bars[0]));
            if (variant == 2) mbar_wait(smem(&bars[1]), parity); else bar_sync(2);
            acc += x1[(t + 1) % 128];                                 // m1 read
        } else {
            if (variant == 2) mbar_wait(smem(&bars[0]), parity); else bar_sync(1);
            const float m0 = x0[(t + 1) % 128];
            x1[t] = m0 + 1.f;                                         // m1 posted
            acc += m0;
            if (variant == 0) bar_arrive(2); else if (variant == 1) bar_sync(2); else mbar_arrive(smem(&bars[1]));
        }
    }
    red[threadIdx.x] = acc;                                           // the end-of-piece row sums
    __syncthreads();
    out[blockIdx.x * 256 + threadIdx.x] = red[t] + red[128 + t];
}

int main(int argc, char** argv) {
    const int variant = argc > 1 ? atoi(argv[1]) : 0;
    float* out;
    if (cudaMalloc(&out, 8 * 256 * sizeof(float)) != cudaSuccess) return 2;
    handoff<<<8, 256>>>(variant, 6, out);
    const cudaError_t status = cudaDeviceSynchronize();
    float host[256];
    cudaMemcpy(host, out, sizeof(host), cudaMemcpyDeviceToHost);
    printf("variant %d: %s, out[5] = %g\n", variant, cudaGetErrorString(status), host[5]);
    return status == cudaSuccess ? 0 : 1;
}
