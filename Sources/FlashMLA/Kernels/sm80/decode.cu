// The portable split-KV MLA decode kernel: tensor cores through mma.sync (sm_80 and newer).
//
// Grid: (query tiles, KV heads, workers). A block takes one tile of BLOCK_M query rows of
// one KV head (row R = qi·g + gi, g = h_q/h_kv: the s_q·g rows sharing the head) and walks
// the pieces of its worker's part of the schedule (common/schedule.cuh). For each piece it
// streams the request's pages through shared memory, keeps the running softmax in fp32,
// and writes either the final output (a request with one split) or a partial output and
// lse for the combine kernel.
//
// Shared memory (bytes), every [rows][576] tile stored as 72 16-byte chunks a row with the
// chunk index XOR-swizzled by (row & 7) inside each group of 8, so that the 8 row addresses
// of an ldmatrix fall in 8 different bank groups:
//   sQ  [BLOCK_M][576]         the query tile, loaded once per piece
//   sK  [STAGES][64][576]      pages of K (its first 512 columns are V), cp.async ring
//   sP  [BLOCK_M][64]          softmax probabilities in the input type (8 chunks a row, swizzled)
//   sRed[WARPS_N][BLOCK_M]     row maxima, then row sums, exchanged between warps
//
// Warps: 8. WARPS_M = BLOCK_M/16 warps split the rows; WARPS_N = 8/WARPS_M split the 64
// keys of a page for Q·Kᵀ and the 512 value columns for P·V. Each thread holds its rows'
// running max and a partial row sum over its own columns; only maxima cross warps per page,
// the sums once at the end.
//
// Per page, four barriers: [A] page landed, [B] row maxima posted, [C] P posted,
// [D] everyone done with the page (its stage may be refilled).
#include "common/mma_sm80.cuh"
#include "common/schedule.cuh"

#define FMLA_D 576
#define FMLA_DV 512
#define FMLA_CHUNKS 72           // 16-byte chunks in a 576-element row
#define FMLA_ROW_BYTES 1152


__device__ __forceinline__ u32 swz576(int row, int chunk) {
    return (u32)((row * FMLA_CHUNKS + ((chunk & ~7) | ((chunk ^ row) & 7))) * 16);
}
__device__ __forceinline__ u32 swz64(int row, int chunk) {
    return (u32)(row * 128 + ((chunk ^ row) & 7) * 16);
}

template <typename T, int BLOCK_M, int STAGES>
__device__ __forceinline__ void decode_sm80(
    const T* __restrict__ q, const T* __restrict__ kcache, const int* __restrict__ block_table,
    const int* __restrict__ seqlens, const int* __restrict__ sched, const int* __restrict__ num_splits,
    T* __restrict__ out, float* __restrict__ lse, float* __restrict__ oaccum, float* __restrict__ lseaccum,
    int* __restrict__ error_flag,
    i64 q_batch_stride, i64 q_seq_stride, i64 q_head_stride,
    i64 k_page_stride, i64 k_token_stride, i64 k_head_stride, i64 bt_stride,
    int s_q, int h_q, int h_kv, int num_pages, int max_pages, float scale_log2, int causal) {
    constexpr int WARPS_M = BLOCK_M / 16;
    constexpr int WARPS_N = 8 / WARPS_M;
    constexpr int SN = 64 / WARPS_N;       // score columns per warp
    constexpr int NT = SN / 8;             // their n8 tiles
    constexpr int ON = FMLA_DV / WARPS_N;  // output columns per warp
    constexpr int OT = ON / 8;             // their n8 tiles
    static_assert(NT >= 1 && OT % 2 == 0, "tile shape");

    extern __shared__ __align__(128) u8 smem[];
    u8* sQ = smem;
    u8* sK = sQ + BLOCK_M * FMLA_ROW_BYTES;
    u8* sP = sK + STAGES * 64 * FMLA_ROW_BYTES;
    float* sRed = reinterpret_cast<float*>(sP + BLOCK_M * 128);
    const u32 sQa = smem_addr(sQ), sKa = smem_addr(sK), sPa = smem_addr(sP);

    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int wm = warp % WARPS_M, wn = warp / WARPS_M;
    const int kvh = blockIdx.y;
    const int g = h_q / h_kv, rows = s_q * g;
    const int tile_row0 = blockIdx.x * BLOCK_M;
    const int last_row = min(rows, tile_row0 + BLOCK_M) - 1;
    // This thread's two accumulator rows (within the tile) and their query index.
    const int ra = wm * 16 + lane / 4, rb = ra + 8;
    const int qa = (tile_row0 + ra) / g, qb = (tile_row0 + rb) / g;

    // Per-thread ldmatrix addresses. Rows of every ldmatrix below have row & 7 == lane & 7;
    // the chunk's low bit comes from lane bit 4 (A operands, V) or bit 3 (K for Q·Kᵀ).
    const u32 xor_a = (u32)(((lane >> 4) ^ lane) & 7) * 16;
    const u32 xor_b = (u32)((((lane >> 3) & 1) ^ lane) & 7) * 16;
    const u32 q_rows = sQa + (wm * 16 + lane % 16) * FMLA_ROW_BYTES;
    const u32 k_rows = (wn * SN + lane % 8 + (lane / 16) * 8) * FMLA_ROW_BYTES;
    const u32 p_rows = sPa + (wm * 16 + lane % 16) * 128;
    const u32 v_rows = (lane % 8 + ((lane / 8) % 2) * 8) * FMLA_ROW_BYTES + (wn * ON / 8) * 16;

    grid_dependency_wait();                      // everything below may read the previous kernel's output
    const SchedPart part = load_part(sched, blockIdx.z);
    for (int req = part.begin_req; req <= part.end_req; ++req) {
        const Piece piece = piece_of(part, req, seqlens, num_splits, max_pages, s_q, causal, last_row / g, error_flag);
        const int seqlen = piece.seqlen, split = piece.split;
        const int first_page = piece.first_page, n_pages = piece.n_pages;
        const bool single = piece.single;
        const int lim_a = visible_end(piece, s_q, causal, qa), lim_b = visible_end(piece, s_q, causal, qb);
        const int* bt_row = block_table + (i64)req * bt_stride;

        auto load_page = [&](int page, int stage) {
            int id = bt_row[page];
            bool id_ok = id >= 0 && id < num_pages;
            if (!id_ok && tid == 0) atomicOr(error_flag, FMLA_ERR_BLOCK_ID);
            const T* base = kcache + (i64)(id_ok ? id : 0) * k_page_stride + (i64)kvh * k_head_stride;
            const u32 dst = sKa + stage * 64 * FMLA_ROW_BYTES;
            for (int i = tid; i < 64 * FMLA_CHUNKS; i += 256) {
                int t = i / FMLA_CHUNKS, c = i % FMLA_CHUNKS;
                bool ok = id_ok && page * FMLA_PAGE + t < seqlen;
                cp_async_16(dst + swz576(t, c), ok ? base + t * k_token_stride + c * 8 : kcache, ok);
            }
        };

        float acc[OT][4];
#pragma unroll
        for (int t = 0; t < OT; ++t) acc[t][0] = acc[t][1] = acc[t][2] = acc[t][3] = 0.f;
        float m_a = -FMLA_INF, m_b = -FMLA_INF, l_a = 0.f, l_b = 0.f;

        if (n_pages > 0) {
            for (int i = tid; i < BLOCK_M * FMLA_CHUNKS; i += 256) {
                int r = i / FMLA_CHUNKS, c = i % FMLA_CHUNKS, R = tile_row0 + r;
                bool ok = R < rows;
                const T* src = ok ? q + (i64)req * q_batch_stride + (i64)(R / g) * q_seq_stride
                                        + (i64)(kvh * g + R % g) * q_head_stride + c * 8
                                  : q;
                cp_async_16(sQa + swz576(r, c), src, ok);
            }
            load_page(first_page, 0);
            cp_async_commit();
        }

        for (int p = 0; p < n_pages; ++p) {
            const int page = first_page + p;
            int stage = 0;
            if (STAGES == 2) {
                stage = p & 1;
                if (p + 1 < n_pages) {
                    load_page(page + 1, (p + 1) & 1);
                    cp_async_commit();
                    cp_async_wait<1>();
                } else {
                    cp_async_wait<0>();
                }
            } else {
                if (p > 0) { load_page(page, 0); cp_async_commit(); }
                cp_async_wait<0>();
            }
            __syncthreads();                                                       // [A]
            const u32 kst = sKa + stage * 64 * FMLA_ROW_BYTES;

            // S = Q·Kᵀ for rows wm·16.., keys wn·SN.. of this page. A chunk index 2·kk + bit
            // (bit = which 8 columns of the 16-wide k step) lands, after the swizzle, at
            // (2·kk & ~7) + ((2·kk & 7) ^ bit ^ (row & 7)); every ldmatrix row here has
            // row & 7 == lane & 7, so the XOR pattern is one per-thread constant.
            float s[NT][4];
#pragma unroll
            for (int j = 0; j < NT; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll 4
            for (int kk = 0; kk < FMLA_D / 16; ++kk) {
                const u32 kchunk = (u32)(2 * kk & ~7) * 16, klow = (u32)(2 * kk & 7) * 16;
                u32 a[4];
                ldmatrix_x4(a, q_rows + kchunk + (klow ^ xor_a));
                if (NT == 1) {
                    u32 b[2];
                    ldmatrix_x2(b, kst + k_rows + kchunk + (klow ^ xor_b));
                    mma_16816<T>(s[0], a, b[0], b[1]);
                } else {
#pragma unroll
                    for (int j = 0; j < NT; j += 2) {
                        u32 b[4];
                        ldmatrix_x4(b, kst + k_rows + j * 8 * FMLA_ROW_BYTES + kchunk + (klow ^ xor_b));
                        mma_16816<T>(s[j], a, b[0], b[1]);
                        mma_16816<T>(s[j + 1], a, b[2], b[3]);
                    }
                }
            }

            // Mask, scale to log2 units, and post this warp's row maxima.
            float mx_a = -FMLA_INF, mx_b = -FMLA_INF;
#pragma unroll
            for (int j = 0; j < NT; ++j) {
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    int key = page * FMLA_PAGE + wn * SN + j * 8 + 2 * (lane % 4) + e;
                    s[j][e] = key < lim_a ? s[j][e] * scale_log2 : -FMLA_INF;
                    s[j][2 + e] = key < lim_b ? s[j][2 + e] * scale_log2 : -FMLA_INF;
                    mx_a = fmaxf(mx_a, s[j][e]);
                    mx_b = fmaxf(mx_b, s[j][2 + e]);
                }
            }
            mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffff, mx_a, 1));
            mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffff, mx_a, 2));
            mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffff, mx_b, 1));
            mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffff, mx_b, 2));
            if (WARPS_N > 1 && lane % 4 == 0) {
                sRed[wn * BLOCK_M + ra] = mx_a;
                sRed[wn * BLOCK_M + rb] = mx_b;
            }
            if (WARPS_N > 1) {
                __syncthreads();                                                   // [B]
#pragma unroll
                for (int w = 0; w < WARPS_N; ++w) {
                    mx_a = fmaxf(mx_a, sRed[w * BLOCK_M + ra]);
                    mx_b = fmaxf(mx_b, sRed[w * BLOCK_M + rb]);
                }
            }

            // Online softmax: new maxima, rescale, probabilities into sP.
            const float new_a = fmaxf(m_a, mx_a), new_b = fmaxf(m_b, mx_b);
            const float use_a = new_a == -FMLA_INF ? 0.f : new_a;
            const float use_b = new_b == -FMLA_INF ? 0.f : new_b;
            const float alpha_a = fast_exp2(m_a - use_a), alpha_b = fast_exp2(m_b - use_b);
            m_a = new_a; m_b = new_b;
            float sum_a = 0.f, sum_b = 0.f;
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                float p0 = fast_exp2(s[j][0] - use_a), p1 = fast_exp2(s[j][1] - use_a);
                float p2 = fast_exp2(s[j][2] - use_b), p3 = fast_exp2(s[j][3] - use_b);
                sum_a += p0 + p1;
                sum_b += p2 + p3;
                int col = wn * SN + j * 8 + 2 * (lane % 4);
                *reinterpret_cast<u32*>(sP + swz64(ra, col / 8) + (col % 8) * 2) = pack2<T>(p0, p1);
                *reinterpret_cast<u32*>(sP + swz64(rb, col / 8) + (col % 8) * 2) = pack2<T>(p2, p3);
            }
            l_a = l_a * alpha_a + sum_a;
            l_b = l_b * alpha_b + sum_b;
#pragma unroll
            for (int t = 0; t < OT; ++t) {
                acc[t][0] *= alpha_a; acc[t][1] *= alpha_a;
                acc[t][2] *= alpha_b; acc[t][3] *= alpha_b;
            }
            __syncthreads();                                                       // [C]

            // O += P·V for rows wm·16.., value columns wn·ON.. . V is read transposed from the
            // page (rows = keys); its chunk (wn·ON/8 + t + bit) swizzles as in Q·Kᵀ.
#pragma unroll (BLOCK_M == 64 ? 1 : 4)
            for (int ks = 0; ks < 4; ++ks) {
                u32 a[4];
                ldmatrix_x4(a, p_rows + (((u32)(2 * ks) * 16) ^ xor_a));
#pragma unroll
                for (int t = 0; t < OT; t += 2) {
                    u32 b[4];
                    ldmatrix_x4_trans(b, kst + v_rows + ks * 16 * FMLA_ROW_BYTES + (u32)(t & ~7) * 16
                                             + (((u32)(t & 7) * 16) ^ xor_a));
                    mma_16816<T>(acc[t], a, b[0], b[1]);
                    mma_16816<T>(acc[t + 1], a, b[2], b[3]);
                }
            }
            __syncthreads();                                                       // [D]
        }

        // Row sums: across the quad, then across the WARPS_N warps sharing the rows.
        l_a += __shfl_xor_sync(0xffffffff, l_a, 1);
        l_a += __shfl_xor_sync(0xffffffff, l_a, 2);
        l_b += __shfl_xor_sync(0xffffffff, l_b, 1);
        l_b += __shfl_xor_sync(0xffffffff, l_b, 2);
        if (WARPS_N > 1) {
            if (lane % 4 == 0) {
                sRed[wn * BLOCK_M + ra] = l_a;
                sRed[wn * BLOCK_M + rb] = l_b;
            }
            __syncthreads();
            l_a = 0.f; l_b = 0.f;
#pragma unroll
            for (int w = 0; w < WARPS_N; ++w) {
                l_a += sRed[w * BLOCK_M + ra];
                l_b += sRed[w * BLOCK_M + rb];
            }
        }

        // Write: the final output for a single-split request, else this split's partial.
        const int Ra = tile_row0 + ra, Rb = tile_row0 + rb;
        const float inv_a = l_a > 0.f ? 1.f / l_a : 0.f, inv_b = l_b > 0.f ? 1.f / l_b : 0.f;
        const float empty = single ? FMLA_INF : -FMLA_INF;
        const float lse_a = l_a > 0.f ? (m_a + fast_log2(l_a)) * FMLA_LN2 : empty;
        const float lse_b = l_b > 0.f ? (m_b + fast_log2(l_b)) * FMLA_LN2 : empty;
        const i64 split_row0 = ((i64)(num_splits[req] + split) * h_kv + kvh) * rows;
        if (req == part.end_req) launch_dependents();   // the combine may be scheduled
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            const int R = half ? Rb : Ra;
            if (R >= rows) continue;
            const float inv = half ? inv_b : inv_a;
            const int qi = R / g, head = kvh * g + R % g;
            if (single) {
                T* o = out + (((i64)req * s_q + qi) * h_q + head) * FMLA_DV + wn * ON + 2 * (lane % 4);
#pragma unroll
                for (int t = 0; t < OT; ++t)
                    *reinterpret_cast<u32*>(o + t * 8) = pack2<T>(acc[t][2 * half] * inv, acc[t][2 * half + 1] * inv);
                if (wn == 0 && lane % 4 == 0) lse[((i64)req * h_q + head) * s_q + qi] = half ? lse_b : lse_a;
            } else {
                float* o = oaccum + (split_row0 + R) * FMLA_DV + wn * ON + 2 * (lane % 4);
#pragma unroll
                for (int t = 0; t < OT; ++t)
                    *reinterpret_cast<float2*>(o + t * 8) = make_float2(acc[t][2 * half] * inv, acc[t][2 * half + 1] * inv);
                if (wn == 0 && lane % 4 == 0) lseaccum[split_row0 + R] = half ? lse_b : lse_a;
            }
        }
        __syncthreads();   // sQ, sK and sRed are reused by the next request
    }
}

// Shared memory a configuration needs, in bytes (the host computes the same).
#define FMLA_SMEM(BLOCK_M, STAGES) \
    ((BLOCK_M) * FMLA_ROW_BYTES + (STAGES) * 64 * FMLA_ROW_BYTES + (BLOCK_M) * 128 + (8 / ((BLOCK_M) / 16)) * (BLOCK_M) * 4)

#define FMLA_DECODE(NAME, T, BLOCK_M, STAGES)                                                              \
    extern "C" __global__ void __launch_bounds__(256, 1) NAME(                                             \
        const T* q, const T* kcache, const int* block_table, const int* seqlens, const int* sched,         \
        const int* num_splits, T* out, float* lse, float* oaccum, float* lseaccum, int* error_flag,        \
        i64 q_batch_stride, i64 q_seq_stride, i64 q_head_stride, i64 k_page_stride, i64 k_token_stride,   \
        i64 k_head_stride, i64 bt_stride, int s_q, int h_q, int h_kv, int num_pages, int max_pages,        \
        float scale_log2, int causal) {                                                                    \
        decode_sm80<T, BLOCK_M, STAGES>(q, kcache, block_table, seqlens, sched, num_splits, out, lse,      \
                                        oaccum, lseaccum, error_flag, q_batch_stride, q_seq_stride,        \
                                        q_head_stride, k_page_stride, k_token_stride, k_head_stride,       \
                                        bt_stride, s_q, h_q, h_kv, num_pages, max_pages, scale_log2,       \
                                        causal);                                                           \
    }

// Every configuration the host may pick: the query tile (16, 32 or 64 rows) from s_q·h_q/h_kv,
// two pipeline stages where shared memory allows, one elsewhere.
#define FMLA_DECODE_ALL(T, SUFFIX)                                  \
    FMLA_DECODE(flashmla_decode_sm80_##SUFFIX##_m16_s1, T, 16, 1)   \
    FMLA_DECODE(flashmla_decode_sm80_##SUFFIX##_m16_s2, T, 16, 2)   \
    FMLA_DECODE(flashmla_decode_sm80_##SUFFIX##_m32_s1, T, 32, 1)   \
    FMLA_DECODE(flashmla_decode_sm80_##SUFFIX##_m32_s2, T, 32, 2)   \
    FMLA_DECODE(flashmla_decode_sm80_##SUFFIX##_m64_s1, T, 64, 1)   \
    FMLA_DECODE(flashmla_decode_sm80_##SUFFIX##_m64_s2, T, 64, 2)
FMLA_IF_bf16(FMLA_DECODE_ALL(bf16, bf16))
FMLA_IF_fp16(FMLA_DECODE_ALL(fp16, fp16))
