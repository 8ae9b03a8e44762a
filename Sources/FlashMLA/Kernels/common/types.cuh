// Self-contained scalar types and conversions for the FlashMLA kernels.
//
// No CUDA toolkit header is included anywhere: NVRTC compiles these sources on a user's
// machine with no include path. The 16-bit float types are plain 16-bit storage; every
// conversion goes through a PTX `cvt`, rounding to nearest even as the host's BFloat16 does.
#pragma once

typedef unsigned char      u8;
typedef unsigned short     u16;
typedef unsigned int       u32;
typedef unsigned long long u64;
typedef long long          i64;

// Storage of one bf16 / fp16 value. Distinct types so that a template can tell them apart.
struct bf16 { u16 bits; };
struct fp16 { u16 bits; };

// Two floats rounded and packed into one 32-bit register, `lo` in the low half: the
// operand layout of mma.sync and the order of two neighbouring elements in memory.
template <typename T> __device__ __forceinline__ u32 pack2(float lo, float hi);
template <> __device__ __forceinline__ u32 pack2<bf16>(float lo, float hi) {
    u32 r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
template <> __device__ __forceinline__ u32 pack2<fp16>(float lo, float hi) {
    u32 r;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

// Programmatic dependent launch (sm_90 and newer; without it, or when the launch did not ask for
// it, both are no-ops). A kernel launched with programmatic stream serialization may start
// before the kernel ahead of it on the stream has finished: `grid_dependency_wait` blocks until
// that kernel has completed and its memory is visible, so nothing it writes is read (or
// overwritten) before. `launch_dependents` tells the driver that the kernel behind this one may
// start once every block of this grid has said so or exited; that kernel still waits for this
// one to complete before it touches what this one writes.
__device__ __forceinline__ void grid_dependency_wait() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void launch_dependents() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// Which element types a translation unit defines entry points for. A decode call compiles only
// what it launches: the host passes -DFMLA_ONLY_BF16 or -DFMLA_ONLY_FP16 (halving the compile of a
// unit); `flashmla compile` passes neither and gets both. FMLA_IF_<type>(declaration) expands to
// the declaration when that type is wanted, to nothing otherwise.
#if defined(FMLA_ONLY_BF16) && defined(FMLA_ONLY_FP16)
#error "FMLA_ONLY_BF16 and FMLA_ONLY_FP16 exclude each other"
#endif
#ifndef FMLA_ONLY_FP16
#define FMLA_IF_bf16(...) __VA_ARGS__
#else
#define FMLA_IF_bf16(...)
#endif
#ifndef FMLA_ONLY_BF16
#define FMLA_IF_fp16(...) __VA_ARGS__
#else
#define FMLA_IF_fp16(...)
#endif

// offsetof, which needs <cstddef>: NVRTC compiles these sources with no headers, and its front
// end spells the constant expression this way.
#define FMLA_OFFSETOF(STRUCT, FIELD) __INTADDR__(&(((STRUCT*)0)->FIELD))
