// FP8 E4M3 codes to the 16-bit input types, exactly (every E4M3 value is a bf16 and an fp16).
//
// Codes arrive packed four to a 32-bit word in memory order (element 0 in the low byte); a
// pair converts to one packed 16-bit pair (element 0 in the low half), the operand layout the
// rest of the kernels use. On sm_89 and newer one `cvt.rn.f16x2.e4m3x2` does a pair (its low
// byte becomes the low half); elsewhere, or with -DFMLA_FP8_SOFT_CVT=1 (to test this path on
// newer GPUs), bit operations and one fp16 multiply do, NaN codes included.
#pragma once
#include "common/types.cuh"

#ifndef FMLA_FP8_SOFT_CVT
#define FMLA_FP8_SOFT_CVT 0
#endif

// Codes b1:b0 (the low 16 bits of `codes`) as fp16x2 (b0 in the low half).
__device__ __forceinline__ u32 e4m3x2_to_f16x2(u32 codes) {
#if __CUDA_ARCH__ >= 890 && !FMLA_FP8_SOFT_CVT
    u32 r;
    asm("{\n\t.reg .b16 c;\n\tcvt.u16.u32 c, %1;\n\tcvt.rn.f16x2.e4m3x2 %0, c;\n\t}" : "=r"(r) : "r"(codes));
    return r;
#else
    // Spread the codes to (b1 << 24) | (b0 << 8): each half holds sign, 4 exponent bits and 3
    // mantissa bits from bit 15 down. Moving exponent and mantissa one bit right puts them in
    // fp16's fields; fp16's bias is 15 and E4M3's 7, so the result is the value · 2⁻⁸ (E4M3
    // subnormals land on fp16 subnormals), and one exact multiply by 2⁸ restores it.
    u32 y;
    asm("prmt.b32 %0, %1, 0, 0x1404;" : "=r"(y) : "r"(codes));
    const u32 h = (y & 0x80008000u) | ((y >> 1) & 0x3F803F80u);
    u32 r;
    asm("mul.rn.f16x2 %0, %1, %2;" : "=r"(r) : "r"(h), "r"(0x5C005C00u));
    // The NaN codes 0x7F and 0xFF came out as ±480 (0x5F80), which no E4M3 value is: make them NaN.
    const u32 lo_nan = (r & 0x7FFFu) == 0x5F80u ? 0x7E00u : 0u;
    const u32 hi_nan = (r & 0x7FFF0000u) == 0x5F800000u ? 0x7E000000u : 0u;
    return r | lo_nan | hi_nan;
#endif
}

// The two halves of an fp16x2 as floats (exact).
__device__ __forceinline__ void f16x2_to_f32x2(u32 h, float& lo, float& hi) {
    asm("{\n\t.reg .b16 l, u;\n\tmov.b32 {l, u}, %2;\n\tcvt.f32.f16 %0, l;\n\tcvt.f32.f16 %1, u;\n\t}"
        : "=f"(lo), "=f"(hi) : "r"(h));
}

// Codes b1:b0 as a packed pair of T, exactly.
template <typename T> __device__ __forceinline__ u32 e4m3x2_to(u32 codes);
template <> __device__ __forceinline__ u32 e4m3x2_to<fp16>(u32 codes) { return e4m3x2_to_f16x2(codes); }
template <> __device__ __forceinline__ u32 e4m3x2_to<bf16>(u32 codes) {
    float lo, hi;
    f16x2_to_f32x2(e4m3x2_to_f16x2(codes), lo, hi);
    return pack2<bf16>(lo, hi);   // exact: the values have 4 significant bits
}

// Codes b1:b0 times `scale` (a float product), rounded to T: DeepSeek-V3.2's NoPE values.
template <typename T> __device__ __forceinline__ u32 e4m3x2_scaled(u32 codes, float scale) {
    float lo, hi;
    f16x2_to_f32x2(e4m3x2_to_f16x2(codes), lo, hi);
    return pack2<T>(lo * scale, hi * scale);
}

// A packed bf16 pair as a packed pair of T (a copy for bf16, rounded for fp16).
template <typename T> __device__ __forceinline__ u32 bf16x2_to(u32 pair);
template <> __device__ __forceinline__ u32 bf16x2_to<bf16>(u32 pair) { return pair; }
template <> __device__ __forceinline__ u32 bf16x2_to<fp16>(u32 pair) {
    return pack2<fp16>(__int_as_float((int)(pair << 16)), __int_as_float((int)(pair & 0xFFFF0000u)));
}

// A UE8M0 scale byte (float8_e8m0fnu, FlashMLA HEAD's MODEL1 cache) as the float 2^(byte − 127):
// 0 is 2⁻¹²⁷ (a float subnormal), 255 NaN.
__device__ __forceinline__ float ue8m0_to_float(u32 byte) {
    return byte == 0u ? __int_as_float(0x00400000) : byte == 255u ? __int_as_float(0x7FC00000) : __int_as_float((int)(byte << 23));
}
