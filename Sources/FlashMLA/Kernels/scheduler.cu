// get_mla_metadata on the device: the tile schedule computed from device-resident
// cacheSeqlens, so that a decode step needs no host round trip (CUDA-graph safe).
//
// One thread walks the requests exactly as TileSchedule.init does on the host (the walk is
// inherently sequential and costs a few microseconds for thousands of requests); the
// other threads of the block first compute the total cost in parallel.
#include "common/schedule.cuh"

extern "C" __global__ void __launch_bounds__(256)
flashmla_get_metadata(const int* __restrict__ seqlens, int batch, int num_parts,
                      int* __restrict__ sched, int* __restrict__ num_splits) {
    __shared__ int partial[256];
    int local = 0;
    for (int i = threadIdx.x; i < batch; i += blockDim.x) {
        int len = max(seqlens[i], 0);
        local += (len + FMLA_PAGE - 1) / FMLA_PAGE + FMLA_FIXED_COST;
    }
    partial[threadIdx.x] = local;
    __syncthreads();
    if (threadIdx.x != 0) return;
    int total = 0;
    for (int i = 0; i < (int)blockDim.x; ++i) total += partial[i];
    const int payload = (total + num_parts - 1) / num_parts + FMLA_FIXED_COST;

    int req = 0, block = 0, split = 0, splits_so_far = 0;
    num_splits[0] = 0;
    for (int part = 0; part < num_parts; ++part) {
        int* out = sched + part * FMLA_SCHED_FIELDS;
        out[0] = req; out[1] = block * FMLA_PAGE; out[4] = split;
        out[5] = 0; out[6] = 0; out[7] = 0;
        int remaining = payload;
        while (req < batch) {
            int blocks = (max(seqlens[req], 0) + FMLA_PAGE - 1) / FMLA_PAGE;
            int left = blocks - block;
            if (remaining >= left + FMLA_FIXED_COST) {
                splits_so_far += split + 1;
                num_splits[req + 1] = splits_so_far;
                remaining -= left + FMLA_FIXED_COST;
                ++req; block = 0; split = 0;
            } else {
                if (remaining - FMLA_FIXED_COST > 0) {
                    block += remaining - FMLA_FIXED_COST;
                    ++split;
                }
                break;
            }
        }
        out[2] = block > 0 ? req : req - 1;
        out[3] = block > 0 ? block * FMLA_PAGE : (req > 0 ? max(seqlens[req - 1], 0) : 0);
    }
}
