// Internal: every conversion and dot kernel of quant/, wired into the traits table by quant.cpp.
// The *_avx2 / *_avx512 functions live in files compiled for those instruction sets and must
// only be called once cpu_has_avx2() / cpu_has_avx512() said yes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hayate::quant::detail {

bool cpu_has_avx2();    // avx2 + fma + f16c
bool cpu_has_avx512();  // avx512 f, bw, vl, dq and vnni (besides the avx2 set), unless HAYATE_MAX_ISA=avx2

// Conversions (reference). n is a multiple of the block size.
void to_float_f32(const void* src, float* dst, int64_t n);
void to_float_f16(const void* src, float* dst, int64_t n);
void to_float_bf16(const void* src, float* dst, int64_t n);
void from_float_f32(const float* src, void* dst, int64_t n);
void from_float_f16(const float* src, void* dst, int64_t n);
void from_float_bf16(const float* src, void* dst, int64_t n);

void dequantize_q8_0(const void* src, float* dst, int64_t n);
void dequantize_q4_0(const void* src, float* dst, int64_t n);
void dequantize_q2_k(const void* src, float* dst, int64_t n);
void dequantize_q3_k(const void* src, float* dst, int64_t n);
void dequantize_q4_k(const void* src, float* dst, int64_t n);
void dequantize_q5_k(const void* src, float* dst, int64_t n);
void dequantize_q6_k(const void* src, float* dst, int64_t n);
void dequantize_q8_k(const void* src, float* dst, int64_t n);

void quantize_q8_0(const float* src, void* dst, int64_t n);
void quantize_q4_0(const float* src, void* dst, int64_t n);
void quantize_q2_k(const float* src, void* dst, int64_t n);
void quantize_q3_k(const float* src, void* dst, int64_t n);
void quantize_q4_k(const float* src, void* dst, int64_t n);
void quantize_q5_k(const float* src, void* dst, int64_t n);
void quantize_q6_k(const float* src, void* dst, int64_t n);
void quantize_q8_k(const float* src, void* dst, int64_t n);

// core/fp16.h's rounding, compiled for the baseline ISA (SIMD files call this instead of the
// inline header version; see the note on linkage in blocks.h).
uint16_t half_from_float(float f);

// Fast activation quantizers; bit-identical to quantize_q8_0 / quantize_q8_k.
void quantize_q8_0_avx2(const float* src, void* dst, int64_t n);
void quantize_q8_k_avx2(const float* src, void* dst, int64_t n);

// Dot kernels, one per (weight type, isa). Signature of VecDotFn.
#define HAYATE_DECLARE_DOT(name)                                         \
  void name##_scalar(int64_t n, float* s, const void* x, const void* y); \
  void name##_avx2(int64_t n, float* s, const void* x, const void* y);   \
  void name##_avx512(int64_t n, float* s, const void* x, const void* y);

HAYATE_DECLARE_DOT(dot_f32)
HAYATE_DECLARE_DOT(dot_f16)
HAYATE_DECLARE_DOT(dot_bf16)
HAYATE_DECLARE_DOT(dot_q8_0)
HAYATE_DECLARE_DOT(dot_q4_0)
HAYATE_DECLARE_DOT(dot_q2_k)
HAYATE_DECLARE_DOT(dot_q3_k)
HAYATE_DECLARE_DOT(dot_q4_k)
HAYATE_DECLARE_DOT(dot_q5_k)
HAYATE_DECLARE_DOT(dot_q6_k)

#undef HAYATE_DECLARE_DOT

// Tiled kernels (signature of TileDotFn) for an instruction set; the scalar ones are built in
// quant.cpp. The packed formats' kernels (quant/packed.h) run over groups of rows.
#define HAYATE_DECLARE_TILE(name, isa)                                                             \
  void name##_##isa(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, \
                    size_t act_row_bytes, int64_t n_tok, float* out, int64_t out_stride);

HAYATE_DECLARE_TILE(tile_f32, avx2)
HAYATE_DECLARE_TILE(tile_f16, avx2)
HAYATE_DECLARE_TILE(tile_bf16, avx2)
HAYATE_DECLARE_TILE(tile_q8_0, avx2)
HAYATE_DECLARE_TILE(tile_q4_0, avx2)
HAYATE_DECLARE_TILE(tile_q2_k, avx2)
HAYATE_DECLARE_TILE(tile_q3_k, avx2)
HAYATE_DECLARE_TILE(tile_q4_k, avx2)
HAYATE_DECLARE_TILE(tile_q5_k, avx2)
HAYATE_DECLARE_TILE(tile_q6_k, avx2)
HAYATE_DECLARE_TILE(tile_q8_0x8, avx2)  // repacked Q8_0 (quant/repack.h)
HAYATE_DECLARE_TILE(tile_q4_kx16, avx2)
HAYATE_DECLARE_TILE(tile_q5_kx16, avx2)
HAYATE_DECLARE_TILE(tile_q6_kx16, avx2)
HAYATE_DECLARE_TILE(tile_f16x16, avx2)
HAYATE_DECLARE_TILE(tile_bf16x16, avx2)
HAYATE_DECLARE_TILE(tile_q8_0x16, avx512)
HAYATE_DECLARE_TILE(tile_q4_kx16, avx512)
HAYATE_DECLARE_TILE(tile_q5_kx16, avx512)
HAYATE_DECLARE_TILE(tile_q6_kx16, avx512)
HAYATE_DECLARE_TILE(tile_f16x16, avx512)
HAYATE_DECLARE_TILE(tile_bf16x16, avx512)

#undef HAYATE_DECLARE_TILE

}  // namespace hayate::quant::detail
