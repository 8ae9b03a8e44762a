// The portable split-KV MLA decode kernel: tensor cores through mma.sync (sm_80 and newer).
// This header holds its body; sm80/decode.cu instantiates it for bf16/fp16 caches of 64-token
// pages, sm80/decode_paged.cu for any page size, sm80/decode_fp8.cu for the FP8 caches.
//
// Grid: (query tiles, KV heads, workers). A block takes one tile of BLOCK_M query rows of
// one KV head (row R = qi·g + gi, g = h_q/h_kv: the s_q·g rows sharing the head) and walks
// the pieces of its worker's part of the schedule (common/schedule.cuh). For each piece it
// streams the request's pages through shared memory, keeps the running softmax in fp32,
// and writes either the final output (a request with one split) or a partial output and
// lse for the combine kernel.
//
// Shared memory: DecodeStorage below. Every [rows][576] tile is stored as 72 16-byte chunks a
// row with the chunk index XOR-swizzled by (row & 7) inside each group of 8, so that the 8 row
// addresses of an ldmatrix fall in 8 different bank groups.
//
// Warps: 8. WARPS_M = BLOCK_M/16 warps split the rows; WARPS_N = 8/WARPS_M split the 64
// keys of a page for Q·Kᵀ and the 512 value columns for P·V. Each thread holds its rows'
// running max and a partial row sum over its own columns; only maxima cross warps per page,
// the sums once at the end.
//
// Per page, four barriers: [A] page landed, [B] row maxima posted, [C] P posted,
// [D] everyone done with the page (its stage may be refilled).
//
// "Page" below is a 64-token block of the sequence, the schedule's unit. How its tokens are
// found and loaded depends on the cache format KV:
//   FMLA_KV_PAGE64  q's type, cache pages of 64 tokens: the block is cache page block_table[blk],
//                   loaded by 72 chunks a token; strides in elements. The original kernel.
//   FMLA_KV_PAGED   q's type, pages of any P tokens (1 … 256): token t = blk·64 + i lives in slot
//                   t % P of page block_table[t / P]. Four threads a token (each its 18 chunks)
//                   so that one block-table read and one division serve a thread's whole token.
//                   Strides in bytes. Same pipeline as FMLA_KV_PAGE64.
//   FMLA_KV_FP8     E4M3 codes, 576 bytes a token, one per-tensor scale (folded: scale_log2
//                   carries it for S, out_scale for O, so the codes convert exactly).
//   FMLA_KV_FP8DS   DeepSeek-V3.2's 656-byte tokens (512 codes, 4 fp32 scales, 64 bf16 RoPE).
//   FMLA_KV_MODEL1  SPARSE only: FlashMLA HEAD's MODEL1 tokens, d_qk = 512 (448 codes with 7 UE8M0
//                   scales, 64 bf16 RoPE), grouped per page: token t's 576 data bytes at t·576 of its
//                   page, its 8 scale bytes at P·576 + t·8. Staged raw as [576 data | 8 scales] at
//                   the DS pitch and converted into the same 576-wide T row: dims 0 … 447 NoPE,
//                   448 … 511 RoPE; columns 512 … 575 are never read (Q·Kᵀ runs 512 deep, and q's
//                   512 values load zero-padded), so S is over 512 and V = columns 0 … 511 is the
//                   whole key, RoPE included, as MODEL1 defines it.
// The FP8 formats stream raw token bytes by cp.async (addressed as FMLA_KV_PAGED does) into a
// ring of STAGES raw stages, sRaw [STAGES][64][RAW_PITCH], and convert one block at a time into
// a single T page sK [1][64][576], which the mma code below reads exactly as the 16-bit page:
//   [A] raw block p landed (and everyone is done with page p − 1 in sK) → convert into sK
//   [A'] sK holds block p, raw stage p % STAGES is free → refill it with block p + STAGES
// then [B], [C] as above; [A] of the next block stands in for [D]. Slots past the sequence's end
// are zero-filled by cp.async (their bytes, NaN codes included, are never read), as they are
// for the 16-bit cache.
//
// SPARSE (sm80/decode_sparse.cu; FMLA_KV_PAGED or FMLA_KV_FP8DS): DeepSeek-V3.2's sparse decode.
// The "sequence" of query token qi of request req is its index list indices[req][qi][0 ..< len]
// (len = topk_length[req] clamped to 0 … topk, or topk), each entry an absolute cache slot
// page·P + offset, −1 invalid. The schedule splits these index positions exactly as it splits a
// dense sequence (64 a block). Since each query token has its own list, a block takes rows of one
// query token only: grid.x = s_q · ⌈g / BLOCK_M⌉, tile x holding heads (x % ⌈g/BLOCK_M⌉)·BLOCK_M …
// of token x / ⌈g/BLOCK_M⌉. There is no causal mask. A block's token t is addressed from its
// index like FMLA_KV_PAGED addresses it from the block table; an invalid index (−1, or one
// outside 0 ..< num_pages·P, which also raises FMLA_ERR_INDEX) is zero-filled and masked: each
// load posts its 64 tokens' validity as bytes sValid[stage][t] (by the first of a token's four
// threads), every thread reads its columns' bytes when it masks the block's scores, and a score of
// an invalid token becomes −inf. A 16-bit stage is not refilled before [D]; an FP8 raw stage is
// refilled right after [A'], so 16 threads copy its 64 bytes to slot STAGES between [A] and [A'],
// and the mask reads that copy (the next copy is made after [A] of the next block, past every
// reader's [C]).
#include "common/fp8.cuh"
#include "common/mma_sm80.cuh"
#include "common/params.cuh"
#include "common/schedule.cuh"
#include "common/softmax.cuh"

#define FMLA_KV_PAGE64 0
#define FMLA_KV_PAGED 1
#define FMLA_KV_FP8 2
#define FMLA_KV_FP8DS 3
#define FMLA_KV_MODEL1 4
#define FMLA_MODEL1_DATA_BYTES 576    // MODEL1: a token's codes and RoPE, and their distance in a page
#define FMLA_FP8_TOKEN_BYTES 576      // per-tensor FP8: one code a value
#define FMLA_FP8DS_TOKEN_BYTES 656    // DeepSeek-V3.2: 512 codes, 4 fp32 scales, 64 bf16
// Bytes between raw tokens in shared memory: the token size, or for 656-byte tokens 704, so that
// two neighbouring tokens start 16 banks apart (the conversion reads them in pairs).
#define FMLA_FP8_PITCH 576
#define FMLA_FP8DS_PITCH 704

#define FMLA_SPARSE_VALID_BYTES 256   // sValid: 64 bytes a stage (at most 3) and the FP8 copy

#define FMLA_CHUNKS 72           // 16-byte chunks in a 576-element row
#define FMLA_ROW_BYTES 1152


__device__ __forceinline__ u32 swz576(int row, int chunk) {
    return (u32)((row * FMLA_CHUNKS + ((chunk & ~7) | ((chunk ^ row) & 7))) * 16);
}
__device__ __forceinline__ u32 swz64(int row, int chunk) {
    return (u32)(row * 128 + ((chunk ^ row) & 7) * 16);
}

// Converts raw stage `raw` (64 tokens, PITCH bytes apart) into the T page at shared address `dst`
// (swizzled like sK). A unit is 16 raw bytes: 16 codes → two T chunks (values 16u … 16u+15), or,
// for DS, 8 RoPE bf16 (raw bytes 528 + 16·(u − 32)) → one (values 512 + 8·(u − 32) …). A DS
// token's scales (raw bytes 512 … 527) are read by the units of their 128 codes.
// Lanes alternate between two neighbouring tokens (unit i: token 2·(i / (2U)) + (i & 1), unit
// (i / 2) % U of it, U units a token), so a warp's raw reads fall in distinct banks (tokens
// 16 banks apart) and its first 16-byte stores land in even and odd swizzle slots alike.
//
// MODEL1 (FMLA_KV_MODEL1): 36 units a token, raw bytes 16u: units 0 … 27 hold codes (their UE8M0
// scale is byte 576 + u / 4 of the raw token), units 28 … 35 the RoPE values 448 + 8·(u − 28) ….
template <typename T, int KV>
__device__ __forceinline__ void convert_page(const u8* raw, u32 dst, int tid) {
    constexpr int U = KV == FMLA_KV_FP8 || KV == FMLA_KV_MODEL1 ? 36 : 40;   // units a token (DS: 32 NoPE + 8 RoPE)
    constexpr int PITCH = KV == FMLA_KV_FP8 ? FMLA_FP8_PITCH : FMLA_FP8DS_PITCH;
    constexpr int ROPE_UNIT = KV == FMLA_KV_MODEL1 ? 28 : 32;                 // the first RoPE unit (DS, MODEL1)
    constexpr bool HAS_ROPE = KV == FMLA_KV_FP8DS || KV == FMLA_KV_MODEL1;
    static_assert((64 * U) % 256 == 0, "whole units per thread");
#pragma unroll 1
    for (int i = tid; i < 64 * U; i += 256) {
        const int t = 2 * (i / (2 * U)) + (i & 1), u = (i % (2 * U)) >> 1;
        // Raw chunk: the codes' u, or for DS RoPE units past the 16 bytes of scales.
        const u8* src = raw + t * PITCH + u * 16 + (KV == FMLA_KV_FP8DS && u >= 32 ? 16 : 0);
        const uint4 w = *reinterpret_cast<const uint4*>(src);
        if (HAS_ROPE && u >= ROPE_UNIT) {                // 8 RoPE values, bf16 → T
            st_shared_v4(dst + swz576(t, 2 * ROPE_UNIT + (u - ROPE_UNIT)), bf16x2_to<T>(w.x), bf16x2_to<T>(w.y),
                         bf16x2_to<T>(w.z), bf16x2_to<T>(w.w));
            continue;
        }
        u32 a[4], b[4];                                  // values 16u … 16u+7, 16u+8 … 16u+15
        if (KV == FMLA_KV_FP8) {
            a[0] = e4m3x2_to<T>(w.x); a[1] = e4m3x2_to<T>(w.x >> 16);
            a[2] = e4m3x2_to<T>(w.y); a[3] = e4m3x2_to<T>(w.y >> 16);
            b[0] = e4m3x2_to<T>(w.z); b[1] = e4m3x2_to<T>(w.z >> 16);
            b[2] = e4m3x2_to<T>(w.w); b[3] = e4m3x2_to<T>(w.w >> 16);
        } else {
            const float scale = KV == FMLA_KV_MODEL1
                ? ue8m0_to_float(raw[t * PITCH + FMLA_MODEL1_DATA_BYTES + u / 4])
                : *reinterpret_cast<const float*>(raw + t * PITCH + 512 + (u / 8) * 4);
            a[0] = e4m3x2_scaled<T>(w.x, scale); a[1] = e4m3x2_scaled<T>(w.x >> 16, scale);
            a[2] = e4m3x2_scaled<T>(w.y, scale); a[3] = e4m3x2_scaled<T>(w.y >> 16, scale);
            b[0] = e4m3x2_scaled<T>(w.z, scale); b[1] = e4m3x2_scaled<T>(w.z >> 16, scale);
            b[2] = e4m3x2_scaled<T>(w.w, scale); b[3] = e4m3x2_scaled<T>(w.w >> 16, scale);
        }
        st_shared_v4(dst + swz576(t, 2 * u), a[0], a[1], a[2], a[3]);
        st_shared_v4(dst + swz576(t, 2 * u + 1), b[0], b[1], b[2], b[3]);
    }
}

// The shared memory of one configuration, in bytes from the 128-aligned base of dynamic shared
// memory (its size is what the entry point exports as NAME_smem_bytes):
//   q     [BLOCK_M][576]     the query tile, loaded once per piece
//   pages                    16-bit caches: k [STAGES][64][576], pages of K (its first 512 columns
//                            are V), the cp.async ring. FP8: k [1][64][576], the converted T page,
//                            then raw [STAGES][64][RAW_PITCH], the raw token bytes' ring
//   p     [BLOCK_M][64]      softmax probabilities in the input type (8 chunks a row, swizzled)
//   red   [WARPS_N][BLOCK_M] row maxima, then row sums, exchanged between warps (fp32)
//   valid [STAGES + 1][64]   SPARSE only: the tokens' validity bytes (FMLA_SPARSE_VALID_BYTES)
// A part a configuration does not have is a null static member, so that the body may name it.
template <int K_STAGES, int RAW_BYTES>
struct PageRing {
    u8 k[K_STAGES * 64 * FMLA_ROW_BYTES];
    u8 raw[RAW_BYTES];
};
template <int K_STAGES>
struct PageRing<K_STAGES, 0> {
    u8 k[K_STAGES * 64 * FMLA_ROW_BYTES];
    static constexpr u8* raw = nullptr;
};
template <int BLOCK_M, int STAGES, int KV, bool SPARSE>
struct DecodeStorage : DecodeStorage<BLOCK_M, STAGES, KV, false> {
    u8 valid[FMLA_SPARSE_VALID_BYTES];
};
template <int BLOCK_M, int STAGES, int KV>
struct DecodeStorage<BLOCK_M, STAGES, KV, false> {
    static constexpr bool FP8 = KV == FMLA_KV_FP8 || KV == FMLA_KV_FP8DS || KV == FMLA_KV_MODEL1;
    static constexpr int RAW_PITCH = KV == FMLA_KV_FP8 ? FMLA_FP8_PITCH : FMLA_FP8DS_PITCH;
    u8 q[BLOCK_M * FMLA_ROW_BYTES];
    PageRing<FP8 ? 1 : STAGES, FP8 ? STAGES * 64 * RAW_PITCH : 0> pages;
    u8 p[BLOCK_M * 128];
    float red[(8 / (BLOCK_M / 16)) * BLOCK_M];
    static constexpr u8* valid = nullptr;
};

// SPARSE MODEL1: request req's counts. main_len = topk_length[req] (or topk), extra_len the extra
// list's (or extra_topk; 0 without an extra cache), each clamped with FMLA_ERR_SEQLEN; the sequence
// the schedule split is the main list, or with an extra cache main_part = ⌈max(main_len, 1)/64⌉·64
// positions of it and then the extra list: total = main_part + extra_len (SparseIndices.scheduledLength).
struct Model1Lengths {
    int main_len, main_part, total;
};
__device__ __forceinline__ Model1Lengths model1_lengths(const DecodeParams& params, int req) {
    int len = params.seqlens ? params.seqlens[req] : params.max_pages;
    if (len < 0 || len > params.max_pages) {
        if (threadIdx.x == 0) atomicOr(params.error_flag, FMLA_ERR_SEQLEN);
        len = min(max(len, 0), params.max_pages);
    }
    if (!params.extra_kcache) return Model1Lengths{len, len, len};
    int extra = params.extra_seqlens ? params.extra_seqlens[req] : params.extra_topk;
    if (extra < 0 || extra > params.extra_topk) {
        if (threadIdx.x == 0) atomicOr(params.error_flag, FMLA_ERR_SEQLEN);
        extra = min(max(extra, 0), params.extra_topk);
    }
    const int part = (max(len, 1) + FMLA_PAGE - 1) / FMLA_PAGE * FMLA_PAGE;
    return Model1Lengths{len, part, part + extra};
}

template <typename T, int BLOCK_M, int STAGES, int KV, bool SPARSE = false>
__device__ __forceinline__ void decode_sm80(const DecodeParams& params) {
    // The fields of params this kernel reads, under the names the body uses. SPARSE: block_table is
    // indices [b][s_q][topk] (bt_stride its batch stride, ind_seq_stride its token stride), seqlens
    // is topk_length [b] or nullptr, max_pages is topk, num_pages the cache's slots numPages·P
    // (clamped to 2³¹−1: an index is an int32), and there is no causal mask.
    const T* __restrict__ const q = static_cast<const T*>(params.q);
    const void* __restrict__ const kcache_raw = params.kcache;
    const int* __restrict__ const block_table = params.block_table;
    const int* __restrict__ const seqlens = params.seqlens;
    const int* __restrict__ const sched = params.sched;
    const int* __restrict__ const num_splits = params.num_splits;
    T* __restrict__ const out = static_cast<T*>(params.out);
    float* __restrict__ const lse = params.lse;
    float* __restrict__ const oaccum = params.oaccum;
    float* __restrict__ const lseaccum = params.lseaccum;
    int* __restrict__ const error_flag = params.error_flag;
    const float* __restrict__ const attn_sink = params.attn_sink;
    const i64 q_batch_stride = params.q_batch_stride, q_seq_stride = params.q_seq_stride;
    const i64 q_head_stride = params.q_head_stride, bt_stride = params.bt_stride;
    const i64 k_page_stride = params.k_page_stride, k_token_stride = params.k_token_stride;
    const i64 k_head_stride = params.k_head_stride;
    // Opaque to the optimizer (an empty asm): this keeps the 64-row sparse tile within 255 registers
    // on sm_90a, where ptxas otherwise spills one predicate (4 bytes; NVRTC 13.0).
    i64 ind_seq_stride = SPARSE ? params.ind_seq_stride : 0;
    if (SPARSE) asm("" : "+l"(ind_seq_stride));
    const int s_q = params.s_q, h_q = params.h_q, h_kv = params.h_kv;
    const int num_pages = params.num_pages, max_pages = params.max_pages;
    const float scale_log2 = params.scale_log2;
    const int causal = SPARSE ? 0 : params.causal;
    const int page_size = KV == FMLA_KV_PAGE64 ? FMLA_PAGE : params.page_size;
    const float out_scale = KV == FMLA_KV_FP8 ? params.out_scale : 1.f;
    constexpr bool MODEL1 = KV == FMLA_KV_MODEL1;
    constexpr bool FP8 = KV == FMLA_KV_FP8 || KV == FMLA_KV_FP8DS || MODEL1;
    constexpr int RAW_PITCH = KV == FMLA_KV_FP8 ? FMLA_FP8_PITCH : KV == FMLA_KV_FP8DS || MODEL1 ? FMLA_FP8DS_PITCH : 0;
    constexpr int QK_STEPS = (MODEL1 ? 512 : FMLA_D) / 16;   // k steps of Q·Kᵀ: MODEL1's d_qk is 512
    constexpr int RAW_CHUNKS = (KV == FMLA_KV_FP8 ? FMLA_FP8_TOKEN_BYTES : FMLA_FP8DS_TOKEN_BYTES) / 16;
    constexpr int WARPS_M = BLOCK_M / 16;
    constexpr int WARPS_N = 8 / WARPS_M;
    constexpr int SN = 64 / WARPS_N;       // score columns per warp
    constexpr int NT = SN / 8;             // their n8 tiles
    constexpr int ON = FMLA_DV / WARPS_N;  // output columns per warp
    constexpr int OT = ON / 8;             // their n8 tiles
    static_assert(NT >= 1 && OT % 2 == 0, "tile shape");

    using Storage = DecodeStorage<BLOCK_M, STAGES, KV, SPARSE>;
    extern __shared__ __align__(128) u8 smem_raw[];
    Storage& smem = *reinterpret_cast<Storage*>(smem_raw);
    u8* sQ = smem.q;
    u8* sK = smem.pages.k;
    u8* sRaw = smem.pages.raw;                                       // FP8 only
    u8* sP = smem.p;
    float* sRed = smem.red;
    u8* sValid = smem.valid;                                         // SPARSE only
    const u32 sQa = smem_addr(sQ), sKa = smem_addr(sK), sPa = smem_addr(sP);

    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int wm = warp % WARPS_M, wn = warp / WARPS_M;
    const int kvh = blockIdx.y;
    const int g = h_q / h_kv, rows = s_q * g;
    // The tile's rows: tile_row0 … min(row_end, tile_row0 + BLOCK_M) − 1 (SPARSE: of one query token).
    const int tiles_per_token = (g + BLOCK_M - 1) / BLOCK_M;
    const int sparse_qi = SPARSE ? (int)blockIdx.x / tiles_per_token : 0;
    const int tile_row0 = SPARSE ? sparse_qi * g + ((int)blockIdx.x % tiles_per_token) * BLOCK_M : blockIdx.x * BLOCK_M;
    const int row_end = SPARSE ? sparse_qi * g + g : rows;
    const int last_row = min(row_end, tile_row0 + BLOCK_M) - 1;
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
        const Model1Lengths m1 = MODEL1 ? model1_lengths(params, req) : Model1Lengths{0, 0, 0};
        const Piece piece = MODEL1 ? piece_with_length(part, req, m1.total, num_splits, s_q, 0, 0)
            : SPARSE ? piece_of(part, req, seqlens, num_splits, max_pages, s_q, 0, 0, error_flag, 1)
            : KV == FMLA_KV_PAGE64
            ? piece_of(part, req, seqlens, num_splits, max_pages, s_q, causal, last_row / g, error_flag)
            : piece_of(part, req, seqlens, num_splits, max_pages, s_q, causal, last_row / g, error_flag, page_size);
        const int seqlen = piece.seqlen, split = piece.split;
        const int first_page = piece.first_page, n_pages = piece.n_pages;
        const bool single = piece.single;
        const int lim_a = visible_end(piece, s_q, causal, qa), lim_b = visible_end(piece, s_q, causal, qb);
        const int* bt_row = block_table + (i64)req * bt_stride + (SPARSE ? (i64)sparse_qi * ind_seq_stride : 0);
        const int* extra_row = MODEL1 && params.extra_kcache
            ? params.extra_indices + (i64)req * params.extra_ind_batch_stride + (i64)sparse_qi * params.extra_ind_seq_stride
            : nullptr;

        // Block `page` of the sequence into T stage `stage` of sK (16-bit caches) or raw stage
        // `stage` of sRaw (FP8).
        auto load_page = [&](int page, int stage) {
            if constexpr (KV == FMLA_KV_PAGE64) {
                const T* kcache = static_cast<const T*>(kcache_raw);
                int id = __ldg(bt_row + page);
                bool id_ok = id >= 0 && id < num_pages;
                if (!id_ok && tid == 0) atomicOr(error_flag, FMLA_ERR_BLOCK_ID);
                const T* base = kcache + (i64)(id_ok ? id : 0) * k_page_stride + (i64)kvh * k_head_stride;
                const u32 dst = sKa + stage * 64 * FMLA_ROW_BYTES;
                for (int i = tid; i < 64 * FMLA_CHUNKS; i += 256) {
                    int t = i / FMLA_CHUNKS, c = i % FMLA_CHUNKS;
                    bool ok = id_ok && page * FMLA_PAGE + t < seqlen;
                    cp_async_16(dst + swz576(t, c), ok ? base + t * k_token_stride + c * 8 : kcache, ok);
                }
            } else {
                // Token t of the block: four threads, one block-table read and one division. A slot
                // that is not read (past the end, or a bad page id) is zero-filled from an address
                // inside the cache's first token (base = kcache), which cp.async does not read.
                const u8* kcache = static_cast<const u8*>(kcache_raw);
                const int t = tid >> 2, sub = tid & 3, token = page * FMLA_PAGE + t;
                bool ok = token < seqlen;
                const u8* base = kcache;
                if constexpr (MODEL1) {
                    // Position `token`: main entry `token` below the main part, else extra entry
                    // token − main_part (m1); padding positions of the main part are invalid.
                    const u8* scales = kcache;
                    if (ok) {
                        const bool extra = token >= m1.main_part;
                        const int entry = extra ? token - m1.main_part : token;
                        ok = extra || entry < m1.main_len;
                        if (ok) {
                            const int idx = __ldg((extra ? extra_row : bt_row) + entry);
                            if ((u32)idx < (u32)(extra ? params.extra_num_slots : num_pages)) {
                                const int psize = extra ? params.extra_page_size : page_size;
                                const int id = idx / psize, slot = idx - id * psize;
                                const u8* page_base = (extra ? static_cast<const u8*>(params.extra_kcache) : kcache)
                                                      + (i64)id * (extra ? params.extra_page_stride : k_page_stride);
                                base = page_base + (u32)slot * FMLA_MODEL1_DATA_BYTES;
                                scales = page_base + (u32)(psize * FMLA_MODEL1_DATA_BYTES + slot * 8);
                            } else {
                                ok = false;
                                if (idx != -1) atomicOr(error_flag, FMLA_ERR_INDEX);
                            }
                        }
                    }
                    if (sub == 0) sValid[stage * 64 + t] = ok;
                    const u32 dst = smem_addr(sRaw) + stage * 64 * RAW_PITCH + t * RAW_PITCH;
#pragma unroll
                    for (int j = 0; j < FMLA_MODEL1_DATA_BYTES / 64; ++j) {
                        const int c = sub + 4 * j;
                        cp_async_16(dst + c * 16, base + c * 16, ok);
                    }
                    if (sub == 0) cp_async_8(dst + FMLA_MODEL1_DATA_BYTES, scales, ok);
                    return;
                }
                if (SPARSE) {
                    // Index position `token` of this query token's list: an absolute slot, −1 invalid.
                    if (ok) {
                        const int idx = __ldg(bt_row + token);
                        if ((u32)idx < (u32)num_pages) {        // SPARSE: num_pages counts slots
                            const int id = idx / page_size;
                            base = kcache + (i64)id * k_page_stride
                                   + (u32)((idx - id * page_size) * (u32)k_token_stride + kvh * (u32)k_head_stride);
                        } else {
                            ok = false;
                            if (idx != -1) atomicOr(error_flag, FMLA_ERR_INDEX);
                        }
                    }
                    if (sub == 0) sValid[stage * 64 + t] = ok;      // the token's validity byte
                } else if (ok) {
                    const int column = token / page_size;
                    const int id = __ldg(bt_row + column);
                    if (id >= 0 && id < num_pages) {
                        // 32-bit offset inside the page: the host keeps token and head strides below 2³¹ bytes.
                        base = kcache + (i64)id * k_page_stride
                               + (u32)((token - column * page_size) * (u32)k_token_stride + kvh * (u32)k_head_stride);
                    } else {
                        ok = false;
                        atomicOr(error_flag, FMLA_ERR_BLOCK_ID);
                    }
                }
                if constexpr (KV == FMLA_KV_PAGED) {
                    const u32 dst = sKa + stage * 64 * FMLA_ROW_BYTES;
#pragma unroll
                    for (int j = 0; j < FMLA_CHUNKS / 4; ++j) {
                        const int c = sub + 4 * j;
                        cp_async_16(dst + swz576(t, c), base + c * 16, ok);
                    }
                } else {
                    const u32 dst = smem_addr(sRaw) + stage * 64 * RAW_PITCH + t * RAW_PITCH;
#pragma unroll
                    for (int j = 0; j < (RAW_CHUNKS + 3) / 4; ++j) {
                        const int c = sub + 4 * j;
                        if (c < RAW_CHUNKS) cp_async_16(dst + c * 16, base + c * 16, ok);
                    }
                }
            }
        };

        float acc[OT][4];
#pragma unroll
        for (int t = 0; t < OT; ++t) acc[t][0] = acc[t][1] = acc[t][2] = acc[t][3] = 0.f;
        float m_a = -FMLA_INF, m_b = -FMLA_INF, l_a = 0.f, l_b = 0.f;

        if (n_pages > 0) {
            for (int i = tid; i < BLOCK_M * FMLA_CHUNKS; i += 256) {
                int r = i / FMLA_CHUNKS, c = i % FMLA_CHUNKS, R = tile_row0 + r;
                bool ok = R < row_end && (!MODEL1 || c * 8 < 512);   // MODEL1: q has 512 values, zeros after
                const T* src = ok ? q + (i64)req * q_batch_stride + (i64)(R / g) * q_seq_stride
                                        + (i64)(kvh * g + R % g) * q_head_stride + c * 8
                                  : q;
                cp_async_16(sQa + swz576(r, c), src, ok);
            }
            load_page(first_page, 0);
            cp_async_commit();
            if constexpr (FP8) {
#pragma unroll
                for (int s = 1; s < STAGES; ++s) {
                    if (s < n_pages) load_page(first_page + s, s);
                    cp_async_commit();                    // one group a block, empty or not
                }
            }
        }

        for (int p = 0; p < n_pages; ++p) {
            const int page = first_page + p;
            int stage = 0;
            if constexpr (FP8) {
                // Groups committed: STAGES + p; the oldest p + 1 (blocks ≤ p) must be complete.
                cp_async_wait<STAGES - 1>();
                __syncthreads();                                                   // [A]
                // The refill after [A'] overwrites this stage's validity: keep a copy in slot STAGES.
                if (SPARSE && tid < 16)
                    reinterpret_cast<u32*>(sValid + STAGES * 64)[tid] = reinterpret_cast<const u32*>(sValid + (p % STAGES) * 64)[tid];
                convert_page<T, KV>(sRaw + (p % STAGES) * 64 * RAW_PITCH, sKa, tid);
                __syncthreads();                                                   // [A']
                if (p + STAGES < n_pages) load_page(page + STAGES, p % STAGES);
                cp_async_commit();
            } else if (STAGES == 2) {
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
            if constexpr (!FP8) __syncthreads();                                  // [A]
            const u32 kst = sKa + stage * 64 * FMLA_ROW_BYTES;

            // S = Q·Kᵀ for rows wm·16.., keys wn·SN.. of this page. A chunk index 2·kk + bit
            // (bit = which 8 columns of the 16-wide k step) lands, after the swizzle, at
            // (2·kk & ~7) + ((2·kk & 7) ^ bit ^ (row & 7)); every ldmatrix row here has
            // row & 7 == lane & 7, so the XOR pattern is one per-thread constant.
            float s[NT][4];
#pragma unroll
            for (int j = 0; j < NT; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll 4
            for (int kk = 0; kk < QK_STEPS; ++kk) {
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

            // Mask, scale to log2 units, and post this warp's row maxima. SPARSE: byte i of the stage's
            // validity (for FP8 the copy made before [A']) says whether token i of the block is valid.
            const u8* valid = sValid + (FP8 ? STAGES : stage) * 64 + wn * SN + 2 * (lane % 4);
            float mx_a = -FMLA_INF, mx_b = -FMLA_INF;
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                const u32 pair = SPARSE ? *reinterpret_cast<const unsigned short*>(valid + j * 8) : 0x0101u;
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    const int key = page * FMLA_PAGE + wn * SN + j * 8 + 2 * (lane % 4) + e;
                    const bool present = (pair >> (8 * e)) & 1u;
                    s[j][e] = key < lim_a && present ? s[j][e] * scale_log2 : -FMLA_INF;
                    s[j][2 + e] = key < lim_b && present ? s[j][2 + e] * scale_log2 : -FMLA_INF;
                    mx_a = fmaxf(mx_a, s[j][e]);
                    mx_b = fmaxf(mx_b, s[j][2 + e]);
                }
            }
            mx_a = quad_max(mx_a);
            mx_b = quad_max(mx_b);
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
            const float use_a = exp_base(new_a), use_b = exp_base(new_b);
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
            scale_rows(acc, alpha_a, alpha_b);
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
            if constexpr (!FP8) __syncthreads();                                  // [D]
        }

        // Row sums: across the quad, then across the WARPS_N warps sharing the rows.
        l_a = quad_sum(l_a);
        l_b = quad_sum(l_b);
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
        float inv_a = l_a > 0.f ? 1.f / l_a : 0.f, inv_b = l_b > 0.f ? 1.f / l_b : 0.f;
        if constexpr (KV == FMLA_KV_FP8) { inv_a *= out_scale; inv_b *= out_scale; }   // V's per-tensor scale
        const float empty = single ? FMLA_INF : -FMLA_INF;
        const float lse_a = l_a > 0.f ? (m_a + fast_log2(l_a)) * FMLA_LN2 : empty;
        const float lse_b = l_b > 0.f ? (m_b + fast_log2(l_b)) * FMLA_LN2 : empty;
        const i64 split_row0 = ((i64)(num_splits[req] + split) * h_kv + kvh) * rows;
        if (req == part.end_req) launch_dependents();   // the combine may be scheduled
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            const int R = half ? Rb : Ra;
            if (R >= row_end) continue;
            const float inv = half ? inv_b : inv_a;
            const int qi = R / g, head = kvh * g + R % g;
            if (single) {
                // The final row: the attention sink (if any) scales it; lse stays as it is.
                const float l = half ? l_b : l_a;
                const float f = l > 0.f ? inv * sink_factor(attn_sink, head, (half ? m_b : m_a) + fast_log2(l)) : 0.f;
                T* o = out + out_row(req, qi, head, s_q, h_q) + wn * ON + 2 * (lane % 4);
#pragma unroll
                for (int t = 0; t < OT; ++t)
                    *reinterpret_cast<u32*>(o + t * 8) = pack2<T>(acc[t][2 * half] * f, acc[t][2 * half + 1] * f);
                if (wn == 0 && lane % 4 == 0) lse[lse_index(req, qi, head, s_q, h_q)] = half ? lse_b : lse_a;
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

// The extern "C" entry point NAME of the portable kernel for element type T, a tile of BLOCK_M rows,
// STAGES stages, the cache's reading KV (FMLA_KV_*) and SPARSE, and NAME_smem_bytes, the dynamic
// shared memory it needs. The host passes one DecodeParams (common/params.cuh), built once from
// the validated problem (CUDA/KernelParams.swift), and reads NAME_smem_bytes from the compiled
// module when it loads the kernel (CUDA/KernelLibrary.swift).
#define FMLA_DECODE_SM80(NAME, T, BLOCK_M, STAGES, KV, SPARSE)                                             \
    extern "C" __device__ const int NAME##_smem_bytes = sizeof(DecodeStorage<BLOCK_M, STAGES, KV, SPARSE>); \
    extern "C" __global__ void __launch_bounds__(256, 1) NAME(const __grid_constant__ DecodeParams params) {  \
        decode_sm80<T, BLOCK_M, STAGES, KV, SPARSE>(params);                                               \
    }
