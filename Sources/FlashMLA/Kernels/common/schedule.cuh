// The split-KV schedule as the kernels read it. Sources/FlashMLA/Scheduler/TileSchedule.swift
// documents the scheme; scheduler.cu computes it on the device, and both must agree.
#pragma once
#include "common/types.cuh"

#define FMLA_PAGE 64              // tokens per KV-cache page and per schedule block
#define FMLA_SCHED_FIELDS 8       // int32 values per worker in the metadata

// One worker's range: from (begin_req, begin_token) to (end_req, end_token), the first
// piece being split `begin_split` of its request.
struct SchedPart {
    int begin_req, begin_token, end_req, end_token, begin_split;
};

// Field i of worker `part`'s schedule, loaded where it is called (volatile): a kernel short of
// registers re-reads its schedule at each piece boundary (an L1 hit) instead of holding it.
__device__ __forceinline__ int sched_field(const int* sched, int part, int i) {
    int v;
    asm volatile("ld.global.nc.b32 %0, [%1];\n" : "=r"(v) : "l"(sched + part * FMLA_SCHED_FIELDS + i));
    return v;
}

__device__ __forceinline__ SchedPart load_part(const int* sched, int part) {
    SchedPart s;
    s.begin_req = sched_field(sched, part, 0); s.begin_token = sched_field(sched, part, 1);
    s.end_req = sched_field(sched, part, 2); s.end_token = sched_field(sched, part, 3);
    s.begin_split = sched_field(sched, part, 4);
    return s;
}

#define FMLA_ERR_SEQLEN 1         // a cacheSeqlens entry outside 0...maxPages·pageSize (sparse: topkLength outside 0...topk)
#define FMLA_ERR_BLOCK_ID 2       // a block-table entry outside 0..<numPages
#define FMLA_ERR_INDEX 4          // a sparse index outside −1 ..< numPages·pageSize

// What a block computes of request `req` of its part.
struct Piece {
    int seqlen;                   // the request's length, clamped into 0 … max_pages·page_size
    int start, end;               // the piece's keys: start ≤ key < end
    int split;                    // which split of the request this piece is
    bool single;                  // the request has one split: the block writes the final output
    int first_page, n_pages;      // the pages to stream; keys no row of the tile sees are skipped
};

// piece_with_length: the piece of a request whose length `seqlen` (already clamped) the caller
// computed (the sparse MODEL1 kernel: its main and extra lists, SparseIndices.scheduledLength).
// piece_of reads it from `seqlens`.
// `last_qi` is the query index of the tile's last row: with the causal mask no row sees a key
// past seqlen − s_q + last_qi, so the pages after it are not read. An out-of-range length
// raises FMLA_ERR_SEQLEN in `error_flag` and is clamped. `page_size` is the cache's tokens a
// page (a block-table row holds max_pages · page_size tokens); `first_page` and `n_pages` count
// 64-token blocks of the sequence whatever it is.
__device__ __forceinline__ Piece piece_with_length(const SchedPart& part, int req, int seqlen, const int* num_splits,
                                                   int s_q, int causal, int last_qi) {
    Piece piece;
    const bool first = req == part.begin_req;
    piece.seqlen = seqlen;
    piece.start = first ? part.begin_token : 0;
    piece.end = min(req == part.end_req ? part.end_token : seqlen, seqlen);
    piece.split = first ? part.begin_split : 0;
    piece.single = num_splits[req + 1] - num_splits[req] == 1;
    const int key_end = causal ? min(piece.end, seqlen - s_q + last_qi + 1) : piece.end;
    piece.first_page = piece.start / FMLA_PAGE;
    piece.n_pages = key_end > piece.start ? (key_end + FMLA_PAGE - 1) / FMLA_PAGE - piece.first_page : 0;
    return piece;
}

__device__ __forceinline__ Piece piece_of(const SchedPart& part, int req, const int* seqlens, const int* num_splits,
                                          int max_pages, int s_q, int causal, int last_qi, int* error_flag,
                                          int page_size = FMLA_PAGE) {
    // Sparse decode: seqlens is topk_length (nullptr: every request has max_pages = topk indices).
    const int max_tokens = max_pages * page_size;
    int seqlen = seqlens ? seqlens[req] : max_tokens;
    if (seqlen < 0 || seqlen > max_tokens) {
        if (threadIdx.x == 0) atomicOr(error_flag, FMLA_ERR_SEQLEN);   // sparse: a topk_length entry
        seqlen = min(max(seqlen, 0), max_tokens);
    }
    return piece_with_length(part, req, seqlen, num_splits, s_q, causal, last_qi);
}

// Keys below this bound are visible to query token `qi` (causal: up to seqlen − s_q + qi).
__device__ __forceinline__ int visible_end(const Piece& piece, int s_q, int causal, int qi) {
    return min(piece.end, causal ? piece.seqlen - s_q + qi + 1 : piece.end);
}
