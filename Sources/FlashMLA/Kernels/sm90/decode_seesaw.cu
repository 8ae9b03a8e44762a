// The Hopper split-KV MLA decode kernel for tiles of 64 query rows per KV head (sm_90a):
// pages by TMA, both products on wgmma, the two math warpgroups working out of
// phase ("seesaw", after FlashMLA's April-2025 kernel). The rule runs it above 64 rows per
// KV head, where the decode is compute-bound; the H200's shipped table for every row count,
// where two pages' chains of work out of phase stream its 4.3 TB/s better than the lockstep
// kernel's one (D92). With fewer than 64 rows the tile's other rows are zeros (load_q_tile),
// computed and never stored.
//
// Grid: (query tiles of 64 rows, KV heads, workers), 256 threads = two math warpgroups.
// Like sm80/decode.cu, a block takes 64 query rows (R = qi·g + gi) of one KV head and walks
// its worker's pieces of the schedule (common/schedule.cuh), writing the final output of a
// single-split request or a partial output and lse for the combine kernel.
//
// Who does what. Pages come in pairs (page 0 of the pair in stage 0, page 1 in stage 1).
// Warpgroup 0 holds O_L = O[:, 0:256] and computes S for page 0; warpgroup 1 holds
// O_R = O[:, 256:512] and computes S for page 1 (each 36 wgmma m64n64k16, Q and K from shared
// memory). With M the running row maximum both hold at the start of a pair:
//   wg0: m0 = max(M, rowmax S0), P0 = exp2(S0 − m0), O_L = O_L·2^(M−m0) + P0·V0_L   (P0 from registers)
//   wg1: m1 = max(m0, rowmax S1), P1 = exp2(S1 − m1), O_R = O_R·2^(M−m1) + P1·V1_R   (P1 from registers)
//   wg0: P0' = P0·2^(m0−m1) into shared memory; O_L = O_L·2^(m0−m1) + P1·V1_L       (P1 from shared memory)
//   wg1: O_R += P0'·V0_R                                                             (P0' from shared memory)
// so both end the pair at M = m1. While one warpgroup runs its softmax the other's products
// keep the tensor cores busy, and no warpgroup ever waits for a whole-block barrier inside
// the page loop. The row sums follow the same scalings; each warpgroup keeps the sum of the
// P it computed, and the two are added at the end.
//
// Shared memory (tiles in the swizzled boxes of sm90/tile.cuh):
//   sQ    9 boxes   the query tile, columns 64·b … 64·b+63 in box b (cp.async, once per piece)
//   sK    2 stages × 9 boxes: one page each; boxes 0–7 are also V. Box 8 (the rope columns,
//         read only by Q·Kᵀ) is free once S of its page is done: stage 0's then holds P0' as
//         a 64 × 64 K-major box, the A operand of warpgroup 1's P0'·V0_R, and stage 1's is
//         refilled at once with the rope columns of the page after next
//   sP1   1 box: P1, the A operand of warpgroup 0's P1·V1_L (the one box left in 227 KiB)
//   bars  2 × 9 mbarriers, one per box: armed with 8 KiB, completed by TMA, so Q·Kᵀ starts
//         on the first box while the rest are in flight
//   sMax  [2][64] fp32: m0 (posted by wg0), m1 (posted by wg1)
//   sRed  [2][64] fp32: the two row sums at the end
//
// Synchronization inside a pair: five handoff mbarriers, each with one producer warpgroup whose
// 128 threads arrive (release) and one consumer that waits (acquire): MAX0 (m0 posted), MAX1
// (m1 posted), P0 (P0' in box 8 of stage 0), P1 (P1 in sP1), ISSUED (warpgroup 1
// has issued both its P·V, so they run on the tensor cores before warpgroup 0's P1·V1_L and
// Q·Kᵀ; warpgroup 1 then refills its boxes and starts its Q·Kᵀ sooner). Named barriers (a
// producer's bar.arrive, the consumer's bar.sync) order the same exchanges and are what
// FlashMLA uses, but compute-sanitizer's racecheck does not follow bar.arrive and reports every
// such exchange as a hazard (bench/probes/handoff_racecheck.cu); with mbarriers it can check
// them (bench/DECISIONS.md, D20). MAX0, MAX1, P0 and P1 complete once a pair, ISSUED once a pair
// that has a page 1, and no producer can arrive twice before its consumer has waited once (each
// arrival follows a wait on the other warpgroup's previous arrival), so a consumer waits on the
// parity of the pairs it has seen; the stage parities already count them (see where they are
// declared).
// Each box is refilled for the next pair by the warpgroup whose wgmma read it last, right after
// its wgmma wait, so no barrier is needed:
//   stage 0: boxes 0–3 by wg0 (after O_L += P0·V0_L), boxes 4–8 by wg1 (after O_R += P0'·V0_R);
//   stage 1: boxes 0–3 by wg0 (after O_L += P1·V1_L), boxes 4–7 by wg1 (after O_R += P1·V1_R),
//            box 8 by wg1 a pair early, as soon as S1 is done.
// The next pair's block ids are loaded at the top of a pair, so no refill waits for them (D31).
// Warpgroup 1 computes S1 from boxes 4–7 and 8 first, the ones refilled earliest (D14). A stage's
// boxes complete once per pair; each thread keeps the parity it waits for next. Pages come from DRAM
// with an evict-first hint (the query tiles' blocks of one worker read the same pages at about
// the same time, so one of them fetches and the others hit L2; the normal policy, which the
// lockstep kernel uses, was 2.5–3.5% slower here); prefetching pages into L2 a pair ahead cost
// more L2 bandwidth than it saved in latency (bench/DECISIONS.md, D10 and D16).
//
// The page loop's body is one pair; the steady pairs (not a piece's first, with a page 1 and a
// next pair of two pages) run a copy of it compiled with every case test folded away (D29).
//
// Slots past a sequence's end (which may hold NaN) are masked in S, and each warpgroup zeroes
// them in its own half of V before its P·V, so 0·NaN never reaches O. A block id out of range
// raises FMLA_ERR_BLOCK_ID, loads page 0 instead and counts as a page with no valid key.
#include "sm90/tile.cuh"

// The warps of a warpgroup that issue a refill's TMA copies, lane 0 of each: four issue a page four
// times as fast as one (2% on h_q 128); two were as fast as four (bench/DECISIONS.md, D9).
constexpr int ISSUE_WARPS = 4;

// Shared memory, from a 1024-aligned base (tiles in the swizzled boxes of sm90/tile.cuh); the
// header comment says what each part holds and when.
#define FMLA_SEESAW_NBARS 23
struct SeesawStorage {
    u8 q[FMLA_TILE];              // sQ
    u8 k[2][FMLA_TILE];           // sK: stage 0 and 1
    u8 p1[FMLA_BOX];              // sP1
    u64 bars[32];                 // FMLA_SEESAW_NBARS mbarriers: the 18 boxes', then the 5 handoffs
    float max[2][64];             // sMax
    float red[2][64];             // sRed
};
static_assert(FMLA_SEESAW_NBARS <= 32, "the mbarriers outgrow their 256 bytes");

// The handoff mbarriers, by index after the boxes' 18.
#define FMLA_HANDOFF_MAX0 18
#define FMLA_HANDOFF_MAX1 19
#define FMLA_HANDOFF_P0 20
#define FMLA_HANDOFF_P1 21
#define FMLA_HANDOFF_ISSUED 22        // warpgroup 1 has issued P0'·V0_R (so its products go first)
// The named barrier of one warpgroup (128 threads): 1 + warpgroup.
#define FMLA_BAR_WG 1

// S (+)= Q·Kᵀ over boxes B0 … B1−1 of a page, waiting for each box's TMA; the first product
// overwrites S when ZERO.
template <typename T, int B0, int B1, bool ZERO>
__device__ __forceinline__ void qk_boxes(float (&s)[32], u32 sQ, u32 page, u32 page_bars, u32 parity) {
    const u64 dq = smem_desc_sw128(sQ, 16, 1024), dk = smem_desc_sw128(page, 16, 1024);
#pragma unroll
    for (int b = B0; b < B1; ++b) {
        mbar_wait(page_bars + 8 * b, parity);
        wgmma_fence();
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const u32 offset = b * FMLA_BOX + k * 32;
            const int accumulate = !ZERO || b > B0 || k > 0;
            wgmma_ss_n64<T>(s, desc_plus(dq, offset), desc_plus(dk, offset), accumulate);
        }
    }
}

// S (unscaled) masked to the keys of the page at key0 each row sees (lim_row[h]) that hold data
// (below key0 + valid), and each row's maximum over the page in log2 units (tile.cuh, mask_and_max).
__device__ __forceinline__ void mask_valid_and_max(float (&s)[32], int key0, int valid, const int (&lim_row)[2],
                                                   float scale_log2, int lane, float (&mx)[2]) {
    const int lim[2] = {min(lim_row[0], key0 + valid), min(lim_row[1], key0 + valid)};
    mask_and_max(s, key0, key0 + FMLA_PAGE, lim, scale_log2, lane, mx);
}

// s ← exp2(s·scale − base[h]), one FFMA and one MUFU an element; sum[h] = this thread's part
// of the row sums.
__device__ __forceinline__ void exp2_rows(float (&s)[32], float scale, const float (&base)[2], float (&sum)[2]) {
    sum[0] = sum[1] = 0.f;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            s[4 * j + 2 * h] = fast_exp2(fmaf(s[4 * j + 2 * h], scale, -base[h]));
            s[4 * j + 2 * h + 1] = fast_exp2(fmaf(s[4 * j + 2 * h + 1], scale, -base[h]));
            sum[h] += s[4 * j + 2 * h] + s[4 * j + 2 * h + 1];
        }
    }
}

// P·scale[h] rounded to T as wgmma A fragments: k-step ks covers keys 16·ks … 16·ks+15, i.e.
// accumulator columns j = 2·ks and 2·ks + 1, rows ra and rb.
template <typename T>
__device__ __forceinline__ void pack_p(const float (&s)[32], const float (&scale)[2], u32 (&frag)[4][4]) {
#pragma unroll
    for (int ks = 0; ks < 4; ++ks) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            const int j = 2 * ks + half;
            frag[ks][2 * half] = pack2<T>(s[4 * j] * scale[0], s[4 * j + 1] * scale[0]);
            frag[ks][2 * half + 1] = pack2<T>(s[4 * j + 2] * scale[1], s[4 * j + 3] * scale[1]);
        }
    }
}

// Writes the fragments into a 64 × 64 K-major swizzled box (the layout of Q's boxes), where
// the other warpgroup's wgmma reads them as its A operand: one stmatrix x4 a k-step. Its four
// 8 × 8 matrices are the fragment's four registers, rows 16·warp … +7 / +8 … +15 (m & 1) of key
// chunk 2·ks + (m >> 1); lane l gives the address of row l % 8 of matrix m = l / 8. The eight
// rows of a matrix lie in eight different 16-byte chunks (their swizzles differ): no bank
// conflicts. The chunk offset is formed with a volatile xor so that ptxas recomputes it here
// instead of holding four addresses in registers across the page loop.
__device__ __forceinline__ void store_p(u32 box, const u32 (&frag)[4][4], int warp, int lane) {
    const int m = lane / 8, i = lane % 8;
    const u32 row = box + (16 * warp + 8 * (m & 1) + i) * 128;
    const u32 x = (u32)((m >> 1) ^ i);
#pragma unroll
    for (int ks = 0; ks < 4; ++ks) {
        u32 chunk;
        asm volatile("xor.b32 %0, %1, %2;" : "=r"(chunk) : "r"(x), "r"(2 * ks));
        stmatrix_x4(row + (chunk << 4), frag[ks]);
    }
}

// O (this warpgroup's 256 columns) += P · V over one page's 64 keys, V = boxes v_box … v_box+3 of
// the page read N-major (keys are its rows; k-step ks covers keys 16·ks …). P comes from this
// warpgroup's registers (frag) or from a K-major 64 × 64 box in shared memory (p_box). With
// `overwrite` (a piece's first P·V of this warpgroup) the first k-step ignores O's old contents,
// so O is never zeroed by hand.
template <typename T>
__device__ __forceinline__ void pv_from_registers(float (&o)[128], const u32 (&frag)[4][4], u32 v_box, bool overwrite) {
#pragma unroll
    for (int ks = 0; ks < 4; ++ks)
        wgmma_rs_n256_tb<T>(o, frag[ks], smem_desc_sw128(v_box + ks * 2048, V_DESC_LEAD, V_DESC_STRIDE),
                            ks > 0 || !overwrite);
}
template <typename T>
__device__ __forceinline__ void pv_from_shared(float (&o)[128], u32 p_box, u32 v_box, bool overwrite) {
#pragma unroll
    for (int ks = 0; ks < 4; ++ks)
        wgmma_ss_n256_tb<T>(o, smem_desc_sw128(p_box + ks * 32, 16, 1024),
                            smem_desc_sw128(v_box + ks * 2048, V_DESC_LEAD, V_DESC_STRIDE), ks > 0 || !overwrite);
}

// O ← O·c[h] (rows ra, rb). A warp holds whole rows of O (its 16 of the 64), so when the running
// maximum of none of them moved (every factor exactly 1, most pages once the maximum has
// settled) the warp skips its 128 multiplications; the result is the same bit for bit (D21).
__device__ __forceinline__ void scale_o(float (&o)[128], const float (&c)[2]) {
    if (__all_sync(0xffffffff, c[0] == 1.f && c[1] == 1.f)) return;
    scale_rows(o, c[0], c[1]);
}

// Zeroes rows valid … 63 of boxes box0 … box0+3 of a page (one warpgroup's half of V) and
// makes the stores visible to wgmma within the warpgroup.
__device__ __forceinline__ void zero_v_rows(u32 page, int valid, int box0, int t, int wg) {
    const int count = (FMLA_PAGE - valid) * 32;
    for (int i = t; i < count; i += 128) st_shared_zero16(page + sw128(valid + i / 32, box0 * 8 + i % 32));
    fence_proxy_async();
    named_sync(FMLA_BAR_WG + wg, 128);
}

template <typename T>
__device__ __forceinline__ void decode_sm90_seesaw(
    const TensorMap* __restrict__ kmap, const DecodeParams& params) {
    extern __shared__ __align__(1024) u8 smem_raw[];
    const u32 base = (smem_addr(smem_raw) + 1023) & ~1023u;
    const u32 sQ = FMLA_AT(base, SeesawStorage, q), st0 = FMLA_AT(base, SeesawStorage, k[0]);
    const u32 st1 = FMLA_AT(base, SeesawStorage, k[1]), bars = FMLA_AT(base, SeesawStorage, bars);
    const u32 sMax = FMLA_AT(base, SeesawStorage, max), sRed = FMLA_AT(base, SeesawStorage, red);
    const u32 sP1 = FMLA_AT(base, SeesawStorage, p1);

    const TileThread me = tile_thread(params);
    const int tid = me.tid, t = tid % 128, wg = me.wg, warp = me.warp, lane = me.lane, kvh = me.kvh, g = me.g, rows = me.rows;
    const int tile_row0 = me.tile_row0, ra = me.ra, rb = me.rb, qa = me.qa, qb = me.qb;

    if (tid == 0) {
        for (int i = 0; i < 18; ++i) mbar_init(bars + 8 * i, 1);
        for (int i = 18; i < FMLA_SEESAW_NBARS; ++i) mbar_init(bars + 8 * i, 128);
        mbar_fence_init();
    }
    __syncthreads();
    grid_dependency_wait();                                    // everything below may read the previous kernel's output
    u32 parity0 = 0, parity1 = 0;                              // the phase stage 0 / 1 completes next
    // The handoffs' parities follow from these. Warpgroup 1 waits for stage 0 once a pair (in
    // pv0, after its MAX0 and P0 waits), so its parity0 is the parity of the pairs done: the phase
    // MAX0 and P0 complete next. Warpgroup 0 has waited for stage 0 once more (S0 of the pair, ahead
    // of it), so during a pair its parity0 is one more: MAX1 and P1 wait on parity0 ^ 1. It waits
    // for stage 1 once a pair that has a page 1, right after ISSUED, which completes on those
    // pairs only: ISSUED waits on parity1.
    auto handoff = [&](int which) { return bars + 8 * which; };

    // The worker's schedule is read again at each piece boundary, not held across the page loop.
    // Block-table entries are read where needed (an L1 hit) instead of holding a row pointer.
    auto block_id = [&](int req, int page) { return params.block_table[(i64)req * params.bt_stride + page]; };

    // Boxes b0 … b1−1 of page `page` of request `req` into `stage`, each completing on its own
    // mbarrier. Called by a whole warpgroup: lane 0 of warp w < ISSUE_WARPS issues boxes b0 + w,
    // b0 + w + ISSUE_WARPS, … (a TMA instruction is issued one lane at a time).
    auto issue_id = [&](int id, int stage, int b0, int b1) {
        if (lane != 0 || warp >= ISSUE_WARPS) return;
        if (id < 0 || id >= params.num_pages) {
            atomicOr(params.error_flag, FMLA_ERR_BLOCK_ID);
            id = 0;                                            // counts as no valid key (valid_keys)
        }
        const u64 policy = l2_evict_first_policy();           // made here: no register held across the loop
#pragma unroll 1
        for (int b = b0 + warp; b < b1; b += ISSUE_WARPS) {
            const u32 bar = bars + 8 * (stage * 9 + b);
            mbar_arrive_expect_tx(bar, FMLA_BOX);
            tma_load_4d(base + (1 + stage) * FMLA_TILE + b * FMLA_BOX, kmap, bar, b * 64, kvh, 0, id, policy);
        }
    };
    auto issue = [&](int req, int page, int stage, int b0, int b1) { issue_id(block_id(req, page), stage, b0, b1); };
    // A piece's loads (when they start: tile.cuh, "A worker's pieces"): its first pair of pages
    // by warpgroup 0, its query tile by every thread.
    auto start_piece = [&](int req, const Piece& pc) {
        if (pc.n_pages == 0) return;
        if (wg == 0) {
            issue(req, pc.first_page, 0, 0, 9);
            if (pc.n_pages > 1) issue(req, pc.first_page + 1, 1, 0, 9);
        }
        load_q_tile<T>(sQ, params, req, kvh, g, rows, tile_row0);
    };
    auto piece_at = [&](int req) {
        return tile_piece(load_part(params.sched, blockIdx.z), req, params, rows, g, tile_row0);
    };

    Piece piece;
    const int begin_req = sched_field(params.sched, blockIdx.z, 0);
    begin_next_piece(begin_req - 1, sched_field(params.sched, blockIdx.z, 2), piece, piece_at, start_piece);
    for (int req = begin_req; req <= sched_field(params.sched, blockIdx.z, 2); ++req) {
        const int seqlen = piece.seqlen, first_page = piece.first_page, n_pages = piece.n_pages;
        const int lim[2] = {visible_end(piece, params.s_q, params.causal, qa), visible_end(piece, params.s_q, params.causal, qb)};
        // Keys of `page` whose V rows hold data; the rest are zeroed before P·V.
        auto valid_keys = [&](int page) {
            const int id = block_id(req, page);
            return (id >= 0 && id < params.num_pages) ? min(FMLA_PAGE, seqlen - page * FMLA_PAGE) : 0;
        };

        wait_piece_start();
        float s[32];
        if (n_pages > 0 && (wg == 0 || n_pages > 1)) {
            // The first pair's products: S0 on warpgroup 0, S1 on warpgroup 1.
            qk_boxes<T, 0, 9, true>(s, sQ, wg ? st1 : st0, bars + 72 * wg, wg ? parity1 : parity0);
            wgmma_commit();
            wgmma_wait<0>();
            fence_registers(s);
            if (wg) parity1 ^= 1; else parity0 ^= 1;
            if (wg == 1 && n_pages > 3) issue(req, first_page + 3, 1, 8, 9);   // box 8 is free once S1 is done
        }

        // O is written by each warpgroup's first P·V (overwrite), and zeroed here only for a piece
        // with no page, which stores it as is.
        float o[128];
        if (n_pages == 0) {
#pragma unroll
            for (int i = 0; i < 128; ++i) o[i] = 0.f;
        }
        float m_run[2] = {-FMLA_INF, -FMLA_INF}, l_run[2] = {0.f, 0.f};
        // One pair of pages, as each warpgroup works it (the header's "Who does what"): `first`, the
        // piece's first pair; `has1`, the pair has a page 1; `next0` / `next1`, the next pair has a page
        // 0 / 1, whose block id is next_id0 / next_id1.
        auto pair_wg0 = [&](const int page0, const bool first, const bool has1, const bool next0, const bool next1,
                            const int next_id0, const int next_id1) {
            const int page1 = page0 + 1;
            float mx[2], sum[2];
            u32 frag[4][4];
            const int valid0 = valid_keys(page0);
            mask_valid_and_max(s, page0 * FMLA_PAGE, valid0, lim, params.scale_log2, lane, mx);
            const float m0[2] = {fmaxf(m_run[0], mx[0]), fmaxf(m_run[1], mx[1])};
            if (lane % 4 == 0) { st_shared_f32(sMax + 4 * ra, m0[0]); st_shared_f32(sMax + 4 * rb, m0[1]); }
            mbar_arrive(handoff(FMLA_HANDOFF_MAX0));
            const float b0[2] = {exp_base(m0[0]), exp_base(m0[1])};
            const float alpha[2] = {fast_exp2(m_run[0] - b0[0]), fast_exp2(m_run[1] - b0[1])};
            exp2_rows(s, params.scale_log2, b0, sum);
            const float one[2] = {1.f, 1.f};
            pack_p<T>(s, one, frag);
#pragma unroll
            for (int h = 0; h < 2; ++h) l_run[h] = l_run[h] * alpha[h] + sum[h];
            if (!first) scale_o(o, alpha);
            if (valid0 < FMLA_PAGE) zero_v_rows(st0, valid0, 0, t, 0);

            // O_L = O_L·alpha + P0·V0_L (V read N-major: keys are rows of the page).
            wgmma_fence();
            pv_from_registers<T>(o, frag, st0, first);
            wgmma_commit();
            wgmma_wait<0>();
            fence_registers(o);
            if (next0) issue_id(next_id0, 0, 0, 4);

            // Rescale P0 to m1 and hand it to warpgroup 1 in box 8 of stage 0.
            mbar_wait(handoff(FMLA_HANDOFF_MAX1), parity0 ^ 1);
            const float m1[2] = {ld_shared_f32(sMax + 4 * (64 + ra)), ld_shared_f32(sMax + 4 * (64 + rb))};
            const float beta[2] = {fast_exp2(m0[0] - exp_base(m1[0])), fast_exp2(m0[1] - exp_base(m1[1]))};
            pack_p<T>(s, beta, frag);
            store_p(st0 + 8 * FMLA_BOX, frag, warp, lane);
            fence_proxy_async();
            mbar_arrive(handoff(FMLA_HANDOFF_P0));
#pragma unroll
            for (int h = 0; h < 2; ++h) { l_run[h] *= beta[h]; m_run[h] = m1[h]; }
            scale_o(o, beta);

            mbar_wait(handoff(FMLA_HANDOFF_P1), parity0 ^ 1);
            if (has1) {
                // O_L += P1·V1_L, P1 from sP1; then S0 of the next pair.
                mbar_wait(handoff(FMLA_HANDOFF_ISSUED), parity1);
                for (int b = 0; b < 4; ++b) mbar_wait(bars + 8 * (9 + b), parity1);
                parity1 ^= 1;
                const int valid1 = valid_keys(page1);
                if (valid1 < FMLA_PAGE) zero_v_rows(st1, valid1, 0, t, 0);
                wgmma_fence();
                pv_from_shared<T>(o, sP1, st1, false);
                wgmma_commit();
                // Each path issues and waits for its own products, so that ptxas sees no
                // wgmma in flight across a branch (it would serialize every wgmma; D11).
                if (next0) {
                    qk_boxes<T, 0, 4, true>(s, sQ, st0, bars, parity0);
                    wgmma_commit();
                    wgmma_wait<1>();
                    fence_registers(o);
                    if (next1) {
                        issue_id(next_id1, 1, 0, 4);
                    }
                    qk_boxes<T, 4, 9, false>(s, sQ, st0, bars, parity0);
                    wgmma_commit();
                    wgmma_wait<0>();
                    fence_registers(s);
                    parity0 ^= 1;
                } else {
                    wgmma_wait<0>();
                    fence_registers(o);
                }
            }
        };
        auto pair_wg1 = [&](const int p, const int page0, const bool first, const bool has1, const bool next0,
                            const bool next1, const int next_id0, const int next_id1) {
            const int page1 = page0 + 1;
            float mx[2], sum[2];
            u32 frag[4][4];
            const int valid1 = has1 ? valid_keys(page1) : 0;
            if (has1) {
                mask_valid_and_max(s, page1 * FMLA_PAGE, valid1, lim, params.scale_log2, lane, mx);
            } else {
#pragma unroll
                for (int i = 0; i < 32; ++i) s[i] = -FMLA_INF;
                mx[0] = mx[1] = -FMLA_INF;
            }
            mbar_wait(handoff(FMLA_HANDOFF_MAX0), parity0);
            const float m0[2] = {ld_shared_f32(sMax + 4 * ra), ld_shared_f32(sMax + 4 * rb)};
            const float m1[2] = {fmaxf(m0[0], mx[0]), fmaxf(m0[1], mx[1])};
            if (lane % 4 == 0) { st_shared_f32(sMax + 4 * (64 + ra), m1[0]); st_shared_f32(sMax + 4 * (64 + rb), m1[1]); }
            mbar_arrive(handoff(FMLA_HANDOFF_MAX1));
            const float b1[2] = {exp_base(m1[0]), exp_base(m1[1])};
            // The same alpha and beta as warpgroup 0 computes, from the same operands.
            const float alpha[2] = {fast_exp2(m_run[0] - exp_base(m0[0])), fast_exp2(m_run[1] - exp_base(m0[1]))};
            const float beta[2] = {fast_exp2(m0[0] - b1[0]), fast_exp2(m0[1] - b1[1])};
            const float c[2] = {alpha[0] * beta[0], alpha[1] * beta[1]};
            exp2_rows(s, params.scale_log2, b1, sum);
#pragma unroll
            for (int h = 0; h < 2; ++h) { l_run[h] = l_run[h] * c[h] + sum[h]; m_run[h] = m1[h]; }
            if (has1) {
                const float one[2] = {1.f, 1.f};
                pack_p<T>(s, one, frag);
                store_p(sP1, frag, warp, lane);
                fence_proxy_async();
            }
            mbar_arrive(handoff(FMLA_HANDOFF_P1));
            if (!first) scale_o(o, c);                      // after the handoff: warpgroup 0 waits for P1
            // O_R += P0'·V0_R, P0' from box 8 of stage 0 (after P1·V1_R when there is a page 1).
            auto pv0 = [&](bool overwrite) {
                mbar_wait(handoff(FMLA_HANDOFF_P0), parity0);
                for (int b = 4; b < 8; ++b) mbar_wait(bars + 8 * b, parity0);
                parity0 ^= 1;
                const int valid0 = valid_keys(page0);
                if (valid0 < FMLA_PAGE) zero_v_rows(st0, valid0, 4, t, 1);
                wgmma_fence();
                pv_from_shared<T>(o, st0 + 8 * FMLA_BOX, st0 + 4 * FMLA_BOX, overwrite);
                wgmma_commit();
            };
            if (has1) {
                // O_R = O_R·alpha·beta + P1·V1_R, P1 from registers.
                if (valid1 < FMLA_PAGE) zero_v_rows(st1, valid1, 4, t, 1);
                wgmma_fence();
                pv_from_registers<T>(o, frag, st1 + 4 * FMLA_BOX, first);
                wgmma_commit();
                pv0(false);
                mbar_arrive(handoff(FMLA_HANDOFF_ISSUED));
                wgmma_wait<1>();
                if (next1) issue_id(next_id1, 1, 4, 8);
                wgmma_wait<0>();
            } else {
                pv0(first);
                wgmma_wait<0>();
            }
            fence_registers(o);
            if (next0) issue_id(next_id0, 0, 4, 9);
            if (next1) {
                // S1 of the next pair.
                // Boxes 4–7 and 8 first: this warpgroup refilled them after P1·V1_R and a pair
                // ago, before warpgroup 0 could refill 0–3 (after P1·V1_L).
                qk_boxes<T, 4, 8, true>(s, sQ, st1, bars + 72, parity1);
                qk_boxes<T, 8, 9, false>(s, sQ, st1, bars + 72, parity1);
                qk_boxes<T, 0, 4, false>(s, sQ, st1, bars + 72, parity1);
                wgmma_commit();
                wgmma_wait<0>();
                fence_registers(s);
                parity1 ^= 1;
                if (p + 5 < n_pages) issue(req, page1 + 4, 1, 8, 9);   // box 8 of the pair after next
            }
        };
        // One pair of pages; the steady pairs get a copy of their own with the case tests folded away.
        auto pair = [&](const int p, const bool first, const bool has1, const bool next0, const bool next1) {
            const int page0 = first_page + p, page1 = page0 + 1;
            // The next pair's block ids, loaded at the top so that no refill waits for them.
            const int next_id0 = next0 ? block_id(req, page0 + 2) : 0, next_id1 = next1 ? block_id(req, page1 + 2) : 0;
            if (wg == 0) pair_wg0(page0, first, has1, next0, next1, next_id0, next_id1);
            else pair_wg1(p, page0, first, has1, next0, next1, next_id0, next_id1);
        };
        for (int p = 0; p < n_pages; p += 2) {
            if (p > 0 && p + 3 < n_pages) pair(p, false, true, true, true);
            else pair(p, p == 0, p + 1 < n_pages, p + 2 < n_pages, p + 3 < n_pages);
        }

        // Row sums: the two warpgroups' parts (both hold the same max).
        sum_row_halves(l_run, sRed, wg, ra, lane);
        // The piece's split and kind, read again rather than held in registers across the page loop.
        const int split = req == sched_field(params.sched, blockIdx.z, 0) ? sched_field(params.sched, blockIdx.z, 4) : 0;
        const bool single = params.num_splits[req + 1] - params.num_splits[req] == 1;
        begin_next_piece(req, sched_field(params.sched, blockIdx.z, 2), piece, piece_at, start_piece);
        store_tile<T>(o, l_run, m_run, single, ((i64)(params.num_splits[req] + split) * params.h_kv + kvh) * rows, params,
                      req, kvh, g, rows, tile_row0, wg, ra, lane);
    }
}


FMLA_DECODE_SM90(flashmla_decode_sm90_seesaw_bf16, bf16, decode_sm90_seesaw, SeesawStorage)
FMLA_DECODE_SM90(flashmla_decode_sm90_seesaw_fp16, fp16, decode_sm90_seesaw, SeesawStorage)
