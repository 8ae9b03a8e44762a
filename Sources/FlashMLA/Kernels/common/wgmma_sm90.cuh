// PTX wrappers for the Hopper path (sm_90a): wgmma, the bulk tensor copy (TMA), mbarriers
// and the proxy fence. The wgmma operand lists are long by nature (one register per fp32
// accumulator); they are spelled out here once.
#pragma once
#include "common/types.cuh"

// A wgmma shared-memory matrix descriptor for a 128-byte-swizzled tile whose 1024-byte
// swizzle atoms are 8 rows of 128 bytes. `lead` and `stride` are byte offsets: for a
// K-major operand `stride` is the step between 8-row groups and `lead` is unused (1); for an
// MN-major operand `lead` is the step between 64-element column blocks and `stride` the step
// between 8-row (K) groups.
__device__ __forceinline__ u64 smem_desc_sw128(u32 smem_address, u32 lead, u32 stride) {
    u64 desc = (u64)((smem_address & 0x3FFFF) >> 4);
    desc |= (u64)((lead >> 4) & 0x3FFF) << 16;
    desc |= (u64)((stride >> 4) & 0x3FFF) << 32;
    desc |= (u64)1 << 62;                       // 128-byte swizzle
    return desc;
}

// A wgmma shared-memory matrix descriptor for a tile without swizzle, of core matrices of 8 rows
// × 16 contiguous bytes (128 bytes each): `lead` is the byte step between core matrices along K,
// `stride` along M or N (for either major-ness).
__device__ __forceinline__ u64 smem_desc_inter(u32 smem_address, u32 lead, u32 stride) {
    u64 desc = (u64)((smem_address & 0x3FFFF) >> 4);
    desc |= (u64)((lead >> 4) & 0x3FFF) << 16;
    desc |= (u64)((stride >> 4) & 0x3FFF) << 32;
    return desc;                                // layout type 0: no swizzle
}

// The descriptor of the tile `bytes` past the one `desc` describes: the start-address field
// (bits 0–13, address / 16) never carries, since shared memory ends below 256 KiB.
__device__ __forceinline__ u64 desc_plus(u64 desc, u32 bytes) {
    return ((desc >> 32) << 32) | (u32)((u32)desc + (bytes >> 4));
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" :: "n"(N) : "memory");
}
// Keeps the compiler from moving accumulator reads or writes across a wgmma boundary.
template <int N> __device__ __forceinline__ void fence_registers(float (&d)[N]) {
#pragma unroll
    for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i]) :: "memory");
}

// Generic-proxy writes to shared memory (ordinary stores, cp.async) become visible to the
// async proxy (wgmma operand reads, TMA) after this fence and a barrier.
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// Bulk copies from shared to global memory (the async proxy; addresses and size multiples of 16):
// the source must be made visible with fence_proxy_async and a barrier first, and must not be
// overwritten, nor the block exit, before bulk_wait_read says the copies have read it.
__device__ __forceinline__ void bulk_store(void* dst, u32 src, u32 bytes) {
    asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], %2;\n" :: "l"(dst), "r"(src), "r"(bytes) : "memory");
}
__device__ __forceinline__ void bulk_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void bulk_wait_read() { asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory"); }

// Four 8 × 8 b16 matrices into shared memory (the inverse of ldmatrix_x4): register j of each
// thread is its element pair of matrix j (row lane / 4, columns 2·(lane % 4) + 0, 1); thread t
// gives the address of row t % 8 of matrix t / 8.
__device__ __forceinline__ void stmatrix_x4(u32 addr, const u32 (&r)[4]) {
    asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};\n"
                 :: "r"(addr), "r"(r[0]), "r"(r[1]), "r"(r[2]), "r"(r[3]) : "memory");
}

// ---- named barriers: `count` threads (a multiple of 32) meet at barrier `id` (1 … 15; 0 is
// __syncthreads). ----
__device__ __forceinline__ void named_sync(u32 id, u32 count) {
    asm volatile("bar.sync %0, %1;\n" :: "r"(id), "r"(count) : "memory");
}

// ---- mbarrier ----
__device__ __forceinline__ void mbar_init(u32 bar, u32 count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" :: "r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_fence_init() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }
__device__ __forceinline__ void mbar_arrive_expect_tx(u32 bar, u32 bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" :: "r"(bar), "r"(bytes) : "memory");
}
// One thread's arrival (release: its earlier writes are visible to whoever waits for the phase).
__device__ __forceinline__ void mbar_arrive(u32 bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" :: "r"(bar) : "memory");
}
// Waits until the phase of parity `phase` has completed (acquire, block scope).
__device__ __forceinline__ void mbar_wait(u32 bar, u32 phase) {
    asm volatile("{\n.reg .pred done;\nwait_%=:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
                 "@!done bra wait_%=;\n}\n" :: "r"(bar), "r"(phase) : "memory");
}

// ---- Two-block clusters: the peer's shared memory and barriers ----
// A block's rank in its cluster.
__device__ __forceinline__ u32 cluster_rank() {
    u32 r;
    asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
    return r;
}
// The shared::cluster address of `addr` (a shared::cta address of this block) in block `rank`
// of the cluster: the same offset in that block's shared memory.
__device__ __forceinline__ u32 cluster_map(u32 addr, u32 rank) {
    u32 r;
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(r) : "r"(addr), "r"(rank));
    return r;
}
// Every thread of every block of the cluster meets here (release / acquire: shared-memory
// writes before it are visible to all the cluster's threads after it). Not the aligned form:
// the roles reach it from different code.
__device__ __forceinline__ void cluster_sync() {
    asm volatile("barrier.cluster.arrive.release;\nbarrier.cluster.wait.acquire;\n" ::: "memory");
}
// One arrival on an mbarrier of another block of the cluster (`bar` from cluster_map), releasing
// this thread's earlier reads and writes at block scope, as CUTLASS's cluster barriers do; the
// phases the peer arrives on or writes into are waited for with mbar_wait, also block scope. The
// cluster-scope form put a MEMBAR.ALL.GPU before every arrival, and the cluster-scope wait a
// CCTL.IVALL (L1 invalidation) after it; block scope was 1.4–2% faster on the pair's rows, with
// racecheck and synccheck clean (bench/DECISIONS.md, D69). What orders the peer's accesses: its
// wgmma reads of a stage are complete (wgmma.wait_group) before it arrives on our `empty`, and
// our st.async bytes reach its `full` through the async proxy's complete_tx, which its wait observes.
__device__ __forceinline__ void mbar_arrive_cluster(u32 bar) {
    asm volatile("mbarrier.arrive.release.cta.shared::cluster.b64 _, [%0];\n" :: "r"(bar) : "memory");
}
// 16 or 8 bytes into another block's shared memory (`addr`, `bar` from cluster_map), counted
// as transaction bytes on that block's mbarrier `bar` when they land.
__device__ __forceinline__ void st_async_16(u32 addr, u32 a, u32 b, u32 c, u32 d, u32 bar) {
    asm volatile("st.async.shared::cluster.mbarrier::complete_tx::bytes.v4.b32 [%0], {%1, %2, %3, %4}, [%5];\n"
                 :: "r"(addr), "r"(a), "r"(b), "r"(c), "r"(d), "r"(bar) : "memory");
}
__device__ __forceinline__ void st_async_8(u32 addr, u32 a, u32 b, u32 bar) {
    asm volatile("st.async.shared::cluster.mbarrier::complete_tx::bytes.v2.b32 [%0], {%1, %2}, [%3];\n"
                 :: "r"(addr), "r"(a), "r"(b), "r"(bar) : "memory");
}

// ---- TMA: a 4-d box into shared memory, completing on an mbarrier, with an L2 policy ----
// The policies a page stream may carry. Which kernel takes which was measured (bench/DECISIONS.md,
// D16 and D39): evict-first where several blocks read each page, normal where one does.
__device__ __forceinline__ u64 l2_evict_first_policy() {
    u64 policy;
    asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(policy));
    return policy;
}
__device__ __forceinline__ u64 l2_evict_normal_policy() {
    u64 policy;
    asm volatile("createpolicy.fractional.L2::evict_normal.b64 %0, 1.0;\n" : "=l"(policy));
    return policy;
}
__device__ __forceinline__ void tma_load_4d(u32 dst, const void* tensor_map, u32 bar, int c0, int c1, int c2, int c3, u64 policy) {
    asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint"
                 " [%0], [%1, {%2, %3, %4, %5}], [%6], %7;\n"
                 :: "r"(dst), "l"(tensor_map), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(bar), "l"(policy) : "memory");
}

// ---- wgmma: D(64xN, fp32) += A(64x16) · B(16xN) ----
// wgmma_ss_n32 / wgmma_ss_n64: A and B from shared memory, both K-major.
// wgmma_rs_n256_tb: A from registers (the m16n8k16 A-fragment layout per warp), B from shared
// memory N-major (transposed). wgmma_ss_n256_tb: the same with A from shared memory.
// The fp32 accumulators of a 64 × N tile (N/2 a thread) as asm operands %0 …, for N = 32, 64, 256.
#define FMLA_D32_REGS "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}"
#define FMLA_D32_OUTS "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
#define FMLA_D64_REGS "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define FMLA_D64_OUTS "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
#define FMLA_D256_REGS "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}"
#define FMLA_D256_OUTS "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])

// The specializations of wgmma_ss_n32 / wgmma_ss_n64 for element type T (PTX name PTXT); SCALE,
// DA and DB are the operand numbers of scale_d and the two descriptors.
#define FMLA_WGMMA_SS_KMAJOR(N, T, PTXT, SCALE, DA, DB)                                                 \
    template <> __device__ __forceinline__ void wgmma_ss_n##N<T>(float (&d)[N / 2], u64 desc_a, u64 desc_b, int scale_d) { \
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " SCALE ", 0;\n"                                 \
                     "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." PTXT "." PTXT " "              \
                     FMLA_D##N##_REGS ", " DA ", " DB ", p, 1, 1, 0, 0;\n}\n"                           \
                     : FMLA_D##N##_OUTS                                                                 \
                     : "l"(desc_a), "l"(desc_b), "r"(scale_d));                                         \
    }
template <typename T> __device__ __forceinline__ void wgmma_ss_n32(float (&d)[16], u64 desc_a, u64 desc_b, int scale_d);
FMLA_WGMMA_SS_KMAJOR(32, bf16, "bf16", "%18", "%16", "%17")
FMLA_WGMMA_SS_KMAJOR(32, fp16, "f16", "%18", "%16", "%17")
template <typename T> __device__ __forceinline__ void wgmma_ss_n64(float (&d)[32], u64 desc_a, u64 desc_b, int scale_d);
FMLA_WGMMA_SS_KMAJOR(64, bf16, "bf16", "%34", "%32", "%33")
FMLA_WGMMA_SS_KMAJOR(64, fp16, "f16", "%34", "%32", "%33")
template <typename T> __device__ __forceinline__ void wgmma_rs_n256_tb(float (&d)[128], const u32 (&a)[4], u64 desc_b, int scale_d);
#define FMLA_WGMMA_RS_N256_TB(T, PTXT)                                                                  \
    template <> __device__ __forceinline__ void wgmma_rs_n256_tb<T>(float (&d)[128], const u32 (&a)[4], u64 desc_b, int scale_d) { \
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %133, 0;\n"                                       \
                     "wgmma.mma_async.sync.aligned.m64n256k16.f32." PTXT "." PTXT " "                    \
                     FMLA_D256_REGS ", {%128, %129, %130, %131}, %132, p, 1, 1, 1;\n}\n"               \
                     : FMLA_D256_OUTS                                                                   \
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(scale_d));          \
    }
FMLA_WGMMA_RS_N256_TB(bf16, "bf16")
FMLA_WGMMA_RS_N256_TB(fp16, "f16")
// wgmma_ss_n256_tb: A from shared memory K-major (like Q), B from shared memory N-major.
template <typename T> __device__ __forceinline__ void wgmma_ss_n256_tb(float (&d)[128], u64 desc_a, u64 desc_b, int scale_d);
#define FMLA_WGMMA_SS_N256_TB(T, PTXT)                                                                  \
    template <> __device__ __forceinline__ void wgmma_ss_n256_tb<T>(float (&d)[128], u64 desc_a, u64 desc_b, int scale_d) { \
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"                                       \
                     "wgmma.mma_async.sync.aligned.m64n256k16.f32." PTXT "." PTXT " "                    \
                     FMLA_D256_REGS ", %128, %129, p, 1, 1, 0, 1;\n}\n"                                \
                     : FMLA_D256_OUTS                                                                   \
                     : "l"(desc_a), "l"(desc_b), "r"(scale_d));                                         \
    }
FMLA_WGMMA_SS_N256_TB(bf16, "bf16")
FMLA_WGMMA_SS_N256_TB(fp16, "f16")
