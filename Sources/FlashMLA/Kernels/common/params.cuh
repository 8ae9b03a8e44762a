// The kernels' parameter structs: what the Swift host passes to each launch, as one value.
//
// Every decode kernel (sm80/decode*.cu, sm90/decode_*.cu) takes one DecodeParams, the combine
// one CombineParams, the scheduler one SchedulerParams, each by value as a
// `const __grid_constant__` parameter: the struct stays in the kernel's parameter constant bank,
// read where it is used, exactly as separate parameters were. The Hopper kernels take the cache's
// tensor map as a parameter of its own before it (sm90/tile.cuh says why).
//
// The host builds the same bytes (Sources/FlashMLA/CUDA/KernelParams.swift): one field there for
// each field here, in the same order, under the same name in camelCase. C layout rules apply on
// both sides: a field at the next multiple of its size (8: pointers and i64, 4: int and float),
// the struct padded to a multiple of 8. Tests parse the field lists below and hold the two equal
// (KernelParamsTests). Pointers are device addresses; `void` where the type is the element type T
// of the entry point, which casts them.
#pragma once
#include "common/types.cuh"

#define FMLA_D 576                     // a query's and a cached token's values (the first 512 are also V)
#define FMLA_DV 512                    // an output row's values

// One decode launch. Fields marked "portable" are read by the sm80 kernels only; the Hopper
// kernels read the cache through their tensor map instead. SPARSE (sm80/decode_sparse.cu)
// renames some fields, as noted.
struct DecodeParams {
    const void* q;                 // T [b][s_q][h_q][576], strides below (elements)
    const void* kcache;            // portable: the cache, strides below
    const int* block_table;        // int32 [b][max_pages] (SPARSE: indices int32 [b][s_q][topk])
    const int* seqlens;            // int32 [b] (SPARSE: topk_length [b], or nullptr: every request topk long)
    const int* sched;              // the schedule, FMLA_SCHED_FIELDS int32 a worker (common/schedule.cuh)
    const int* num_splits;         // int32 [b + 1]: request r's splits are num_splits[r] ..< num_splits[r + 1]
    void* out;                     // T [b][s_q][h_q][512]
    float* lse;                    // [b][h_q][s_q]
    float* oaccum;                 // split partials, combine.cu's layout
    float* lseaccum;
    int* error_flag;               // FMLA_ERR_* bits (common/schedule.cuh)
    const float* attn_sink;        // float32 [h_q], or nullptr: none (types.cuh, sink_factor)
    const void* extra_kcache;      // SPARSE MODEL1 only: the extra cache (nullptr: none), page-grouped like kcache
    const int* extra_indices;      // SPARSE MODEL1 only: int32 [b][s_q][extra_topk], innermost stride 1
    const int* extra_seqlens;      // SPARSE MODEL1 only: extra_topk_length [b], or nullptr: every list extra_topk long
    i64 q_batch_stride, q_seq_stride, q_head_stride;
    i64 k_page_stride;             // portable: the cache's strides, in elements for 64-token pages
    i64 k_token_stride;            //   in q's type (sm80/decode.cu), else in bytes
    i64 k_head_stride;
    i64 bt_stride;                 // block_table's batch stride (SPARSE: indices' batch stride)
    i64 ind_seq_stride;            // SPARSE only: indices' token stride
    i64 extra_page_stride;         // SPARSE MODEL1 only: the extra cache's page stride, in bytes
    i64 extra_ind_batch_stride;    // SPARSE MODEL1 only: extra_indices' batch stride
    i64 extra_ind_seq_stride;      //   and token stride
    int s_q, h_q, h_kv;
    int num_pages;                 // the cache's pages (SPARSE: its slots, pages · page_size, at most 2³¹ − 1)
    int max_pages;                 // block_table's width (SPARSE: topk)
    float scale_log2;              // softmax scale · log2 e (· the per-tensor FP8 scale)
    int causal;                    // 1: FlashMLA's causal mask (SPARSE: 0)
    int page_size;                 // portable: the cache's tokens a page (sm80/decode.cu reads 64 pages only)
    float out_scale;               // portable, FMLA_KV_FP8 only: the per-tensor scale of V (else 1)
    int extra_topk;                // SPARSE MODEL1 only: extra_indices' width
    int extra_num_slots;           // SPARSE MODEL1 only: the extra cache's slots, pages · extra_page_size (≤ 2³¹ − 1)
    int extra_page_size;           // SPARSE MODEL1 only: the extra cache's tokens a page
};

// Where a final output row goes: query (qi, head) of request req starts at element out_row(…) of
// out, T [b][s_q][h_q][512], and its log-sum-exp is lse[lse_index(…)], float [b][h_q][s_q]
// (FlashMLA's layouts). Every kernel that writes a final row (the decode kernels for a request in
// one split, the combine for the others) addresses it through these two.
__device__ __forceinline__ i64 out_row(int req, int qi, int head, int s_q, int h_q) {
    return (((i64)req * s_q + qi) * h_q + head) * FMLA_DV;
}
__device__ __forceinline__ i64 lse_index(int req, int qi, int head, int s_q, int h_q) {
    return ((i64)req * h_q + head) * s_q + qi;
}

// One combine launch (combine.cu).
struct CombineParams {
    const float* lseaccum;         // not read-only: written while the combine is resident (combine.cu)
    const float* oaccum;
    const int* num_splits;
    void* out;                     // T
    float* lse;
    const float* attn_sink;
    int h_q, s_q, h_kv;
};

// One scheduler launch (scheduler.cu): the lengths (nullptr: every request `cap` long), the policy's
// numbers, the outputs; with an extra cache (extra_cap > 0, sparse MODEL1) the extra lists' lengths
// (nullptr: every one `extra_cap` long), scheduled after the main list padded to 64-entry blocks.
struct SchedulerParams {
    const int* seqlens;
    int* sched;
    int* num_splits;
    const int* extra_seqlens;
    int batch, num_parts, fixed, slack, slack_divisor, cap;
    int extra_cap;
};
