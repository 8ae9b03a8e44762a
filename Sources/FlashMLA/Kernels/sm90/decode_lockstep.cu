// The Hopper split-KV MLA decode kernel for one tile of query rows per KV head (sm_90a):
// pages by TMA, both products on wgmma, the two warpgroups on the same page in lockstep.
// The rule runs it for up to 64 rows per KV head, where the decode is memory-bound and its
// short per-page chain streamed pages faster than decode_seesaw.cu on the H100 (2–4%: D8); the
// H100's shipped table runs it for 17 … 64 (16 go to sm80/decode.cu). The H200's runs the seesaw
// kernel for every row count (1–8% faster there, D92), so on the H200 this kernel runs only in
// the seesaw kernel's place while that one compiles on a cold cache (DecodeTile.swift).
//
// Grid: (query tiles of 64 rows, KV heads, workers), 256 threads = two math warpgroups.
// Like sm80/decode.cu, a block takes 64 query rows (R = qi·g + gi) of one KV head and walks
// its worker's pieces of the schedule (common/schedule.cuh), writing the final output of a
// single-split request or a partial output and lse for the combine kernel.
//
// Work split: warpgroup w computes S for keys 32·w … 32·w+31 of each page (36 wgmma
// m64n32k16, Q and K from shared memory), so no product is done twice. The two halves meet
// twice a page through shared memory: the row maxima (so both use one running max), then
// the probabilities (bf16), so that each warpgroup holds P for all 64 keys as wgmma A
// fragments — its own half straight from registers, the other's read back. Warpgroup w then
// multiplies P by its half of V, columns 256·w … 256·w+255 (4 wgmma m64n256k16 per page,
// 128 fp32 accumulators a thread). Row sums stay per half and are added at the end.
//
// Shared memory: LockstepStorage below.
//
// Pipeline: page p+1 is in flight while page p is computed; when both warpgroups are done
// with page p (a block barrier), lane 0 of each of the eight warps issues one of page p+2's
// boxes into the freed stage. The rate of these rows is set by the block's chain of work on a
// page, not by the bytes in flight (bench/DECISIONS.md, D88): issued by one thread, the eight
// copies held warp 0, and with it warpgroup 0's next Q·Kᵀ (a warpgroup-wide instruction), for
// eight serial issues a page, 3.5% of the memory-bound rows' time on the H200 (D89). Each of a
// stage's 9 boxes has its own mbarrier, so Q·Kᵀ of page p starts on box 0 while the rest of
// the page is still arriving (Q·Kᵀ then overlaps the page's arrival instead of following it),
// and the rope box (read by Q·Kᵀ only) of page p+2 is issued at the row-maxima barrier of page
// p, once both warpgroups' Q·Kᵀ are done. On the H200 (4.3 TB/s) a page arrives at an SM's
// share of the bandwidth in about 2.3 µs, not much more than the block's work on it, so
// waiting for the whole page cost 5.5–6% on the memory-bound rows (bench/DECISIONS.md, D83).
// Pages carry the L2's normal policy: each is read by one block only, and evict-first made the
// uniform rows 2.7–3.2% slower on H100, timed after bench's flush, which leaves the L2 full of
// dirty lines that evict-first reads write back more of (bench/DECISIONS.md, D39). Slots past
// a sequence's end (which may hold NaN) are zeroed in shared memory before use: their keys
// are masked in S, and a zero V row keeps 0·NaN out of P·V.
#include "sm90/tile.cuh"

#ifndef FMLA_LOCKSTEP_BOX_WAIT
// 1: Q·Kᵀ waits for each box as it multiplies it; 0: for the whole page first.
#define FMLA_LOCKSTEP_BOX_WAIT 1
#endif
#ifndef FMLA_LOCKSTEP_ROPE_EARLY
// 1: the rope box of page p+2 is issued after the row-maxima barrier of page p; 0: with the
// page's other boxes, after its P·V.
#define FMLA_LOCKSTEP_ROPE_EARLY 1
#endif
#ifndef FMLA_LOCKSTEP_SPREAD_ISSUE
// 1: page p+2's eight V boxes are issued one a warp (lane 0 of warp w issues box w) after the
// page's closing barrier, and its rope box by lane 0 of the block's last warp (D89); 0: all by
// thread 0. Only with FMLA_LOCKSTEP_ROPE_EARLY (else nine boxes at the page's end: thread 0).
#define FMLA_LOCKSTEP_SPREAD_ISSUE 1
#endif
#ifndef FMLA_LOCKSTEP_RESCALE_SKIP
// 1: a warp whose rows' running maxima did not move on this page (every factor exactly 1) skips
// O's 128 multiplications, as the seesaw kernel does (D21); the result is the same bit for bit
// (D90: 0.7% on the H200's lockstep rows, inside the noise).
#define FMLA_LOCKSTEP_RESCALE_SKIP 1
#endif

// Shared memory, from a 1024-aligned base (tiles in the swizzled boxes of sm90/tile.cuh).
struct LockstepStorage {
    u8 q[FMLA_TILE];              // the query tile, columns 64·b … 64·b+63 in box b (cp.async, once per piece)
    u8 k[2][FMLA_TILE];           // two stages, one page each (TMA); boxes 0–7 are also V
    u64 bars[2][9];               // one mbarrier a box of each stage: armed with its 8 KiB, completed by TMA
    float red[2][64];             // each warpgroup's row maxima, then its row sums
    u8 p[2][64 * 72];             // each warpgroup's P half, bf16, rows padded to 72 bytes (fewer bank conflicts)
};

template <typename T>
__device__ __forceinline__ void decode_sm90_lockstep(
    const TensorMap* __restrict__ kmap, const DecodeParams& params) {
    extern __shared__ __align__(1024) u8 smem_raw[];
    const u32 base = (smem_addr(smem_raw) + 1023) & ~1023u;
    u8* const base_ptr = smem_raw + (base - smem_addr(smem_raw));
    LockstepStorage& smem = *reinterpret_cast<LockstepStorage*>(base_ptr);
    const u32 sQ = FMLA_AT(base, LockstepStorage, q), sK = FMLA_AT(base, LockstepStorage, k);
    const u32 bars = FMLA_AT(base, LockstepStorage, bars);
    float* const sRed = &smem.red[0][0];
    u8* const sP = &smem.p[0][0];

    const TileThread me = tile_thread(params);
    const int tid = me.tid, wg = me.wg, warp = me.warp, lane = me.lane, kvh = me.kvh, g = me.g, rows = me.rows;
    const int tile_row0 = me.tile_row0, ra = me.ra, rb = me.rb, qa = me.qa, qb = me.qb;

    if (tid == 0) {
        for (int i = 0; i < 18; ++i) mbar_init(bars + 8 * i, 1);
        mbar_fence_init();
    }
    __syncthreads();
    grid_dependency_wait();                                   // everything below may read the previous kernel's output
    const u64 policy = l2_evict_normal_policy();
    u32 phases = 0;                                           // bit s: the parity stage s waits for next

    const SchedPart part = load_part(params.sched, blockIdx.z);
    auto block_id = [&](int req, int page) { return params.block_table[(i64)req * params.bt_stride + page]; };
    // Thread 0 arms the barriers of boxes b0 … b1−1 of a stage and starts their copies from page
    // `page` of request `req` (an id out of range is reported and completes the phases with no
    // bytes: the page is zeroed below).
    auto issue_boxes = [&](int req, int page, int stage, int b0, int b1) {
        const int id = block_id(req, page);
        const bool ok = id >= 0 && id < params.num_pages;
        if (!ok) atomicOr(params.error_flag, FMLA_ERR_BLOCK_ID);
#pragma unroll 1
        for (int b = b0; b < b1; ++b) {
            const u32 bar = bars + 8 * (stage * 9 + b);
            if (ok) {
                mbar_arrive_expect_tx(bar, FMLA_BOX);
                tma_load_4d(sK + stage * FMLA_TILE + b * FMLA_BOX, kmap, bar, b * 64, kvh, 0, id, policy);
            } else {
                mbar_arrive_expect_tx(bar, 0);
            }
        }
    };
    auto issue_page = [&](int req, int page, int stage) { issue_boxes(req, page, stage, 0, 9); };
    // The same for one box b, by the calling thread (D89: the page's boxes one a warp). Kept apart
    // from issue_boxes, whose loop over one id compiles to the form measured for the piece start.
    auto issue_box = [&](int id, int stage, int b) {
        const u32 bar = bars + 8 * (stage * 9 + b);
        if (id >= 0 && id < params.num_pages) {
            mbar_arrive_expect_tx(bar, FMLA_BOX);
            tma_load_4d(sK + stage * FMLA_TILE + b * FMLA_BOX, kmap, bar, b * 64, kvh, 0, id, policy);
        } else {
            atomicOr(params.error_flag, FMLA_ERR_BLOCK_ID);
            mbar_arrive_expect_tx(bar, 0);
        }
    };
    // A piece's loads (when they start: tile.cuh, "A worker's pieces"): its first two pages by
    // thread 0, its query tile by every thread.
    auto start_piece = [&](int req, const Piece& pc) {
        if (pc.n_pages == 0) return;
        if (tid == 0) {
            issue_page(req, pc.first_page, 0);
            if (pc.n_pages > 1) issue_page(req, pc.first_page + 1, 1);
        }
        load_q_tile<T>(sQ, params, req, kvh, g, rows, tile_row0);
    };
    auto piece_at = [&](int req) {
        return tile_piece(part, req, params, rows, g, tile_row0);
    };

    Piece piece;
    begin_next_piece(part.begin_req - 1, part.end_req, piece, piece_at, start_piece);
    for (int req = part.begin_req; req <= part.end_req; ++req) {
        const int seqlen = piece.seqlen, split = piece.split;
        const int first_page = piece.first_page, n_pages = piece.n_pages;
        const bool single = piece.single;
        const int lim_a = visible_end(piece, params.s_q, params.causal, qa), lim_b = visible_end(piece, params.s_q, params.causal, qb);

        float o[128];
#pragma unroll
        for (int i = 0; i < 128; ++i) o[i] = 0.f;
        float m_a = -FMLA_INF, m_b = -FMLA_INF, l_a = 0.f, l_b = 0.f;

        wait_piece_start();

        for (int p = 0; p < n_pages; ++p) {
            const int page = first_page + p, stage = p & 1;
            const u32 kst = sK + stage * FMLA_TILE, kbars = bars + 72 * stage;
            const u32 parity = (phases >> stage) & 1;
            phases ^= 1u << stage;

            // Zero the rows no key of this page may contribute through V (past the sequence's
            // end), or the whole page when its block id was out of range.
            const int id = block_id(req, page);
            const int valid = (id >= 0 && id < params.num_pages) ? min(FMLA_PAGE, seqlen - page * FMLA_PAGE) : 0;
            if (!FMLA_LOCKSTEP_BOX_WAIT || valid < FMLA_PAGE) {
#pragma unroll 1
                for (int b = 0; b < 9; ++b) mbar_wait(kbars + 8 * b, parity);
            }
            if (valid < FMLA_PAGE) {
                const int boxes = valid > 0 ? 8 : 9;
                const int count = (FMLA_PAGE - valid) * boxes * 8;
                for (int i = tid; i < count; i += 256) {
                    const int r = valid + i / (boxes * 8), c = i % (boxes * 8);
                    *reinterpret_cast<uint4*>(base_ptr + (kst - base) + sw128(r, c)) = make_uint4(0, 0, 0, 0);
                }
                fence_proxy_async();
                __syncthreads();
            }

            // S = Q·Kᵀ for this warpgroup's 32 keys (rows 32·wg … of the page), k = 576 in 36 steps,
            // four a box, each box's after its copy has landed.
            float s[16];
            const u64 dq = smem_desc_sw128(sQ, 16, 1024), dk = smem_desc_sw128(kst + wg * 32 * 128, 16, 1024);
#pragma unroll
            for (int b = 0; b < 9; ++b) {
                if (FMLA_LOCKSTEP_BOX_WAIT) mbar_wait(kbars + 8 * b, parity);
                wgmma_fence();
#pragma unroll
                for (int k = 0; k < 4; ++k) {
                    const u32 offset = b * FMLA_BOX + k * 32;
                    wgmma_ss_n32<T>(s, desc_plus(dq, offset), desc_plus(dk, offset), b > 0 || k > 0);
                }
            }
            wgmma_commit();
            wgmma_wait<0>();
            fence_registers(s);

            // Mask (only a page that a row does not see whole), row maxima over this half in log2
            // units (tile.cuh), then over both.
            const int lim[2] = {lim_a, lim_b};
            float mx[2];
            mask_and_max(s, page * FMLA_PAGE + wg * 32, page * FMLA_PAGE + FMLA_PAGE, lim, params.scale_log2, lane, mx);
            float mx_a = mx[0], mx_b = mx[1];
            if (lane % 4 == 0) {
                sRed[wg * 64 + ra] = mx_a;
                sRed[wg * 64 + rb] = mx_b;
            }
            __syncthreads();                                  // [max] both halves' maxima posted
            // Both warpgroups' Q·Kᵀ of this page are done: its rope box is free.
            if (FMLA_LOCKSTEP_ROPE_EARLY && p + 2 < n_pages) {
                if (!FMLA_LOCKSTEP_SPREAD_ISSUE && tid == 0) issue_boxes(req, page + 2, stage, 8, 9);
                if (FMLA_LOCKSTEP_SPREAD_ISSUE && tid == 7 * 32)      // lane 0 of the last warp
                    issue_box(block_id(req, page + 2), stage, 8);
            }
            mx_a = fmaxf(mx_a, sRed[(1 - wg) * 64 + ra]);
            mx_b = fmaxf(mx_b, sRed[(1 - wg) * 64 + rb]);
            const float new_a = fmaxf(m_a, mx_a), new_b = fmaxf(m_b, mx_b);
            const float use_a = exp_base(new_a), use_b = exp_base(new_b);
            const float alpha_a = fast_exp2(m_a - use_a), alpha_b = fast_exp2(m_b - use_b);
            m_a = new_a; m_b = new_b;

            // P into A fragments. k-step ks covers keys 16·ks … 16·ks+15: steps 2·wg and 2·wg+1
            // come from this warpgroup's accumulators, the other two from the other's sP half,
            // read at exactly the positions its threads wrote.
            u32 own[2][4], other[2][4];                      // k-steps 2·wg + h, 2·(1 − wg) + h
            float sum_a = 0.f, sum_b = 0.f;
            u32* const mine = reinterpret_cast<u32*>(sP + wg * 64 * 72);
#pragma unroll
            for (int h = 0; h < 2; ++h) {
#pragma unroll
                for (int half = 0; half < 2; ++half) {
                    const int j = 2 * h + half;
                    const float p0 = fast_exp2(fmaf(s[4 * j], params.scale_log2, -use_a));
                    const float p1 = fast_exp2(fmaf(s[4 * j + 1], params.scale_log2, -use_a));
                    const float p2 = fast_exp2(fmaf(s[4 * j + 2], params.scale_log2, -use_b));
                    const float p3 = fast_exp2(fmaf(s[4 * j + 3], params.scale_log2, -use_b));
                    sum_a += p0 + p1;
                    sum_b += p2 + p3;
                    const u32 top = pack2<T>(p0, p1), bottom = pack2<T>(p2, p3);
                    own[h][2 * half] = top;
                    own[h][2 * half + 1] = bottom;
                    mine[ra * 18 + j * 4 + lane % 4] = top;
                    mine[rb * 18 + j * 4 + lane % 4] = bottom;
                }
            }
            l_a = l_a * alpha_a + sum_a;
            l_b = l_b * alpha_b + sum_b;
            if (!FMLA_LOCKSTEP_RESCALE_SKIP || !__all_sync(0xffffffff, alpha_a == 1.f && alpha_b == 1.f))
                scale_rows(o, alpha_a, alpha_b);
            __syncthreads();                                  // [P] both halves of P posted
            const u32* const theirs = reinterpret_cast<const u32*>(sP + (1 - wg) * 64 * 72);
#pragma unroll
            for (int h = 0; h < 2; ++h) {
#pragma unroll
                for (int half = 0; half < 2; ++half) {
                    const int j = 2 * h + half;
                    other[h][2 * half] = theirs[ra * 18 + j * 4 + lane % 4];
                    other[h][2 * half + 1] = theirs[rb * 18 + j * 4 + lane % 4];
                }
            }

            // O[:, 256·wg …] += P · V[:, 256·wg …]: V read N-major (keys are rows of the page).
            fence_registers(o);
            wgmma_fence();
#pragma unroll
            for (int ks = 0; ks < 4; ++ks) {
                u32 a[4];
#pragma unroll
                for (int i = 0; i < 4; ++i) a[i] = (ks >> 1) == wg ? own[ks & 1][i] : other[ks & 1][i];
                wgmma_rs_n256_tb<T>(o, a, smem_desc_sw128(kst + 4 * wg * FMLA_BOX + ks * 2048, V_DESC_LEAD, V_DESC_STRIDE), 1);
            }
            wgmma_commit();
            wgmma_wait<0>();
            fence_registers(o);

            __syncthreads();                                  // both warpgroups are done with this stage
            if (p + 2 < n_pages) {
                if (FMLA_LOCKSTEP_SPREAD_ISSUE && FMLA_LOCKSTEP_ROPE_EARLY) {
                    if (lane == 0) issue_box(block_id(req, page + 2), stage, tid / 32);
                } else if (tid == 0) {
                    issue_boxes(req, page + 2, stage, 0, FMLA_LOCKSTEP_ROPE_EARLY ? 8 : 9);
                }
            }
        }

        // Row sums: the two warpgroups' halves (both hold the same max).
        float l[2] = {l_a, l_b};
        sum_row_halves(l, FMLA_AT(base, LockstepStorage, red), wg, ra, lane);
        const float m[2] = {m_a, m_b};
        begin_next_piece(req, part.end_req, piece, piece_at, start_piece);
        store_tile<T>(o, l, m, single, ((i64)(params.num_splits[req] + split) * params.h_kv + kvh) * rows, params,
                      req, kvh, g, rows, tile_row0, wg, ra, lane);
    }
}

FMLA_DECODE_SM90(flashmla_decode_sm90_lockstep_bf16, bf16, decode_sm90_lockstep, LockstepStorage)
FMLA_DECODE_SM90(flashmla_decode_sm90_lockstep_fp16, fp16, decode_sm90_lockstep, LockstepStorage)
