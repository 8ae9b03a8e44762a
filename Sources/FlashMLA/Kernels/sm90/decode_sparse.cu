// The Hopper sparse decode kernel (sm_90a): DeepSeek-V3.2's attention, each query token to its own
// list of cache slots, from a cache in q's type (1152 bytes a token for bf16) or in DeepSeek-V3.2's
// 656-byte FP8 layout. The portable kernel (sm80/decode_sparse.cu) computes the same function
// with mma.sync; this one feeds wgmma from a producer warpgroup.
//
// Grid: (query tokens · ⌈h_q / 64⌉ tiles, 1, workers), 384 threads = three warpgroups. A block
// takes 64 query heads of one query token (tile row r = head 64·tile + r; rows past h_q are
// zero and never stored) and walks its worker's pieces of the schedule (common/schedule.cuh) in
// blocks of 64 index positions, as the portable kernel's sparse mode does: DecodeParams with
// block_table → indices [b][s_q][topk], seqlens → topk_length or nullptr, num_pages → the cache's
// slots, max_pages → topk, strides in bytes. The _pair entry points (FP8 tokens, h_q 65–128) run
// a query token's two tiles as a cluster of two blocks that share the gather, each converting
// half of every block's tokens (see sparse_producer).
//
// Roles. Warpgroup 2 (the producer) gathers the 64 tokens of each block into a stage of shared
// memory as q's type: FP8 tokens are read into registers (16-byte loads), converted there and
// stored as wgmma's core matrices without swizzle (see KCHUNK); 16-bit tokens are copied by
// cp.async into the swizzled boxes of sm90/tile.cuh (one token a row).
// It works a window of blocks ahead (see sparse_producer). An invalid token (−1, at or past
// topk_length, or out of range) becomes a zero row and a zero validity byte. Warpgroup 0 computes
// S = Q·Kᵀ for all 64 keys (36 wgmma m64n64k16), the softmax (it alone keeps the row maxima and
// sums), writes P (q's type) to shared memory with each row's rescale factor, then multiplies its
// P, from registers, by V columns 0–255. Warpgroup 1 waits for that P and multiplies it, from
// shared memory, by V columns 256–511: it overlaps warpgroup 0's next S.
//
// Synchronization, in forms compute-sanitizer's racecheck and synccheck follow (both clean):
// full[s] (128 arrivals: every producer thread, after its own stores and a proxy fence; in a pair
// also the peer's st.async bytes, expected by one of those arrivals) says stage s holds its block;
// empty[s] (8 arrivals: one a math warp, after its last wgmma on the stage; 16 in a pair, the
// peer's math warps arriving too) frees it. Between the two math warpgroups, two mbarriers every thread of the producing
// warpgroup arrives on: P_READY (warpgroup 0's P and factors of this block are written) and P_FREE
// (warpgroup 1 has read them, so warpgroup 0 may write the next block's); and two named barriers
// of 256 threads, ROWS (end of a piece: row sums and maxima posted) and Q (a piece's query tile
// landed). Each warpgroup reaches those two from its own instantiation of sparse_math, so they
// are the unaligned barrier.sync: bar.sync, the aligned form, requires every thread to execute
// the same instruction, and synccheck reports it here (bench/DECISIONS.md, D58). A request's
// final rows leave through the stage of its last block (bulk copies), and out_free[s] (every math
// thread, after its own stores and its warp's copies' reads; in a pair one lane a peer warp too)
// lets the producer refill that stage (D80); in the worker's last piece warpgroup 0's rows go
// through the query tile instead, after it arrives at ROWS without waiting there (D82).
#include "sm90/tile.cuh"
#include "common/fp8.cuh"

#ifndef FMLA_SPARSE_EXP
// Timing probes only (bench/probes/sparse-profile.sh; results are wrong on purpose): 1 no math,
// 2 no cache reads, 3 (FP8) no conversion, 4 (FP8) neither. What they showed: BENCHMARKS.md, fourth
// session of 2026-12-03.
#define FMLA_SPARSE_EXP 0
#endif
#ifndef FMLA_SPARSE_BULK_STORE
// A request's final output rows through the last block's stage and bulk copies (sm90/tile.cuh,
// store_final_tile_bulk); 0 stores them from registers, as a split's partial rows are.
#define FMLA_SPARSE_BULK_STORE 1
#endif
#ifndef FMLA_SPARSE_EARLY_STORE
// With the bulk store, warpgroup 0 stores the worker's last piece through the query tile without
// waiting for warpgroup 1's last P·V; 0 makes it wait at BAR_ROWS as for the other pieces.
#define FMLA_SPARSE_EARLY_STORE 1
#endif
#define FMLA_SPARSE_FP8DS_TOKEN 656   // DeepSeek-V3.2: 512 E4M3 codes, 4 fp32 scales, 64 bf16 RoPE values

#ifndef FMLA_SPARSE_TRACE
// Timing probe only (bench/probes/sparse-trace.sh): per role, the clock cycles spent in each
// phase of a block, summed over a worker's blocks, and the block's start and end (globaltimer),
// printed for one launch. ptxas may move a clock read across a wait it does not depend on, so
// time splits between neighbouring phases (a wait and what follows it) are approximate; the
// totals, the span and the clock rate are not.
#define FMLA_SPARSE_TRACE 0
#endif
#if FMLA_SPARSE_TRACE
#ifndef FMLA_SPARSE_TRACE_LAUNCH
#define FMLA_SPARSE_TRACE_LAUNCH 8                    // which launch of the process prints (0: the first)
#endif
extern "C" __device__ int vprintf(const char*, const char*);
__device__ u32 g_trace_tickets;
__shared__ u32 s_trace[3][8];
__shared__ u32 s_trace_launch, s_trace_ns;    // the block's launch (by ticket at its start), its start (globaltimer, ns)
__shared__ u32 s_trace_clk0;                  // the block's start (clock)
__device__ __forceinline__ u32 trace_clock() { u32 t; asm volatile("mov.u32 %0, %%clock;\n" : "=r"(t) :: "memory"); return t; }
__device__ __forceinline__ u32 trace_ns() { unsigned long long t; asm volatile("mov.u64 %0, %%globaltimer;\n" : "=l"(t) :: "memory"); return (u32)t; }
#define TRACE_T(v) const u32 v = trace_clock()
#define TRACE_ADD(on, role, slot, dt) do { if (on) s_trace[role][slot] += (dt); } while (0)
// Slot 6 of a role: the clock at its first block's start (producer: its first `full` arrival), from the block's start.
#define TRACE_FIRST(on, role, t) do { if ((on) && s_trace[role][6] == 0) s_trace[role][6] = (t) - s_trace_clk0; } while (0)
__device__ __noinline__ void trace_print(int role, u32 total) {
    const u32 end_ns = trace_ns();
    if (s_trace_launch != FMLA_SPARSE_TRACE_LAUNCH) return;
    struct { int role, x, z; u32 a, b, c, d, e, f, g, h, tot, t0, t1; } args = {role, (int)blockIdx.x, (int)blockIdx.z,
        s_trace[role][0], s_trace[role][1], s_trace[role][2], s_trace[role][3], s_trace[role][4], s_trace[role][5], s_trace[role][6], s_trace[role][7], total,
        s_trace_ns, end_ns};
    vprintf("TRACE role=%d x=%d z=%d s0=%u s1=%u s2=%u s3=%u s4=%u s5=%u s6=%u s7=%u tot=%u ns0=%u ns1=%u\n", reinterpret_cast<const char*>(&args));
}
#else
#define TRACE_T(v)
#define TRACE_ADD(on, role, slot, dt)
#define TRACE_FIRST(on, role, t)
#endif
   // DeepSeek-V3.2: 512 E4M3 codes, 4 fp32 scales, 64 bf16 RoPE values

// Named barrier ids (0 is __syncthreads) and the threads that meet at them.
constexpr u32 BAR_ROWS = 3, BAR_Q = 4, MATH_THREADS = 256;

// A stage holds a block's 64 tokens × 576 values (q's type) as wgmma's core matrices without
// swizzle: 16-byte chunk j (values 8j … 8j + 7) of token t at j·KCHUNK + t·16, so tokens 8i …
// 8i + 7 of chunk j are one 128-byte core matrix. Q·Kᵀ reads it K-major (core matrices KCHUNK
// apart along k, 128 along the tokens), P·V N-major (128 apart along k, the tokens; KCHUNK along
// the 512 value columns). FlashMLA's producer uses the same layout: each store a producer lane
// makes is one base register plus an immediate, and eight lanes storing consecutive tokens' chunk
// fill 128 contiguous bytes (no bank conflicts; with the 128-byte swizzle each store computed its
// own address and took two wavefronts: D74).
constexpr u32 KCHUNK = 64 * 16;                           // bytes from chunk j of a token to chunk j + 1
// V's descriptor for k-step ks (keys 16·ks …) of value columns 256·half …: without swizzle
// (FP8 tokens) or in sm90/tile.cuh's swizzled boxes (16-bit tokens, which cp.async copies there).
template <bool INTER> __device__ __forceinline__ u64 v_desc(u32 kst, int half, int ks) {
    return INTER ? smem_desc_inter(kst + half * 32 * KCHUNK + ks * 256, 128, KCHUNK)
                 : smem_desc_sw128(kst + half * 4 * FMLA_BOX + ks * 2048, V_DESC_LEAD, V_DESC_STRIDE);
}

// Shared memory, from a 1024-aligned base.
struct SparseStorage {
    u8 q[FMLA_TILE];              // the query tile (cp.async, once per piece)
    u8 k[2][FMLA_TILE];           // two stages of 64 gathered tokens (FP8: see KCHUNK; else boxes, 0–7 also V)
    u8 p[FMLA_BOX];               // warpgroup 0's P for warpgroup 1: 64 rows × 64 keys, one swizzled box
    float alpha[64];              // each row's rescale of O for this block
    float rows[2][64];            // end of a piece: row sums, row maxima (log2 units)
    u8 valid[2][64];              // each stage's validity byte a token
    u64 full[2], empty[2];
    u64 handoff[2];               // P_READY, P_FREE
    u64 out_free[2];              // a request's final rows, stored through stage s, have left it
};

// A barrier both math warpgroups block on, each from its own instantiation of sparse_math.
__device__ __forceinline__ void math_sync(u32 id) {
    asm volatile("barrier.sync %0, %1;\n" :: "r"(id), "r"(MATH_THREADS) : "memory");
}
// Arrives at such a barrier without waiting for it (the other warpgroup waits with math_sync).
__device__ __forceinline__ void math_arrive(u32 id) {
    asm volatile("barrier.arrive %0, %1;\n" :: "r"(id), "r"(MATH_THREADS) : "memory");
}
// Registers a thread of each warpgroup holds after the split: warpgroup 0 keeps S, P and half of
// O; warpgroup 1 half of O; the producer a block's FP8 loads in flight. The block is launched with
// 168 a thread (384 threads in 64 Ki), and setmaxnreg.inc only takes what the block's other
// warpgroups gave back with setmaxnreg.dec, so the three must sum to at most 3 · 168 = 504 (more
// waits forever). 192 + 160 + 152 = 504: on sm_90a (NVRTC 13.0) the least each needs without
// spilling. FMLA_SPARSE_REGS overrides them to try others. (ptxas compiles every warpgroup's
// code within the launch's 168, whatever setmaxnreg gives: a fourth warpgroup, 128 a thread,
// leaves too few for the math's wgmma — ptxas refuses it, D64.)
#ifndef FMLA_SPARSE_REGS
#define FMLA_SPARSE_REGS 192, 160, 152
#endif
constexpr int SPARSE_REGS[3] = {FMLA_SPARSE_REGS};
constexpr int WG0_REGS = SPARSE_REGS[0], WG1_REGS = SPARSE_REGS[1], PRODUCER_REGS = SPARSE_REGS[2];
static_assert(WG0_REGS + WG1_REGS + PRODUCER_REGS <= 3 * 168, "setmaxnreg.inc would wait for registers no warpgroup gives back");
template <int N> __device__ __forceinline__ void regs_inc() { asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" :: "n"(N)); }
template <int N> __device__ __forceinline__ void regs_dec() { asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" :: "n"(N)); }

// O's rows times this block's rescale factors, skipped by a warp whose factors are all 1 (none of
// its rows' maxima grew; x · 1 = x, so the result is the same): 0.6–1.2% less time on every
// fp8-ds row of V3.2's shapes (D75).
__device__ __forceinline__ void rescale_rows(float (&o)[128], float alpha_a, float alpha_b) {
    if (__any_sync(0xffffffffu, alpha_a != 1.f || alpha_b != 1.f)) scale_rows(o, alpha_a, alpha_b);
}

// What every role derives from the block's place and the schedule.
struct SparseTile {
    int qi;                       // the query token
    int tile_row0, row_end;       // the tile's first row and the token's row bound (rows R = qi·h_q + head)
};

__device__ __forceinline__ SparseTile sparse_tile(const DecodeParams& params) {
    const int g = params.h_q, tiles = (g + 63) / 64;
    SparseTile t;
    t.qi = blockIdx.x / tiles;
    t.tile_row0 = t.qi * g + (blockIdx.x % tiles) * 64;
    t.row_end = t.qi * g + g;
    return t;
}

__device__ __forceinline__ Piece sparse_piece(const SchedPart& part, int req, const DecodeParams& params) {
    return piece_of(part, req, params.seqlens, params.num_splits, params.max_pages, params.s_q, 0, 0, params.error_flag, 1);
}

// ---- The producer ----
// Where the producer is in its worker's blocks: the pieces of the worker's requests in order,
// empty pieces skipped, so the same sequence the math warpgroups consume. A cursor past the last
// block is dead (req > part.end_req).
struct BlockCursor {
    int req, blk, first_page, n_pages, seqlen;
    bool single;                  // the piece is its request's only one (the math stores its final rows)
};

// The cursor's request's piece, if the request is the worker's.
__device__ __forceinline__ void cursor_load_piece(BlockCursor& c, const SchedPart& part, const DecodeParams& params) {
    if (c.req <= part.end_req) {
        const Piece p = sparse_piece(part, c.req, params);
        c.first_page = p.first_page; c.n_pages = p.n_pages; c.seqlen = p.seqlen; c.single = p.single;
    }
}

__device__ __forceinline__ void cursor_settle(BlockCursor& c, const SchedPart& part, const DecodeParams& params) {
    while (c.blk >= c.n_pages && c.req <= part.end_req) {
        ++c.req;
        c.blk = 0;
        cursor_load_piece(c, part, params);
    }
}

__device__ __forceinline__ BlockCursor cursor_first(const SchedPart& part, const DecodeParams& params) {
    BlockCursor c{part.begin_req, 0, 0, 0, 0, false};
    cursor_load_piece(c, part, params);
    cursor_settle(c, part, params);
    return c;
}

__device__ __forceinline__ BlockCursor cursor_next(BlockCursor c, const SchedPart& part, const DecodeParams& params) {
    ++c.blk;
    cursor_settle(c, part, params);
    return c;
}

// The index of token `tok` of the cursor's block: −1 past the piece's length or for a dead
// cursor. A lane loads the index of its warp's token lane % 16 (lane % 8 in a pair, where a warp
// gathers 8 tokens a block); the indices reach the lanes that use them by shuffle.
__device__ __forceinline__ int block_index(const BlockCursor& c, const SchedPart& part, const DecodeParams& params,
                                           const SparseTile& tile, int tok) {
    const int pos = (c.first_page + c.blk) * FMLA_PAGE + tok;
    if (c.req > part.end_req || pos >= c.seqlen) return -1;
    const int* const row = params.block_table + (i64)c.req * params.bt_stride + (i64)tile.qi * params.ind_seq_stride;
    return __ldg(row + pos);
}

// A lane's place in the producer's mapping (see sparse_producer): r = lane % 8 picks the token
// within its warp's eight, g = lane / 8 the lane's quarter of each 64-value stretch.
// Token k of the lane's block (k < TOKENS): its index from the lane that loaded it (lane r + 8k).
// An index neither −1 nor a slot is reported (once, by a loading lane) and read as invalid.
__device__ __forceinline__ int token_index(int idx, int k, int lane, bool pair) {
    return pair ? idx : __shfl_sync(0xffffffffu, idx, (lane & 7) + 8 * k);
}
__device__ __forceinline__ void report_bad_index(int idx, int lane, const DecodeParams& params) {
    if (lane < 16 && idx != -1 && (u32)idx >= (u32)params.num_pages) atomicOr(params.error_flag, FMLA_ERR_INDEX);
}
// The byte offset of slot idx (a valid one, so non-negative) in the cache. A page size that is a
// power of two (64 and 256, FlashMLA's) takes a shift, others an unsigned division: a division a
// token is on the producer's critical path (the shift was 6–16% faster than an unsigned division
// in the same call, D65).
__device__ __forceinline__ i64 slot_offset(int idx, const DecodeParams& params) {
    const u32 ps = (u32)params.page_size;
    const u32 page = (ps & (ps - 1)) == 0 ? (u32)idx >> (__ffs((int)ps) - 1) : (u32)idx / ps;
    return (i64)page * params.k_page_stride + (i64)((u32)idx - page * ps) * params.k_token_stride;
}
// The validity bytes of the warp's eight tokens k (lanes 0–7 hold them, one each) as two words:
// byte i is token 8w + i's.
__device__ __forceinline__ uint2 validity_bytes(bool v) {
    const u32 m = __ballot_sync(0xffffffffu, v);
    uint2 w;
    w.x = (m & 1) | (m >> 1 & 1) << 8 | (m >> 2 & 1) << 16 | (m >> 3 & 1) << 24;
    w.y = (m >> 4 & 1) | (m >> 5 & 1) << 8 | (m >> 6 & 1) << 16 | (m >> 7 & 1) << 24;
    return w;
}

// What a lane reads of one FP8 token (see sparse_producer): 16 codes of each 64-code stretch
// d (codes 64·d + 16·g …), the token's four scales, and 8 RoPE values of each 32-value half.
struct Fp8Token {
    uint4 codes[8];
    float4 scales;
    uint4 rope[2];
};

// The loads sit behind a branch on `ok`: a branch-free form (an invalid token reading a dummy
// address), which let the scheduler spread the loads among the previous block's conversions, ran
// 27% slower (bench/DECISIONS.md, D61).
__device__ __forceinline__ void fp8_token_load(Fp8Token& d, const u8* src, bool ok, int g) {
    if (ok && FMLA_SPARSE_EXP != 2 && FMLA_SPARSE_EXP != 4) {
#pragma unroll
        for (int s = 0; s < 8; ++s) d.codes[s] = __ldg(reinterpret_cast<const uint4*>(src + 64 * s + 16 * g));
        d.scales = __ldg(reinterpret_cast<const float4*>(src + 512));
#pragma unroll
        for (int h = 0; h < 2; ++h) d.rope[h] = __ldg(reinterpret_cast<const uint4*>(src + 528 + 64 * h + 16 * g));
    } else {
#pragma unroll
        for (int s = 0; s < 8; ++s) d.codes[s] = make_uint4(0, 0, 0, 0);
        d.scales = make_float4(0.f, 0.f, 0.f, 0.f);
        d.rope[0] = d.rope[1] = make_uint4(0, 0, 0, 0);
    }
}

// 16 bytes into the stage (at `a`) and, in a pair, into the peer's (`peer` bytes on in the
// cluster's window), counted on the peer's `full` (`pfull`).
template <bool PAIR>
__device__ __forceinline__ void stage_put(u32 a, const uint4& x, u32 peer, u32 pfull) {
    st_shared_v4(a, x.x, x.y, x.z, x.w);
    if constexpr (PAIR) st_async_16(a + peer, x.x, x.y, x.z, x.w, pfull);
}

// A lane's two RoPE chunks (bf16 in the cache) as q's type, at `rope` (its chunk 64 + g) and
// 4·KCHUNK on.
template <bool PAIR, typename T>
__device__ __forceinline__ void fp8_rope_put(const Fp8Token& d, u32 rope, u32 peer, u32 pfull) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const uint4 x = d.rope[h];
        const uint4 y = make_uint4(bf16x2_to<T>(x.x), bf16x2_to<T>(x.y), bf16x2_to<T>(x.z), bf16x2_to<T>(x.w));
        stage_put<PAIR>(rope + 4 * h * KCHUNK, y, peer, pfull);
    }
}
// A lane's token converted to q's type and stored: `nope` is the address of the token's chunk
// 2g (values 16·g …), `rope` of its chunk 64 + g. Stretch d's 16 codes make chunks 8·d + 2g and
// 8·d + 2g + 1; RoPE half h is chunk 64 + 4·h + g. Every address is one of the two plus an
// immediate. The RoPE chunks go last: with the producer's `out_free` wait (store_final_tile_bulk)
// the order in which ptxas fits each of the four FP8 producers into its 152 registers without
// spilling (NVRTC 13.0; RoPE first for fp16 in a single block spilled 8 bytes, and before that
// wait it was the other way round).
template <typename T, bool PAIR>
__device__ __forceinline__ void fp8_token_put(const Fp8Token& d, u32 nope, u32 rope, u32 peer, u32 pfull) {
    const float sc[4] = {d.scales.x, d.scales.y, d.scales.z, d.scales.w};
#pragma unroll
    for (int s = 0; s < 8; ++s) {
        uint4 lo, hi;
        const uint4 c = d.codes[s];
#if FMLA_SPARSE_EXP == 3 || FMLA_SPARSE_EXP == 4
        lo = c; hi = c;
#else
        // Each code pair: the hardware's exact E4M3 → fp16x2, both halves to float, the float
        // products with the scale rounded once to T: the reference's dequantization, bit for bit
        // (six instructions a pair; a bf16 split-scale form took seven and ran 9–16% slower, D74).
        const float k = sc[s / 2];
        lo = make_uint4(e4m3x2_scaled<T>(c.x, k), e4m3x2_scaled<T>(c.x >> 16, k), e4m3x2_scaled<T>(c.y, k), e4m3x2_scaled<T>(c.y >> 16, k));
        hi = make_uint4(e4m3x2_scaled<T>(c.z, k), e4m3x2_scaled<T>(c.z >> 16, k), e4m3x2_scaled<T>(c.w, k), e4m3x2_scaled<T>(c.w >> 16, k));
#endif
        stage_put<PAIR>(nope + 8 * s * KCHUNK, lo, peer, pfull);
        stage_put<PAIR>(nope + (8 * s + 1) * KCHUNK, hi, peer, pfull);
    }
    fp8_rope_put<PAIR, T>(d, rope, peer, pfull);
}

// Block k of the pipeline's window (k = 0: the block being filled) is live.
__device__ __forceinline__ bool window_live(u32 live, int k) { return live >> k & 1; }
// The cursor's block is the last of a request's only piece: the math stores the request's rows
// through its stage (store_final_tile_bulk), which `out_free` then releases. Bit 4 + k of `live`.
__device__ __forceinline__ u32 staged_bit(const BlockCursor& c, const SchedPart& part, int k) {
    return (u32)(FMLA_SPARSE_BULK_STORE && c.req <= part.end_req && c.single && c.blk + 1 == c.n_pages) << (4 + k);
}
// The window's last place (block it + 3) taken by the block after `lead`'s: its index and liveness.
__device__ __forceinline__ void window_extend(BlockCursor& lead, int (&idx)[4], u32& live, const SchedPart& part,
                                              const DecodeParams& params, const SparseTile& tile, int tok) {
    lead = cursor_next(lead, part, params);
    idx[3] = block_index(lead, part, params, tile, tok);
    live |= (u32)(lead.req <= part.end_req) << 3 | staged_bit(lead, part, 3);
}
// The window one block on: block it + 1 becomes block it. Bits 8 and 9 of `live` remember
// whether blocks it − 1 and it − 2 were stored through (staged_bit), bits 10 + s are the parity of
// `out_free[s]`'s next phase (one register fewer: the FP8 → fp16 producer spilled with its own).
__device__ __forceinline__ void window_shift(int (&idx)[4], u32& live) {
    idx[0] = idx[1]; idx[1] = idx[2]; idx[2] = idx[3];
    live = (live >> 1 & 0x77u) | (live << 4 & 0x100u) | (live << 1 & 0x200u) | (live & 0xC00u);
}
// Before block it's stores into stage s: block it − 2, the stage's last, was stored through, so
// wait until the math's bulk copies have read it (`out_free[s]`'s next phase). One barrier a
// stage, as `empty`: a stage is stored through again only after the producer refilled it, so
// at most one phase of each is ever pending.
__device__ __forceinline__ void wait_stage_stored(u32& live, u32 out_free, int s) {
    if (live & 0x200u) {
        mbar_wait(out_free + 8 * s, live >> (10 + s) & 1);
        live ^= 0x400u << s;
    }
}

// The FP8 mapping. Warp w's lane (r = lane % 8, g = lane / 8) gathers tokens 8·w + r + 32·k of a
// block, k < 2 (a pair: block rank ρ's lane the one token 32·ρ + 8·w + r): the eight lanes of a
// g share a 16-byte store across eight consecutive tokens (128 contiguous bytes of a core matrix,
// so no bank conflicts), and the four lanes of an r read 64 contiguous bytes of each stretch of
// their token. A lane reads 16 codes of each 64-code stretch (eight 16-byte loads), the token's
// four scales (one) and 16 RoPE bytes of each half (two), converts and writes 18 chunks, each at
// one of two registers plus an immediate (FlashMLA's producer maps its lanes the same way). That
// is FP8 tokens; 16-bit tokens keep the swizzled boxes and a half-warp a token (below): with this
// mapping their cp.async gathers, 64 bytes of eight tokens a warp copy, ran 65–90% slower (D74).
//
// A pair (PAIR: h_q 65–128, the two 64-row tiles of a query token in a cluster of two blocks,
// FP8 only) shares the gather: block rank ρ converts tokens 32·ρ … 32·ρ + 31 of every block and
// writes each chunk to its own stage and, by st.async, to the peer's, whose `full` counts those
// bytes (36,864, and the 32 validity bytes, which lane 0 of each warp writes eight at a time). A
// stage is refilled only once both blocks' math has freed it: `empty` takes 16 arrivals, each math
// warp arriving on its own block's and on the peer's. So the reads and conversions a block does
// halve at h_q 128, where the two tiles would otherwise each gather the same tokens.
//
// Pipelining. A gather is latency-bound: two stages of shared memory (or, for FP8, one block of
// loads in the producer's registers) are all the bytes a block can keep in flight. So the producer
// works on a window of four blocks: while it fills block it's stage, it loads block it + 1 (FP8:
// into registers, each token's registers refilled once it is converted, so no second set) and
// block it + 3's indices, which are then never waited for. (Loads spread among the conversions,
// or issued before them, ran 27% (D61) and 34% (D63) slower.) 16-bit tokens: the producer first
// waits for block it − 1's copies (issued a block earlier) and releases it, then waits for block
// it's stage and issues its copies: so the math gets block it − 1 as soon as it lands, not only
// once block it − 2's stage is free (6–12% faster, D63). (Asking L2 for block it + 2's tokens
// ahead, cp.async.bulk.prefetch.L2, was 6–10% slower: D60.) Every producer thread arrives on
// `full` after its own stores and a proxy fence (128 arrivals), so each store is released by the
// thread that made it.
constexpr u32 PAIR_TX_BYTES = 32 * 2 * FMLA_D + 32;      // the peer's share of a stage: 32 token rows, 32 validity bytes

template <typename T, bool FP8DS, bool PAIR>
__device__ __forceinline__ void sparse_producer(const DecodeParams& params, const SparseTile& tile, u32 base,
                                                SparseStorage& smem) {
    static_assert(FP8DS || !PAIR, "a pair shares converted FP8 tokens only");
    constexpr int TOKENS = PAIR ? 1 : 2;                      // tokens a lane gathers a block
    const int ptid = threadIdx.x - 256, warp = ptid / 32, lane = ptid % 32, g = lane / 8;
    const u8* const kcache = static_cast<const u8*>(params.kcache);
    const SchedPart part = load_part(params.sched, blockIdx.z);
    const u32 sK = FMLA_AT(base, SparseStorage, k), full = FMLA_AT(base, SparseStorage, full);
    const u32 empty = FMLA_AT(base, SparseStorage, empty), sValid = FMLA_AT(base, SparseStorage, valid);
    const u32 rank = PAIR ? cluster_rank() : 0;
    const int first = (PAIR ? 32 * (int)rank : 0) + 8 * warp;   // token k of the warp: first + (lane % 8) + 32·k
    // The token whose index this lane loads (16-bit tokens: the half-warp's token lane % 16, below).
    const int tok = FP8DS ? first + (lane & 7) + (PAIR ? 0 : 32 * (g & 1)) : 16 * warp + lane % 16;
    // The peer's copy of an address is `peer` bytes on in the cluster's window.
    const u32 peer = PAIR ? cluster_map(base, rank ^ 1) - base : 0;
    // The lane's chunk 0 of token k = 0 in stage 0; token k is 32·16 bytes on, stage s FMLA_TILE·s.
    const u32 lane_row = sK + (u32)(first + (lane & 7)) * 16;
    // The window: idx[k] is this lane's index of block it + k, bit k of `live` says block it + k
    // exists (bits 4 + k, 8, 9: staged_bit, window_shift); `lead` is the cursor of the window's
    // last block.
    BlockCursor lead = cursor_first(part, params);
    if (lead.req > part.end_req) return;
    int idx[4];
    u32 live = 0;
#pragma unroll
    for (int k = 0; k < 3; ++k) {
        if (k > 0) lead = cursor_next(lead, part, params);
        idx[k] = block_index(lead, part, params, tile, tok);
        live |= (u32)(lead.req <= part.end_req) << k | staged_bit(lead, part, k);
    }
    const u32 out_free = FMLA_AT(base, SparseStorage, out_free);
    int stage = 0;
    if constexpr (FP8DS) {
        Fp8Token share[TOKENS];
        u32 ok = 0;                                           // bit k: token k of the block in registers is valid
        report_bad_index(idx[0], lane, params);
#pragma unroll
        for (int k = 0; k < TOKENS; ++k) {
            const int id = token_index(idx[0], k, lane, PAIR);
            const bool v = (u32)id < (u32)params.num_pages;
            ok |= (u32)v << k;
            fp8_token_load(share[k], kcache + (v ? slot_offset(id, params) : 0), v, g);
        }
        for (int it = 0;; ++it) {
            TRACE_T(t0);
            stage = it & 1;
            window_extend(lead, idx, live, part, params, tile, tok);
            const u32 pfull = full + 8 * stage + peer;
            const u32 row = lane_row + stage * FMLA_TILE;
            TRACE_T(ta);
            if (it >= 2) mbar_wait(empty + 8 * stage, ((it >> 1) - 1) & 1);
            wait_stage_stored(live, out_free, stage);
            TRACE_T(t1);
#if FMLA_SPARSE_TRACE
            u32 t2 = 0;
#endif
            report_bad_index(idx[1], lane, params);
            u32 ok_next = 0;
#pragma unroll
            for (int k = 0; k < TOKENS; ++k) {
                const int id = token_index(idx[1], k, lane, PAIR);
                const bool v = (u32)id < (u32)params.num_pages;
                ok_next |= (u32)v << k;
                const u32 nope = row + 512 * k + 2 * g * KCHUNK, rope = row + 512 * k + (64 + g) * KCHUNK;
                fp8_token_put<T, PAIR>(share[k], nope, rope, peer, pfull);
#if FMLA_SPARSE_TRACE
                if (k == 0) t2 = trace_clock();
#endif
                fp8_token_load(share[k], kcache + (v ? slot_offset(id, params) : 0), v, g);
                const uint2 w = validity_bytes((ok >> k & 1) != 0);
                if (lane == 0) {
                    const u32 a = sValid + 64 * stage + first + 32 * k;
                    st_shared_v2(a, w.x, w.y);
                    if constexpr (PAIR) st_async_8(a + peer, w.x, w.y, pfull);
                }
            }
            TRACE_T(t3);
            fence_proxy_async();                              // the stores, for wgmma's reads
            if (PAIR && ptid == 0) mbar_arrive_expect_tx(full + 8 * stage, PAIR_TX_BYTES);
            else mbar_arrive(full + 8 * stage);
            TRACE_T(t4);
            TRACE_FIRST(ptid == 0, 2, t4);
            TRACE_ADD(ptid == 0, 2, 0, t1 - ta);
            TRACE_ADD(ptid == 0, 2, 1, t2 - t1);
            TRACE_ADD(ptid == 0, 2, 2, t3 - t2);
            TRACE_ADD(ptid == 0, 2, 3, t4 - t3);
            TRACE_ADD(ptid == 0, 2, 4, 1);
            TRACE_ADD(ptid == 0, 2, 5, ta - t0);
            if (!window_live(live, 1)) break;
            ok = ok_next;
            window_shift(idx, live);
        }
    } else {
        // 16-bit tokens, in the swizzled layout: round i's token 16·w + 2·i + lane / 16 (its
        // index from lane 2·i + lane / 16), 72 chunks, lane u = lane % 16 copying chunks u + 16·j.
        const int u = lane % 16;
        for (int it = 0;; ++it) {
            stage = it & 1;
            window_extend(lead, idx, live, part, params, tile, tok);
            const u32 kst = sK + stage * FMLA_TILE;
            if (it >= 1) {                                    // block it − 1 landed: release it
                cp_async_wait<0>();
                fence_proxy_async();
                mbar_arrive(full + 8 * (stage ^ 1));
            }
            if (it >= 2) mbar_wait(empty + 8 * stage, ((it >> 1) - 1) & 1);
            wait_stage_stored(live, out_free, stage);
            report_bad_index(idx[0], lane, params);
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                const int t = warp * 16 + 2 * i + lane / 16;
                const int id = __shfl_sync(0xffffffffu, idx[0], 2 * i + lane / 16);
                const bool valid = (u32)id < (u32)params.num_pages;
                const u8* const src = kcache + (valid ? slot_offset(id, params) : 0);
#pragma unroll
                for (int j = 0; j < 5; ++j) {
                    const int c = u + 16 * j;
                    if (c < 72) cp_async_16(kst + sw128(t, c), src + 16 * c, valid && FMLA_SPARSE_EXP != 2);
                }
                if (u == 0) smem.valid[stage][t] = valid;
            }
            cp_async_commit();
            if (!window_live(live, 1)) break;
            window_shift(idx, live);
        }
        cp_async_wait<0>();
        fence_proxy_async();
        mbar_arrive(full + 8 * stage);
    }
}

// ---- The math warpgroups ----
// One instantiation a warpgroup (WG), so that each is compiled within its own register budget.
template <typename T, int WG, bool FP8DS, bool PAIR>
__device__ __forceinline__ void sparse_math(const DecodeParams& params, const SparseTile& tile, u32 base,
                                            SparseStorage& smem) {
    constexpr int wg = WG;
    const int tid = threadIdx.x, warp = (tid % 128) / 32, lane = tid % 32;
    const int g = params.h_q;
    const int ra = warp * 16 + lane / 4, rb = ra + 8;
    const u32 sQ = FMLA_AT(base, SparseStorage, q), sK = FMLA_AT(base, SparseStorage, k);
    const u32 sP = FMLA_AT(base, SparseStorage, p);
    const u32 full = FMLA_AT(base, SparseStorage, full), empty = FMLA_AT(base, SparseStorage, empty);
    const u32 p_ready = FMLA_AT(base, SparseStorage, handoff), p_free = p_ready + 8;
    const u32 peer_empty = PAIR ? cluster_map(empty, cluster_rank() ^ 1) : 0;   // a pair: the peer's `empty`
    const u32 out_free = FMLA_AT(base, SparseStorage, out_free);
    const u32 peer_out_free = PAIR ? cluster_map(out_free, cluster_rank() ^ 1) : 0;
    const SchedPart part = load_part(params.sched, blockIdx.z);
    const float scale_log2 = params.scale_log2;
    int frees = 0;                                            // warpgroup 0: P_FREE phases waited for

    auto start_piece = [&](int req, const Piece& pc) {
        if (WG == 0 && pc.n_pages > 0) load_q_tile<T, 128>(sQ, params, req, 0, g, tile.row_end, tile.tile_row0);
    };
    auto piece_at = [&](int req) { return sparse_piece(part, req, params); };

    Piece piece;
    int it = 0;
    begin_next_piece(part.begin_req - 1, part.end_req, piece, piece_at, start_piece);
    for (int req = part.begin_req; req <= part.end_req; ++req) {
        const int n = piece.n_pages;
        // A request's final rows leave through the stage of the piece's last block (see below),
        // which the producer does not refill until `out_free` of its stage says they have.
        const bool staged = FMLA_SPARSE_BULK_STORE && piece.single && n > 0;
        float o[128];
#pragma unroll
        for (int i = 0; i < 128; ++i) o[i] = 0.f;
        float m_a = -FMLA_INF, m_b = -FMLA_INF, l_a = 0.f, l_b = 0.f;
        cp_async_wait<0>();
        fence_proxy_async();
        math_sync(BAR_Q);                                     // the query tile landed (and last piece's rows were read)

        for (int blk = 0; blk < n; ++blk, ++it) {
            const int stage = it & 1;
            const u32 kst = sK + stage * FMLA_TILE;
            TRACE_T(m0);
            mbar_wait(full + 8 * stage, (it >> 1) & 1);
            TRACE_T(m1);
            TRACE_ADD(tid % 128 == 0, WG, 0, m1 - m0);
            TRACE_FIRST(tid % 128 == 0, WG, m1);
            if constexpr (FMLA_SPARSE_EXP == 1) {
            } else if constexpr (WG == 0) {
                // S = Q·Kᵀ over the 64 keys, k = 576 in 36 steps.
                float s[32];
                const u64 dq = smem_desc_sw128(sQ, 16, 1024);
                const u64 dk = FP8DS ? smem_desc_inter(kst, KCHUNK, 128) : smem_desc_sw128(kst, 16, 1024);
                wgmma_fence();
#pragma unroll
                for (int kk = 0; kk < 36; ++kk) {
                    const u32 box_offset = (kk >> 2) * FMLA_BOX + (kk & 3) * 32;
                    wgmma_ss_n64<T>(s, desc_plus(dq, box_offset), desc_plus(dk, FP8DS ? kk * 2 * KCHUNK : box_offset), kk > 0);
                }
                wgmma_commit();
                wgmma_wait<0>();
                fence_registers(s);
                TRACE_T(m2);
                TRACE_ADD(tid == 0, 0, 1, m2 - m1);

                // Invalid keys out, row maxima in log2 units.
                const u8* const valid = smem.valid[stage];
                float mx_a = -FMLA_INF, mx_b = -FMLA_INF;
#pragma unroll
                for (int j = 0; j < 8; ++j) {
                    const u32 pair = *reinterpret_cast<const unsigned short*>(valid + 8 * j + 2 * (lane % 4));
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        const bool ok = (pair >> (8 * (i & 1))) & 0xFF;
                        s[4 * j + i] = ok ? s[4 * j + i] : -FMLA_INF;
                    }
                    mx_a = fmaxf(mx_a, fmaxf(s[4 * j], s[4 * j + 1]));
                    mx_b = fmaxf(mx_b, fmaxf(s[4 * j + 2], s[4 * j + 3]));
                }
                mx_a = quad_max(mx_a) * scale_log2;
                mx_b = quad_max(mx_b) * scale_log2;
                const float new_a = fmaxf(m_a, mx_a), new_b = fmaxf(m_b, mx_b);
                const float use_a = exp_base(new_a), use_b = exp_base(new_b);
                const float alpha_a = fast_exp2(m_a - use_a), alpha_b = fast_exp2(m_b - use_b);
                m_a = new_a; m_b = new_b;

                // P as A fragments: k-step ks holds keys 16·ks … 16·ks + 15 (accumulator groups 2·ks, 2·ks + 1).
                u32 a[4][4];
                float sum_a = 0.f, sum_b = 0.f;
#pragma unroll
                for (int j = 0; j < 8; ++j) {
                    const float p0 = fast_exp2(fmaf(s[4 * j], scale_log2, -use_a));
                    const float p1 = fast_exp2(fmaf(s[4 * j + 1], scale_log2, -use_a));
                    const float p2 = fast_exp2(fmaf(s[4 * j + 2], scale_log2, -use_b));
                    const float p3 = fast_exp2(fmaf(s[4 * j + 3], scale_log2, -use_b));
                    sum_a += p0 + p1;
                    sum_b += p2 + p3;
                    a[j >> 1][2 * (j & 1)] = pack2<T>(p0, p1);
                    a[j >> 1][2 * (j & 1) + 1] = pack2<T>(p2, p3);
                }
                l_a = l_a * alpha_a + sum_a;
                l_b = l_b * alpha_b + sum_b;

                // Hand P and the factors to warpgroup 1: row r's keys 8·j … 8·j + 7 are chunk j of its row.
                TRACE_T(m3);
                if (blk > 0) mbar_wait(p_free, frees++ & 1);
                TRACE_T(m4);
                TRACE_ADD(tid == 0, 0, 2, m3 - m2);
                TRACE_ADD(tid == 0, 0, 3, m4 - m3);
#pragma unroll
                for (int j = 0; j < 8; ++j) {
                    const u32 col = 4 * (lane % 4);
                    st_shared_u32(sP + ra * 128 + ((j ^ (ra & 7)) << 4) + col, a[j >> 1][2 * (j & 1)]);
                    st_shared_u32(sP + rb * 128 + ((j ^ (rb & 7)) << 4) + col, a[j >> 1][2 * (j & 1) + 1]);
                }
                if (lane % 4 == 0) {
                    smem.alpha[ra] = alpha_a;
                    smem.alpha[rb] = alpha_b;
                }
                fence_proxy_async();
                mbar_arrive(p_ready);

                // O[:, 0 … 255] += P · V[:, 0 … 255].
                rescale_rows(o, alpha_a, alpha_b);
                fence_registers(o);
                wgmma_fence();
#pragma unroll
                for (int ks = 0; ks < 4; ++ks)
                    wgmma_rs_n256_tb<T>(o, a[ks], v_desc<FP8DS>(kst, 0, ks), 1);
                wgmma_commit();
                wgmma_wait<0>();
                fence_registers(o);
                TRACE_T(m5);
                TRACE_ADD(tid == 0, 0, 4, m5 - m4);
                TRACE_ADD(tid == 0, 0, 5, 1);
            } else {
                TRACE_T(w0);
                mbar_wait(p_ready, it & 1);
                TRACE_T(w1);
                TRACE_ADD(tid == 128, 1, 1, w1 - w0);
                rescale_rows(o, smem.alpha[ra], smem.alpha[rb]);
                // O[:, 256 … 511] += P · V[:, 256 … 511], P from shared memory (K-major, like Q).
                const u64 dp = smem_desc_sw128(sP, 16, 1024);
                fence_registers(o);
                wgmma_fence();
#pragma unroll
                for (int ks = 0; ks < 4; ++ks)
                    wgmma_ss_n256_tb<T>(o, desc_plus(dp, ks * 32),
                                        v_desc<FP8DS>(kst, 1, ks), 1);
                wgmma_commit();
                wgmma_wait<0>();
                fence_registers(o);
                TRACE_T(w2);
                TRACE_ADD(tid == 128, 1, 2, w2 - w1);
                TRACE_ADD(tid == 128, 1, 3, 1);
                if (blk + 1 < n) mbar_arrive(p_free);
            }
            __syncwarp();
            if (lane == 0) mbar_arrive(empty + 8 * stage);
            if (PAIR && lane == 1) mbar_arrive_cluster(peer_empty + 8 * stage);
        }

        TRACE_T(e0);
        // Row sums and maxima from warpgroup 0 (which keeps them) to warpgroup 1. In the worker's
        // last piece warpgroup 0 does not wait there for warpgroup 1's last P·V: it stores its
        // rows through the query tile, which no next piece loads, while warpgroup 1 finishes.
        const bool last = req == part.end_req, early = FMLA_SPARSE_EARLY_STORE && staged && last;
        if constexpr (WG == 0) {
            l_a = quad_sum(l_a);
            l_b = quad_sum(l_b);
            if (lane % 4 == 0) {
                smem.rows[0][ra] = l_a; smem.rows[0][rb] = l_b;
                smem.rows[1][ra] = m_a; smem.rows[1][rb] = m_b;
            }
        }
        if (WG == 0 && early) math_arrive(BAR_ROWS);
        else math_sync(BAR_ROWS);
        TRACE_T(e_rows);
        const float l[2] = {WG == 0 ? l_a : smem.rows[0][ra], WG == 0 ? l_b : smem.rows[0][rb]};
        const float m[2] = {WG == 0 ? m_a : smem.rows[1][ra], WG == 0 ? m_b : smem.rows[1][rb]};
        const Piece done = piece;
        const i64 split_row0 = ((i64)(params.num_splits[req] + done.split) * params.h_kv) * (params.s_q * g);
        begin_next_piece(req, part.end_req, piece, piece_at, start_piece);
        if (staged) {
            // The last block's stage (warpgroup w's rows at 64 · 528 · w): both warpgroups
            // finished their wgmma on it before BAR_ROWS, and the producer (in a pair, both
            // producers) waits on its `out_free` before it refills it: every math thread arrives
            // after its own stores and its warp's bulk copies' reads (a pair: one lane a warp on
            // the peer's too, as on `empty`); after the worker's last piece nothing refills it.
            // FlashMLA HEAD's kernel stores through its K buffers too, but holds its producer at
            // every piece's end.
            const int last_stage = (it - 1) & 1;
            const u32 region = WG == 0 && early ? sQ : sK + last_stage * FMLA_TILE + wg * BULK_TILE_BYTES;
            store_final_tile_bulk<T>(o, l, m, params, req, 0, g, tile.row_end, tile.tile_row0, wg, warp, lane, region);
            if (!last) {
                __syncwarp();
                mbar_arrive(out_free + 8 * last_stage);
                if (PAIR && lane == 1) mbar_arrive_cluster(peer_out_free + 8 * last_stage);
            }
        } else {
            store_tile<T>(o, l, m, done.single, split_row0, params, req, 0, g, tile.row_end, tile.tile_row0, wg, ra, lane);
        }
        TRACE_T(e1);
        TRACE_ADD(tid % 128 == 0, WG, 7, e1 - e0);                // slot 7: the pieces' ends (row sums, store)
        TRACE_ADD(tid == 128, 1, 4, e_rows - e0);                 // warpgroup 1: waiting at BAR_ROWS
        TRACE_ADD(tid == 128, 1, 5, e1 - e_rows);                 //   and its rows' store
    }
}

template <typename T, bool FP8DS, bool PAIR>
__device__ __forceinline__ void decode_sm90_sparse(const DecodeParams& params) {
    extern __shared__ __align__(1024) u8 smem_raw[];
    const u32 base = (smem_addr(smem_raw) + 1023) & ~1023u;
    SparseStorage& smem = *reinterpret_cast<SparseStorage*>(smem_raw + (base - smem_addr(smem_raw)));
    if (threadIdx.x == 0) {
        for (int s = 0; s < 2; ++s) {
            mbar_init(FMLA_AT(base, SparseStorage, full) + 8 * s, 128);
            mbar_init(FMLA_AT(base, SparseStorage, empty) + 8 * s, PAIR ? 16 : 8);
            mbar_init(FMLA_AT(base, SparseStorage, handoff) + 8 * s, 128);
            mbar_init(FMLA_AT(base, SparseStorage, out_free) + 8 * s, MATH_THREADS + (PAIR ? 8 : 0));
        }
        mbar_fence_init();
    }
#if FMLA_SPARSE_TRACE
    if (threadIdx.x < 24) (&s_trace[0][0])[threadIdx.x] = 0;
    if (threadIdx.x == 0) {
        s_trace_launch = atomicAdd(&g_trace_tickets, 1u) / (gridDim.x * gridDim.y * gridDim.z);
        s_trace_ns = trace_ns();
        s_trace_clk0 = trace_clock();
    }
    const u32 trace_start = trace_clock();
#endif
    if constexpr (PAIR) cluster_sync();                       // the peer's barriers are initialized
    else __syncthreads();
    grid_dependency_wait();                                   // everything below may read the previous kernel's output
    const SparseTile tile = sparse_tile(params);
    if (threadIdx.x >= 256) {
        regs_dec<PRODUCER_REGS>();
        sparse_producer<T, FP8DS, PAIR>(params, tile, base, smem);
#if FMLA_SPARSE_TRACE
        if (threadIdx.x == 256) trace_print(2, trace_clock() - trace_start);
#endif
    } else if (threadIdx.x >= 128) {
        regs_dec<WG1_REGS>();
        sparse_math<T, 1, FP8DS, PAIR>(params, tile, base, smem);
#if FMLA_SPARSE_TRACE
        if (threadIdx.x == 128) trace_print(1, trace_clock() - trace_start);
#endif
    } else {
        regs_inc<WG0_REGS>();
        sparse_math<T, 0, FP8DS, PAIR>(params, tile, base, smem);
#if FMLA_SPARSE_TRACE
        if (threadIdx.x == 0) trace_print(0, trace_clock() - trace_start);
#endif
    }
    // A pair: neither block leaves while the peer may still write into its stages or arrive on
    // its barriers.
    if constexpr (PAIR) cluster_sync();
}

// Entry points flashmla_decode_sm90_sparse[_fp8ds[_pair]]_<type> and their NAME_smem_bytes (the
// storage and 1024 bytes of alignment), unless the unit is compiled for the other type only. No
// tensor map: the producer gathers tokens itself. The _pair kernels must be launched in clusters
// of two blocks along x (the host does, for h_q 65–128: a query token's two tiles).
#define FMLA_DECODE_SM90_SPARSE(NAME, T, FP8DS, PAIR)                                                         \
    FMLA_IF_##T(extern "C" __device__ const int NAME##_smem_bytes = sizeof(SparseStorage) + 1024;             \
    extern "C" __global__ void __launch_bounds__(384, 1) NAME(const __grid_constant__ DecodeParams params) {  \
        decode_sm90_sparse<T, FP8DS, PAIR>(params);                                                           \
    })
FMLA_DECODE_SM90_SPARSE(flashmla_decode_sm90_sparse_bf16, bf16, false, false)
FMLA_DECODE_SM90_SPARSE(flashmla_decode_sm90_sparse_fp16, fp16, false, false)
FMLA_DECODE_SM90_SPARSE(flashmla_decode_sm90_sparse_fp8ds_bf16, bf16, true, false)
FMLA_DECODE_SM90_SPARSE(flashmla_decode_sm90_sparse_fp8ds_fp16, fp16, true, false)
FMLA_DECODE_SM90_SPARSE(flashmla_decode_sm90_sparse_fp8ds_pair_bf16, bf16, true, true)
FMLA_DECODE_SM90_SPARSE(flashmla_decode_sm90_sparse_fp8ds_pair_fp16, fp16, true, true)
