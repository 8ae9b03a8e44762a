#!/usr/bin/env python3
"""The card's two ceilings, measured in the same device call as the timings they bound.

copy: a device-to-device copy of 4 GiB (2 GiB read + 2 GiB written), GB/s = bytes moved / time;
gemm: a bf16 8192 x 8192 x 8192 matmul with fp32 accumulation, TFLOPS.
Both timed with CUDA events over repeated calls after a warm-up; prints one JSON line.
"""
import json, torch


def timed(fn, iterations):
    for _ in range(3):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(iterations):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iterations / 1e3


def main():
    n = 1 << 30                                   # bf16 elements: 2 GiB each way
    src = torch.randn(n, dtype=torch.bfloat16, device="cuda")
    dst = torch.empty_like(src)
    copy_s = timed(lambda: dst.copy_(src), 20)
    assert torch.equal(dst[:1 << 20], src[:1 << 20])
    del src, dst
    m = 8192
    a = torch.randn(m, m, dtype=torch.bfloat16, device="cuda")
    b = torch.randn(m, m, dtype=torch.bfloat16, device="cuda")
    gemm_s = timed(lambda: a @ b, 30)
    print(json.dumps({"device": torch.cuda.get_device_name(), "copy_gbps": round(2 * n * 2 / copy_s / 1e9, 1),
                      "gemm_tflops": round(2 * m ** 3 / gemm_s / 1e12, 1)}))


if __name__ == "__main__":
    main()
