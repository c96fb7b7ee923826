// Reference dequantization of the k-quants (layouts in blocks.h). Written per element from
// the layout description rather than for speed: this is the definition the tests rely on.
#include "core/fp16.h"
#include "quant/blocks.h"
#include "quant/kernels.h"

namespace hayate::quant::detail {
namespace {

// Position of element e's 2-bit code in Q2_K/Q3_K: byte qs[32h + l], bits 2j..2j+1.
struct TwoBitPos {
  int byte, shift, hmask_bit;
};
TwoBitPos two_bit_pos(int e) {
  const int h = e / 128, j = (e % 128) / 32, l = e % 32;
  return {32 * h + l, 2 * j, 4 * h + j};
}

}  // namespace

void dequantize_q2_k(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ2_K*>(src);
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const BlockQ2_K& b = blocks[i];
    const float d = fp16_to_f32(b.d), dmin = fp16_to_f32(b.dmin);
    for (int e = 0; e < kSuperBlock; ++e) {
      const TwoBitPos p = two_bit_pos(e);
      const int q = (b.qs[p.byte] >> p.shift) & 3;
      const uint8_t sm = b.scales[e / 16];
      dst[i * kSuperBlock + e] =
          d * static_cast<float>(sm & 0x0F) * static_cast<float>(q) - dmin * static_cast<float>(sm >> 4);
    }
  }
}

void dequantize_q3_k(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ3_K*>(src);
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const BlockQ3_K& b = blocks[i];
    const float d = fp16_to_f32(b.d);
    float scale[16];
    for (int k = 0; k < 16; ++k) scale[k] = d * static_cast<float>(q3k_scale(b.scales, k));
    for (int e = 0; e < kSuperBlock; ++e) {
      const TwoBitPos p = two_bit_pos(e);
      const int low = (b.qs[p.byte] >> p.shift) & 3;
      const int high = (b.hmask[e % 32] >> p.hmask_bit) & 1;
      dst[i * kSuperBlock + e] = scale[e / 16] * static_cast<float>(low + 4 * high - 4);
    }
  }
}

void dequantize_q4_k(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_K*>(src);
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const BlockQ4_K& b = blocks[i];
    const float d = fp16_to_f32(b.d), dmin = fp16_to_f32(b.dmin);
    for (int sub = 0; sub < 8; ++sub) {
      int sc, m;
      k4_scale_min(b.scales, sub, &sc, &m);
      const float scale = d * static_cast<float>(sc), min = dmin * static_cast<float>(m);
      const uint8_t* qs = b.qs + 32 * (sub / 2);
      const int shift = 4 * (sub % 2);
      for (int l = 0; l < 32; ++l)
        dst[i * kSuperBlock + 32 * sub + l] = scale * static_cast<float>((qs[l] >> shift) & 0x0F) - min;
    }
  }
}

void dequantize_q5_k(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ5_K*>(src);
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const BlockQ5_K& b = blocks[i];
    const float d = fp16_to_f32(b.d), dmin = fp16_to_f32(b.dmin);
    for (int sub = 0; sub < 8; ++sub) {
      int sc, m;
      k4_scale_min(b.scales, sub, &sc, &m);
      const float scale = d * static_cast<float>(sc), min = dmin * static_cast<float>(m);
      const uint8_t* qs = b.qs + 32 * (sub / 2);
      const int shift = 4 * (sub % 2);
      for (int l = 0; l < 32; ++l) {
        const int q = ((qs[l] >> shift) & 0x0F) | (((b.qh[l] >> sub) & 1) << 4);
        dst[i * kSuperBlock + 32 * sub + l] = scale * static_cast<float>(q) - min;
      }
    }
  }
}

void dequantize_q6_k(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    const BlockQ6_K& b = blocks[i];
    const float d = fp16_to_f32(b.d);
    for (int e = 0; e < kSuperBlock; ++e)
      dst[i * kSuperBlock + e] = d * static_cast<float>(b.scales[e / 16]) * static_cast<float>(q6k_get(b, e) - 32);
  }
}

}  // namespace hayate::quant::detail
