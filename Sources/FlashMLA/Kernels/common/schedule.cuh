// The split-KV schedule as the kernels read it. Sources/FlashMLA/Scheduler/TileSchedule.swift
// documents the scheme; scheduler.cu computes it on the device, and both must agree.
#pragma once
#include "common/types.cuh"

#define FMLA_PAGE 64              // tokens per KV-cache page and per schedule block
#define FMLA_FIXED_COST 5         // a request's fixed cost, in blocks
#define FMLA_SCHED_FIELDS 8       // int32 values per worker in the metadata

// One worker's range: from (begin_req, begin_token) to (end_req, end_token), the first
// piece being split `begin_split` of its request.
struct SchedPart {
    int begin_req, begin_token, end_req, end_token, begin_split;
};

__device__ __forceinline__ SchedPart load_part(const int* sched, int part) {
    const int* p = sched + part * FMLA_SCHED_FIELDS;
    SchedPart s;
    s.begin_req = p[0]; s.begin_token = p[1]; s.end_req = p[2]; s.end_token = p[3]; s.begin_split = p[4];
    return s;
}
