// What the two Hopper decode kernels (decode_lockstep.cu, decode_seesaw.cu) share: the
// shared-memory tile layout TMA writes and wgmma reads, the tensor map, and the entry points.
//
// Every tile is stored in 128-byte-swizzled boxes of 64 rows × 64 elements (8 KiB, 1024-byte
// aligned): 16-byte chunk c of row r lives at r·128 + ((c ^ r) & 7)·16. A 64 × 576 tile (Q, or
// one page of the cache) is 9 such boxes, columns 64·b … 64·b+63 in box b. Boxes 0–7 of a page
// are also V, read N-major by wgmma (keys are its rows): the descriptor's lead is the step
// between 64-column boxes and its stride the step between groups of 8 keys.
#pragma once
#include "common/mma_sm80.cuh"
#include "common/params.cuh"
#include "common/schedule.cuh"
#include "common/softmax.cuh"
#include "common/wgmma_sm90.cuh"

#define FMLA_BOX 8192                 // bytes of one 64 × 64 box
#define FMLA_TILE (9 * FMLA_BOX)      // bytes of a 64 × 576 tile (Q or a page)

// V's wgmma descriptor, N-major over a page's boxes: the lead is the step between 64-column boxes,
// the stride the step between groups of 8 keys (8 rows of 128 bytes).
constexpr u32 V_DESC_LEAD = FMLA_BOX;
constexpr u32 V_DESC_STRIDE = 1024;

// The cache's tensor map (CUtensorMap, built by the Swift host), passed by value as a
// __grid_constant__ parameter: (576, h_kv, 64, pages) innermost first, 64 × 64 boxes.
struct __align__(64) TensorMap { u64 words[16]; };

// The 32-bit shared-window address of FIELD of a kernel's STORAGE placed at `base`: the
// Hopper kernels address shared memory by such offsets, which fold into their instructions.
#define FMLA_AT(base, STORAGE, FIELD) ((base) + (u32)FMLA_OFFSETOF(STORAGE, FIELD))

// Byte offset of 16-byte chunk `chunk` (0 … 71) of row `row` in a swizzled tile.
__device__ __forceinline__ u32 sw128(int row, int chunk) {
    return (u32)((chunk >> 3) * FMLA_BOX + row * 128 + (((chunk & 7) ^ (row & 7)) << 4));
}

// Starts the cp.async copy of the block's query tile into sQ: tile row r is row R = tile_row0 + r
// of the KV head's rows R = qi·g + gi (query qi, head kvh·g + gi), zero-filled past `rows`. The
// block's 256 threads take four a row (r = thread / 4), thread t the 16-byte chunks t % 4 + 4·j,
// so that each finds its row's query and head once; a warp's copy j writes 8 rows × 64 bytes, the
// rows' swizzles differing, without bank conflicts. One commit group; the caller waits, fences
// for the async proxy and syncs (wait_piece_start).
// A thread's place in a Hopper decode block of 256 threads (two math warpgroups) over a 64-row
// query tile: its warpgroup, warp and lane, the tile's KV head and first row, the group size g
// (query heads a KV head) and the rows s_q·g of that head, and the two accumulator rows ra, rb
// (rb = ra + 8) of the wgmma m64 layout with their query indices qa, qb.
struct TileThread {
    int tid, wg, warp, lane, kvh, g, rows, tile_row0, ra, rb, qa, qb;
};

__device__ __forceinline__ TileThread tile_thread(const DecodeParams& params) {
    TileThread t;
    t.tid = threadIdx.x; t.wg = t.tid / 128; t.warp = (t.tid % 128) / 32; t.lane = t.tid % 32;
    t.kvh = blockIdx.y;
    t.g = params.h_q / params.h_kv; t.rows = params.s_q * t.g;
    t.tile_row0 = blockIdx.x * 64;
    t.ra = t.warp * 16 + t.lane / 4; t.rb = t.ra + 8;
    t.qa = (t.tile_row0 + t.ra) / t.g; t.qb = (t.tile_row0 + t.rb) / t.g;
    return t;
}

// THREADS (threads 0 … THREADS − 1 of the block, 256 or 128) take THREADS / 64 threads a row.
template <typename T, int THREADS = 256>
__device__ __forceinline__ void load_q_tile(u32 sQ, const DecodeParams& params, int req, int kvh, int g, int rows,
                                            int tile_row0) {
    constexpr int PER_ROW = THREADS / 64;
    const T* const q = static_cast<const T*>(params.q);
    const int r = threadIdx.x / PER_ROW, R = tile_row0 + r, c0 = threadIdx.x % PER_ROW;
    const bool ok = R < rows;
    const T* src = ok ? q + (i64)req * params.q_batch_stride + (i64)(R / g) * params.q_seq_stride
                            + (i64)(kvh * g + R % g) * params.q_head_stride
                      : q;
#pragma unroll
    for (int j = 0; j < 72 / PER_ROW; ++j)
        cp_async_16(sQ + sw128(r, c0 + PER_ROW * j), src + (ok ? (c0 + PER_ROW * j) * 8 : 0), ok);
    cp_async_commit();
}

// Shared-memory accesses by 32-bit shared-window address: generic pointers into shared memory
// would hold two registers each across the page loop, where every register is taken.
__device__ __forceinline__ void st_shared_f32(u32 addr, float v) {
    asm volatile("st.shared.f32 [%0], %1;\n" :: "r"(addr), "f"(v) : "memory");
}
__device__ __forceinline__ void st_shared_u32(u32 addr, u32 v) {
    asm volatile("st.shared.u32 [%0], %1;\n" :: "r"(addr), "r"(v) : "memory");
}
__device__ __forceinline__ void st_shared_zero16(u32 addr) {
    asm volatile("st.shared.v4.u32 [%0], {%1, %1, %1, %1};\n" :: "r"(addr), "r"(0) : "memory");
}
__device__ __forceinline__ float ld_shared_f32(u32 addr) {
    float v;
    asm volatile("ld.shared.f32 %0, [%1];\n" : "=f"(v) : "r"(addr) : "memory");
    return v;
}

// ---- Scores ----
// Accumulator layout of a 64 × N wgmma tile: thread (warp, lane) holds rows ra = 16·warp +
// lane/4 (h = 0) and rb = ra + 8 (h = 1); element 4·j + 2·h + e is column 8·j + 2·(lane % 4) + e.

// Masks S (unscaled; column c is key key0 + c) to the keys each row sees (below lim[h]), and
// returns each row's maximum in log2 units (the quad's four lanes reduced). When no key of the
// page (which ends at key page_end) is past either limit, S is not masked, and S stays unscaled:
// the exponentials fold the scale in (it is > 0, so the maximum commutes with it).
template <int N>
__device__ __forceinline__ void mask_and_max(float (&s)[N], int key0, int page_end, const int (&lim)[2],
                                             float scale_log2, int lane, float (&mx)[2]) {
    if (page_end > min(lim[0], lim[1])) {
#pragma unroll
        for (int j = 0; j < N / 4; ++j)
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int key = key0 + 8 * j + 2 * (lane % 4) + (i & 1);
                s[4 * j + i] = key < lim[i >> 1] ? s[4 * j + i] : -FMLA_INF;
            }
    }
    mx[0] = mx[1] = -FMLA_INF;
#pragma unroll
    for (int j = 0; j < N / 4; ++j)
#pragma unroll
        for (int i = 0; i < 4; ++i) mx[i >> 1] = fmaxf(mx[i >> 1], s[4 * j + i]);
#pragma unroll
    for (int h = 0; h < 2; ++h) mx[h] = quad_max(mx[h]) * scale_log2;
}

// After a piece's last page: each row's sum l[h] over the whole tile, from this thread's part.
// Each warpgroup holds the sum of the P it computed (both under the same maximum): summed over
// the quad, posted to red [2][64] fp32 (warpgroup wg's half), a block barrier, the halves added.
__device__ __forceinline__ void sum_row_halves(float (&l)[2], u32 red, int wg, int ra, int lane) {
#pragma unroll
    for (int h = 0; h < 2; ++h) l[h] = quad_sum(l[h]);
    if (lane % 4 == 0) {
        st_shared_f32(red + 4 * (wg * 64 + ra), l[0]);
        st_shared_f32(red + 4 * (wg * 64 + ra + 8), l[1]);
    }
    __syncthreads();
#pragma unroll
    for (int h = 0; h < 2; ++h) l[h] = ld_shared_f32(red + 4 * (ra + 8 * h)) + ld_shared_f32(red + 4 * (64 + ra + 8 * h));
}

// ---- A worker's pieces, as both Hopper kernels walk them ----
// The first piece's loads (its query tile, its first pages) start before the loop, and each later
// piece's at the row-sum barrier of the piece before it, where every product of that piece is done
// and both stages and sQ are free: the loads overlap that piece's epilogue. Each piece begins by
// waiting for its query tile.

// The piece of request `req` this tile computes; the tile's last row bounds a causal piece's pages.
__device__ __forceinline__ Piece tile_piece(const SchedPart& part, int req, const DecodeParams& params, int rows, int g,
                                            int tile_row0) {
    const int last_row = min(rows, tile_row0 + 64) - 1;
    return piece_of(part, req, params.seqlens, params.num_splits, params.max_pages, params.s_q, params.causal, last_row / g,
                    params.error_flag);
}

// After piece `req` (or, with req = begin_req − 1, before the first): the next piece into `piece`
// and start(next, piece) of its loads, or, past the worker's last piece, the combine may be
// scheduled.
template <typename At, typename Start>
__device__ __forceinline__ void begin_next_piece(int req, int end_req, Piece& piece, const At& piece_at, const Start& start) {
    if (req < end_req) {
        piece = piece_at(req + 1);
        start(req + 1, piece);
    } else {
        launch_dependents();
    }
}

// The top of a piece: its query tile has landed (a no-op for a piece with no page, which started
// nothing) and is visible to wgmma; the barrier also keeps the previous piece's reads of shared
// row sums ahead of this piece's writes.
__device__ __forceinline__ void wait_piece_start() {
    cp_async_wait<0>();
    fence_proxy_async();
    __syncthreads();
}

// Writes warpgroup wg's 256 output columns of this thread's rows ra and ra + 8 (h = 0, 1), divided
// by their row sums l[h], with lse = (m + log2 l)·ln 2: into `out`/`lse` when the request has a
// single split, else into its split's partial rows (starting at split_row0) for the combine. A
// row that saw no key gets lse +∞ (single: the output is 0, as FlashMLA's) or −∞ (a partial
// the combine ignores).
template <typename T>
__device__ __forceinline__ void store_tile(const float (&o)[128], const float (&l)[2], const float (&m)[2], bool single,
                                           i64 split_row0, const DecodeParams& params, int req, int kvh, int g, int rows,
                                           int tile_row0, int wg, int ra, int lane) {
    const int s_q = params.s_q, h_q = params.h_q;
    const float empty = single ? FMLA_INF : -FMLA_INF;
    const int col0 = wg * 256 + 2 * (lane % 4);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int R = tile_row0 + ra + 8 * h;
        if (R >= rows) continue;
        const float inv = l[h] > 0.f ? 1.f / l[h] : 0.f;
        const float row_lse = l[h] > 0.f ? (m[h] + fast_log2(l[h])) * FMLA_LN2 : empty;
        const int qi = R / g, head = kvh * g + R % g;
        if (single) {
            // The final row: the attention sink (if any) scales it; lse stays as it is.
            const float f = l[h] > 0.f ? inv * sink_factor(params.attn_sink, head, m[h] + fast_log2(l[h])) : 0.f;
            T* dst = static_cast<T*>(params.out) + out_row(req, qi, head, s_q, h_q) + col0;
#pragma unroll
            for (int n = 0; n < 32; ++n)
                *reinterpret_cast<u32*>(dst + n * 8) = pack2<T>(o[4 * n + 2 * h] * f, o[4 * n + 2 * h + 1] * f);
            if (wg == 0 && lane % 4 == 0) params.lse[lse_index(req, qi, head, s_q, h_q)] = row_lse;
        } else {
            float* dst = params.oaccum + (split_row0 + R) * FMLA_DV + col0;
#pragma unroll
            for (int n = 0; n < 32; ++n)
                *reinterpret_cast<float2*>(dst + n * 8) = make_float2(o[4 * n + 2 * h] * inv, o[4 * n + 2 * h + 1] * inv);
            if (wg == 0 && lane % 4 == 0) params.lseaccum[split_row0 + R] = row_lse;
        }
    }
}

// store_tile's single-split case (the request's final rows, q's type) through shared memory: each
// thread writes its rows' 256 columns of warpgroup wg, divided by the row sums and scaled by the
// sink, into rows of 264 elements at `region` (BULK_TILE_BYTES that nothing else reads or writes
// meanwhile; the 8 elements of pad put the eight rows one warp store touches in distinct banks: a
// 528-byte pitch is 4 banks a row). Then lane i < 16 of each warp copies its warp's row
// 16·warp + i with one bulk copy of 512 contiguous bytes. The direct form writes a row as 32 four-byte
// stores, each filling half of eight sectors, at the same moment on every SM: 10,464 cycles a
// piece at h_q 64 in the trace (D78), 4,546 this way (D80). (A split's float rows are stored
// directly: each of their stores fills whole sectors.) Lanes 0–15 wait for their copies' reads
// before they return, so after a __syncwarp the warp's rows may be overwritten.
constexpr u32 BULK_ROW_PITCH = 264 * 2, BULK_TILE_BYTES = 64 * BULK_ROW_PITCH;
template <typename T>
__device__ __forceinline__ void store_final_tile_bulk(const float (&o)[128], const float (&l)[2], const float (&m)[2],
                                                      const DecodeParams& params, int req, int kvh, int g, int rows,
                                                      int tile_row0, int wg, int warp, int lane, u32 region) {
    const int s_q = params.s_q, h_q = params.h_q;
    const int ra = warp * 16 + lane / 4;
    float f[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int R = tile_row0 + ra + 8 * h;
        const float lse2 = m[h] + fast_log2(l[h]);
        const int qi = R / g, head = kvh * g + R % g;
        f[h] = l[h] > 0.f ? 1.f / l[h] * sink_factor(params.attn_sink, head, lse2) : 0.f;
        if (R < rows && wg == 0 && lane % 4 == 0)
            params.lse[lse_index(req, qi, head, s_q, h_q)] = l[h] > 0.f ? lse2 * FMLA_LN2 : FMLA_INF;
    }
    const u32 a = region + ra * BULK_ROW_PITCH + 4 * (lane % 4);
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
        for (int n = 0; n < 32; ++n)
            st_shared_u32(a + h * 8 * BULK_ROW_PITCH + n * 16, pack2<T>(o[4 * n + 2 * h] * f[h], o[4 * n + 2 * h + 1] * f[h]));
    fence_proxy_async();
    __syncwarp();
    if (lane < 16) {
        const int r = warp * 16 + lane, R = tile_row0 + r;
        if (R < rows) {
            const int qi = R / g, head = kvh * g + R % g;
            bulk_store(static_cast<T*>(params.out) + out_row(req, qi, head, s_q, h_q) + wg * 256,
                       region + r * BULK_ROW_PITCH, 256 * 2);
        }
        bulk_commit();
        bulk_wait_read();
    }
}

// The extern "C" entry point NAME for element type T, calling FN<T>, unless the unit is compiled
// for the other type only (common/types.cuh), and NAME_smem_bytes, the dynamic shared memory it
// needs: its STORAGE and 1024 bytes, so that the kernel can align STORAGE to the 1024 bytes the
// swizzled boxes need (the host reads it from the compiled module, CUDA/KernelLibrary.swift).
// Both kernels take the same parameters, so the Swift host launches either the same way. The
// tensor map is a parameter of its own, not a DecodeParams field: only these kernels take it, the
// driver encodes it, and its 64-byte alignment would pad the struct every kernel shares; TMA
// reads it where it lies in the parameter bank either way.
#define FMLA_DECODE_SM90(NAME, T, FN, STORAGE)                                                             \
    FMLA_IF_##T(extern "C" __device__ const int NAME##_smem_bytes = sizeof(STORAGE) + 1024;                \
    extern "C" __global__ void __launch_bounds__(256, 1)                                                   \
    NAME(const __grid_constant__ TensorMap kmap, const __grid_constant__ DecodeParams params) {            \
        FN<T>(&kmap, params);                                                                              \
    })
