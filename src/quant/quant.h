// Weight formats: conversion to and from float and dot products, one traits entry per type.
// The packed block layouts are in blocks.h and are bit-identical to GGUF's.
//
// A matrix-vector product over a quantized row works like ggml's: the activation row is first
// converted to the type's `vec_dot_type` (e.g. Q8_0 for Q4_0/Q8_0 weights, Q8_K for k-quants,
// F32 for float weights), then `vec_dot` combines one weight row with one converted row.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/ggml_types.h"

namespace hayate::quant {

using ToFloatFn = void (*)(const void* src, float* dst, int64_t n);
using FromFloatFn = void (*)(const float* src, void* dst, int64_t n);
// s = dot(x[0..n), y[0..n)); x is a weight row in the weight's type, y a row in vec_dot_type.
using VecDotFn = void (*)(int64_t n, float* s, const void* x, const void* y);

struct DotKernel {
  const char* isa;  // "scalar", "avx2", "avx512"
  VecDotFn fn;
};

// Many dots at once: out[t * out_stride + r] = dot(weight row r, activation row t) for
// r < n_rows, t < n_tok, rows `w_row_bytes` / `act_row_bytes` apart. A tile of weight rows is
// decoded once and reused for a few tokens held in registers, so a batch of tokens costs far
// less than that many matrix-vector products. Every (row, token) pair is computed with the
// same arithmetic whatever the tile it falls in, so a token's result never depends on the
// other tokens of its batch (the serving engine relies on that).
using TileDotFn = void (*)(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                           size_t act_row_bytes, int64_t n_tok, float* out, int64_t out_stride);

struct TileKernel {
  const char* isa;  // "scalar" (one vec_dot per pair) or "avx2"
  TileDotFn fn;
};

struct TypeTraits {
  GgmlType type;
  ToFloatFn to_float = nullptr;      // exact dequantization (reference)
  FromFloatFn from_float = nullptr;  // reference quantization (the one files are written with)
  GgmlType vec_dot_type = GgmlType::F32;
  FromFloatFn from_float_vec_dot = nullptr;  // fast conversion of activations to vec_dot_type
  VecDotFn vec_dot = nullptr;                // the fastest kernel this CPU supports
  TileDotFn tile_dot = nullptr;              // the fastest tiled kernel this CPU supports
};

// nullptr if the type has no kernels in this build (e.g. Q4_1, I32).
const TypeTraits* traits(GgmlType type);
// True for the weight types a model may use: those of the traits table with dot kernels.
bool is_supported_weight_type(GgmlType type);
// Those types' names in the table's order, for messages: "f32 f16 bf16 q8_0 ...".
std::string weight_type_names();

// Every dot kernel for `type` this CPU can run, scalar first (for tests and benchmarks).
std::vector<DotKernel> dot_kernels(GgmlType type);

// Every tiled kernel for `type` this CPU can run, scalar first.
std::vector<TileKernel> tile_kernels(GgmlType type);

// Makes traits() hand out only the scalar kernels (set HAYATE_FORCE_SCALAR=1 in the
// environment for the same effect); call before the first traits(). For tests and comparisons.
void force_scalar_kernels();
bool scalar_kernels_forced();

// The instruction sets detected at run time, e.g. "avx2 fma f16c avx512f avx512vnni avx512bf16".
std::string cpu_features();

// Whole-row helpers (n must be a multiple of the block size).
void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n);
void quantize_row(GgmlType type, const float* src, void* dst, int64_t n);

// Quantizes rows x cols of floats into `dst` (rows * ggml_row_size(type, cols) bytes); returns bytes written.
size_t quantize_matrix(GgmlType type, const float* src, void* dst, int64_t rows, int64_t cols);

}  // namespace hayate::quant
