// Dequantization on the device (and on the host, for tests), one 32-element chunk at a time, with the semantics of the
// CPU reference (src/quant/ref_*.cpp; layouts in src/quant/blocks.h). A 32-weight block (Q8_0, Q4_0) is one chunk; a
// 256-weight k-quant super-block is 8 chunks.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>

#include "core/ggml_types.h"
#include "quant/blocks.h"

// Host and device: the CPU test backend_cuda_dequant_test checks these against the reference.
#define HAYATE_HD __host__ __device__ __forceinline__

namespace hayate::cuda {

// GGUF type numbers as template arguments.
enum : uint32_t {
  kF32 = static_cast<uint32_t>(GgmlType::F32),
  kF16 = static_cast<uint32_t>(GgmlType::F16),
  kQ4_0 = static_cast<uint32_t>(GgmlType::Q4_0),
  kQ8_0 = static_cast<uint32_t>(GgmlType::Q8_0),
  kQ2_K = static_cast<uint32_t>(GgmlType::Q2_K),
  kQ3_K = static_cast<uint32_t>(GgmlType::Q3_K),
  kQ4_K = static_cast<uint32_t>(GgmlType::Q4_K),
  kQ5_K = static_cast<uint32_t>(GgmlType::Q5_K),
  kQ6_K = static_cast<uint32_t>(GgmlType::Q6_K),
  kBF16 = static_cast<uint32_t>(GgmlType::BF16),
};

// The types the kernels read, listed once: type_supported() and every per-type dispatch
// (matvec, dequantize_rows_f16, get_rows) are generated from it with X(type).
#define HAYATE_CUDA_QUANT_TYPES(X) X(kQ8_0) X(kQ4_0) X(kQ2_K) X(kQ3_K) X(kQ4_K) X(kQ5_K) X(kQ6_K)
#define HAYATE_CUDA_TYPES(X) X(kF32) X(kF16) X(kBF16) HAYATE_CUDA_QUANT_TYPES(X)

HAYATE_HD float half_bits(uint16_t h) { return __half2float(__ushort_as_half(h)); }
HAYATE_HD float bf16_bits(uint16_t h) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(static_cast<uint32_t>(h) << 16);
#else
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

// a * b rounded on its own: the device compiler would otherwise fuse `a * b - c` into one FMA
// and differ from the CPU reference in the last bit.
HAYATE_HD float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

template <uint32_t T>
struct QuantTraits;
template <>
struct QuantTraits<kQ8_0> {
  using Block = quant::BlockQ8_0;
  static constexpr int kChunks = 1;
};
template <>
struct QuantTraits<kQ4_0> {
  using Block = quant::BlockQ4_0;
  static constexpr int kChunks = 1;
};
template <>
struct QuantTraits<kQ2_K> {
  using Block = quant::BlockQ2_K;
  static constexpr int kChunks = 8;
};
template <>
struct QuantTraits<kQ3_K> {
  using Block = quant::BlockQ3_K;
  static constexpr int kChunks = 8;
};
template <>
struct QuantTraits<kQ4_K> {
  using Block = quant::BlockQ4_K;
  static constexpr int kChunks = 8;
};
template <>
struct QuantTraits<kQ5_K> {
  using Block = quant::BlockQ5_K;
  static constexpr int kChunks = 8;
};
template <>
struct QuantTraits<kQ6_K> {
  using Block = quant::BlockQ6_K;
  static constexpr int kChunks = 8;
};

// Q4_K / Q5_K scale and min of sub-block j (blocks.h: k4_scale_min).
HAYATE_HD void k4_scale_min_dev(const uint8_t* s, int j, int* scale, int* min) {
  if (j < 4) {
    *scale = s[j] & 63;
    *min = s[j + 4] & 63;
  } else {
    *scale = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
    *min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Q3_K signed scale i (blocks.h: q3k_scale).
HAYATE_HD int q3k_scale_dev(const uint8_t* s, int i) {
  const int low = i < 8 ? (s[i] & 0x0F) : (s[i - 8] >> 4);
  const int high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
  return (low | (high << 4)) - 32;
}

// 32 bytes from p, with the widest loads its alignment allows (16-byte for Q4_K/Q5_K rows,
// 4-byte for Q2_K, single bytes else), into registers (every index below is a constant).
HAYATE_HD void load32(const uint8_t* p, uint8_t out[32]) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if (a % 16 == 0) {
    const uint4 v0 = reinterpret_cast<const uint4*>(p)[0], v1 = reinterpret_cast<const uint4*>(p)[1];
    const uint32_t w[8] = {v0.x, v0.y, v0.z, v0.w, v1.x, v1.y, v1.z, v1.w};
#pragma unroll
    for (int i = 0; i < 32; ++i) out[i] = static_cast<uint8_t>(w[i / 4] >> (8 * (i % 4)));
  } else if (a % 4 == 0) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint32_t w = reinterpret_cast<const uint32_t*>(p)[i];
#pragma unroll
      for (int k = 0; k < 4; ++k) out[4 * i + k] = static_cast<uint8_t>(w >> (8 * k));
    }
  } else {
#pragma unroll
    for (int i = 0; i < 32; ++i) out[i] = p[i];
  }
}

// Elements [32c, 32c + 32) of block b into v[0..32).
template <uint32_t T>
HAYATE_HD void dequant_chunk(const typename QuantTraits<T>::Block& b, int c, float v[32]);

template <>
HAYATE_HD void dequant_chunk<kQ8_0>(const quant::BlockQ8_0& b, int, float v[32]) {
  const float d = half_bits(b.d);
#pragma unroll
  for (int e = 0; e < 32; ++e) v[e] = d * static_cast<float>(b.qs[e]);
}

template <>
HAYATE_HD void dequant_chunk<kQ4_0>(const quant::BlockQ4_0& b, int, float v[32]) {
  const float d = half_bits(b.d);
#pragma unroll
  for (int e = 0; e < 16; ++e) {
    v[e] = d * static_cast<float>((b.qs[e] & 0x0F) - 8);
    v[e + 16] = d * static_cast<float>((b.qs[e] >> 4) - 8);
  }
}

// Q2_K / Q3_K chunk c: h = c / 4, j = c % 4; element l's 2-bit code is bits 2j.. of qs[32h + l].
template <>
HAYATE_HD void dequant_chunk<kQ2_K>(const quant::BlockQ2_K& b, int c, float v[32]) {
  const float d = half_bits(b.d), dmin = half_bits(b.dmin);
  const int h = c / 4, j = c % 4;
  uint8_t qs[32];
  load32(b.qs + 32 * h, qs);
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const uint8_t sm = b.scales[2 * c + half];
    const float scale = d * static_cast<float>(sm & 0x0F), min = mul_rn(dmin, static_cast<float>(sm >> 4));
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const int l = 16 * half + i;
      v[l] = mul_rn(scale, static_cast<float>((qs[l] >> (2 * j)) & 3)) - min;
    }
  }
}

template <>
HAYATE_HD void dequant_chunk<kQ3_K>(const quant::BlockQ3_K& b, int c, float v[32]) {
  const float d = half_bits(b.d);
  const int h = c / 4, j = c % 4;
  uint8_t qs[32], hmask[32];
  load32(b.qs + 32 * h, qs);
  load32(b.hmask, hmask);
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const float scale = d * static_cast<float>(q3k_scale_dev(b.scales, 2 * c + half));
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const int l = 16 * half + i;
      const int low = (qs[l] >> (2 * j)) & 3;
      const int high = (hmask[l] >> (4 * h + j)) & 1;
      v[l] = scale * static_cast<float>(low + 4 * high - 4);
    }
  }
}

template <>
HAYATE_HD void dequant_chunk<kQ4_K>(const quant::BlockQ4_K& b, int c, float v[32]) {
  int sc, m;
  k4_scale_min_dev(b.scales, c, &sc, &m);
  const float scale = half_bits(b.d) * static_cast<float>(sc), min = mul_rn(half_bits(b.dmin), static_cast<float>(m));
  uint8_t qs[32];
  load32(b.qs + 32 * (c / 2), qs);
  const int shift = 4 * (c % 2);
#pragma unroll
  for (int l = 0; l < 32; ++l) v[l] = mul_rn(scale, static_cast<float>((qs[l] >> shift) & 0x0F)) - min;
}

template <>
HAYATE_HD void dequant_chunk<kQ5_K>(const quant::BlockQ5_K& b, int c, float v[32]) {
  int sc, m;
  k4_scale_min_dev(b.scales, c, &sc, &m);
  const float scale = half_bits(b.d) * static_cast<float>(sc), min = mul_rn(half_bits(b.dmin), static_cast<float>(m));
  uint8_t qs[32], qh[32];
  load32(b.qs + 32 * (c / 2), qs);
  load32(b.qh, qh);
  const int shift = 4 * (c % 2);
#pragma unroll
  for (int l = 0; l < 32; ++l) {
    const int q = ((qs[l] >> shift) & 0x0F) | (((qh[l] >> c) & 1) << 4);
    v[l] = mul_rn(scale, static_cast<float>(q)) - min;
  }
}

// Q6_K chunk c: h = c / 4, g = c % 4 (blocks.h: q6k_get).
template <>
HAYATE_HD void dequant_chunk<kQ6_K>(const quant::BlockQ6_K& b, int c, float v[32]) {
  const float d = half_bits(b.d);
  const int h = c / 4, g = c % 4;
  uint8_t ql[32], qh[32];
  load32(b.ql + 64 * h + 32 * (g & 1), ql);
  load32(b.qh + 32 * h, qh);
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const float scale = d * static_cast<float>(b.scales[2 * c + half]);
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const int l = 16 * half + i;
      const int low = g < 2 ? (ql[l] & 0x0F) : (ql[l] >> 4);
      const int high = (qh[l] >> (2 * g)) & 3;
      v[l] = scale * static_cast<float>((low | (high << 4)) - 32);
    }
  }
}

// Chunk k (counted from the row start) of a quantized row.
template <uint32_t T>
HAYATE_HD void dequant_row_chunk(const uint8_t* row, int64_t k, float v[32]) {
  using Tr = QuantTraits<T>;
  const auto* blocks = reinterpret_cast<const typename Tr::Block*>(row);
  dequant_chunk<T>(blocks[k / Tr::kChunks], static_cast<int>(k % Tr::kChunks), v);
}

// One element of a float row.
template <uint32_t T>
HAYATE_HD float float_elem(const uint8_t* row, int64_t i) {
  if constexpr (T == kF32) return reinterpret_cast<const float*>(row)[i];
  if constexpr (T == kF16) return half_bits(reinterpret_cast<const uint16_t*>(row)[i]);
  return bf16_bits(reinterpret_cast<const uint16_t*>(row)[i]);
}

}  // namespace hayate::cuda
