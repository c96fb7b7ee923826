// Reference Q8_0, Q4_0 and Q8_K: conversions and the scalar dot products.
//
// Q8_0 and Q8_K are also the activation formats, so their quantizers are deliberately simple
// (largest |x| onto ±127, round to nearest even) so that the SIMD versions can reproduce them
// bit for bit. Q4_0 is a weight format and searches for its scale (see fit.h).
#include <algorithm>
#include <cmath>

#include "core/fp16.h"
#include "quant/blocks.h"
#include "quant/fit.h"
#include "quant/kernels.h"

namespace hayate::quant::detail {
namespace {

float abs_max(const float* x, int n) {
  float amax = 0;
  for (int i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  return amax;
}

// q = nearest(x * 127 / amax); returns the scale amax / 127.
float quantize_int8_group(const float* x, int n, int8_t* q) {
  const float amax = abs_max(x, n);
  const float inv = amax > 0 ? 127.0f / amax : 0.0f;
  for (int i = 0; i < n; ++i) q[i] = static_cast<int8_t>(round_clamp(x[i] * inv, -127, 127));
  return amax / 127.0f;
}

}  // namespace

uint16_t half_from_float(float f) { return f32_to_fp16(f); }

void quantize_q8_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kBlock32; ++i)
    b[i].d = f32_to_fp16(quantize_int8_group(src + i * kBlock32, kBlock32, b[i].qs));
}

void dequantize_q8_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kBlock32; ++i) {
    const float d = fp16_to_f32(b[i].d);
    for (int e = 0; e < kBlock32; ++e) dst[i * kBlock32 + e] = d * static_cast<float>(b[i].qs[e]);
  }
}

void quantize_q8_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    b[i].d = quantize_int8_group(src + i * kSuperBlock, kSuperBlock, b[i].qs);
    for (int k = 0; k < 16; ++k) {
      int sum = 0;
      for (int e = 0; e < 16; ++e) sum += b[i].qs[16 * k + e];
      b[i].bsums[k] = static_cast<int16_t>(sum);
    }
  }
}

void dequantize_q8_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_K*>(src);
  for (int64_t i = 0; i < n / kSuperBlock; ++i)
    for (int e = 0; e < kSuperBlock; ++e) dst[i * kSuperBlock + e] = b[i].d * static_cast<float>(b[i].qs[e]);
}

void quantize_q4_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / kBlock32; ++i) {
    const float* x = src + i * kBlock32;
    float w[kBlock32];
    int8_t q[kBlock32];
    for (float& wi : w) wi = 1.0f;
    b[i].d = f32_to_fp16(fit_symmetric(x, w, kBlock32, -8, 7, q));
    // Re-round against the scale as stored, which is what dequantization will use.
    const float d = fp16_to_f32(b[i].d);
    const float inv = d != 0 ? 1.0f / d : 0.0f;
    for (int e = 0; e < 16; ++e) {
      const int lo = round_clamp(x[e] * inv, -8, 7) + 8;
      const int hi = round_clamp(x[e + 16] * inv, -8, 7) + 8;
      b[i].qs[e] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void dequantize_q4_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / kBlock32; ++i) {
    const float d = fp16_to_f32(b[i].d);
    float* y = dst + i * kBlock32;
    for (int e = 0; e < 16; ++e) {
      y[e] = d * static_cast<float>((b[i].qs[e] & 0x0F) - 8);
      y[e + 16] = d * static_cast<float>((b[i].qs[e] >> 4) - 8);
    }
  }
}

void dot_q8_0_scalar(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ8_0*>(x);
  const auto* b = static_cast<const BlockQ8_0*>(y);
  float sum = 0;
  for (int64_t i = 0; i < n / kBlock32; ++i) {
    int isum = 0;
    for (int e = 0; e < kBlock32; ++e) isum += a[i].qs[e] * b[i].qs[e];
    sum += fp16_to_f32(a[i].d) * fp16_to_f32(b[i].d) * static_cast<float>(isum);
  }
  *s = sum;
}

void dot_q4_0_scalar(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ4_0*>(x);
  const auto* b = static_cast<const BlockQ8_0*>(y);
  float sum = 0;
  for (int64_t i = 0; i < n / kBlock32; ++i) {
    int isum = 0;
    for (int e = 0; e < 16; ++e) {
      isum += ((a[i].qs[e] & 0x0F) - 8) * b[i].qs[e];
      isum += ((a[i].qs[e] >> 4) - 8) * b[i].qs[e + 16];
    }
    sum += fp16_to_f32(a[i].d) * fp16_to_f32(b[i].d) * static_cast<float>(isum);
  }
  *s = sum;
}

}  // namespace hayate::quant::detail
