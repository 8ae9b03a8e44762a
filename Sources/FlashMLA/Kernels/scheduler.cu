// get_mla_metadata on the device: the tile schedule computed from device-resident
// cacheSeqlens, so that a decode step needs no host round trip (CUDA-graph safe).
//
// One thread walks the requests exactly as TileSchedule.init does on the host (the walk is
// inherently sequential and costs a few microseconds for thousands of requests); the
// other threads of the block first compute the total and the largest cost in parallel.
// The host passes the policy's numbers (SchedulePolicy: fixedCostBlocks, wholeRequestSlackBlocks
// and wholeRequestSlackDivisor, standard or measured per card), so the rule lives in one place.
//
// Sparse decode schedules index positions instead of tokens: `seqlens` is then topk_length (or
// nullptr: every request has `cap` = topk indices) and each length is clamped to 0 … cap. Dense
// calls pass cap = INT_MAX.
#include "common/params.cuh"
#include "common/schedule.cuh"

// Request i's length: seqlens[i] clamped to 0 … cap, or cap without seqlens. With an extra cache
// (extra_cap > 0): the main length padded to whole 64-entry blocks (at least one), plus the extra
// list's length (extra_seqlens[i] clamped to 0 … extra_cap, or extra_cap), as
// SparseIndices.scheduledLength computes it on the host.
__device__ __forceinline__ int request_length(const SchedulerParams& p, int i) {
    const int main = p.seqlens ? min(max(p.seqlens[i], 0), p.cap) : p.cap;
    if (p.extra_cap <= 0) return main;
    const int extra = p.extra_seqlens ? min(max(p.extra_seqlens[i], 0), p.extra_cap) : p.extra_cap;
    return (max(main, 1) + FMLA_PAGE - 1) / FMLA_PAGE * FMLA_PAGE + extra;
}

__device__ __forceinline__ int request_cost(const SchedulerParams& p, int i) {
    return (request_length(p, i) + FMLA_PAGE - 1) / FMLA_PAGE + p.fixed;
}

// Whether the requests, in order and whole, fit `parts` workers of `capacity` blocks each.
__device__ bool fits_whole(const SchedulerParams& p, int batch, int parts, int capacity) {
    int workers = 1, load = 0;
    for (int i = 0; i < batch; ++i) {
        const int cost = request_cost(p, i);
        if (cost > capacity) return false;
        if (load + cost > capacity) { ++workers; load = cost; } else { load += cost; }
    }
    return workers <= parts;
}

extern "C" __global__ void __launch_bounds__(256) flashmla_get_metadata(const __grid_constant__ SchedulerParams params) {
    int* __restrict__ const sched = params.sched;
    int* __restrict__ const num_splits = params.num_splits;
    const int batch = params.batch, num_parts = params.num_parts, fixed = params.fixed;
    const int slack = params.slack, slack_divisor = params.slack_divisor;
    __shared__ int partial[256], largest[256];
    int local = 0, local_max = 0;
    for (int i = threadIdx.x; i < batch; i += blockDim.x) {
        const int cost = request_cost(params, i);
        local += cost;
        local_max = max(local_max, cost);
    }
    partial[threadIdx.x] = local;
    largest[threadIdx.x] = local_max;
    __syncthreads();
    if (threadIdx.x != 0) return;
    int total = 0, max_cost = 0;
    for (int i = 0; i < (int)blockDim.x; ++i) {
        total += partial[i];
        max_cost = max(max_cost, largest[i]);
    }
    const int even = (total + num_parts - 1) / num_parts;
    int payload = even + fixed;
    bool splits = true;
    // Whole requests when the smallest capacity that fits them is within the slack of the payload.
    const int limit = payload + min(slack, payload / slack_divisor);
    if (batch > 0 && max_cost <= limit && fits_whole(params, batch, num_parts, limit)) {
        int low = max(max_cost, even), high = limit;
        while (low < high) {
            const int middle = (low + high) / 2;
            if (fits_whole(params, batch, num_parts, middle)) high = middle; else low = middle + 1;
        }
        payload = high;
        splits = false;
    }

    int req = 0, block = 0, split = 0, splits_so_far = 0;
    num_splits[0] = 0;
    for (int part = 0; part < num_parts; ++part) {
        int* out = sched + part * FMLA_SCHED_FIELDS;
        out[0] = req; out[1] = block * FMLA_PAGE; out[4] = split;
        out[5] = 0; out[6] = 0; out[7] = 0;
        int remaining = payload;
        while (req < batch) {
            const int left = request_cost(params, req) - fixed - block;
            if (remaining >= left + fixed) {
                splits_so_far += split + 1;
                num_splits[req + 1] = splits_so_far;
                remaining -= left + fixed;
                ++req; block = 0; split = 0;
            } else {
                if (splits && remaining - fixed > 0) {
                    block += remaining - fixed;
                    ++split;
                }
                break;
            }
        }
        out[2] = block > 0 ? req : req - 1;
        out[3] = block > 0 ? block * FMLA_PAGE : (req > 0 ? request_length(params, req - 1) : 0);
    }
}
