// Scalar dot products of the k-quants against Q8_K activations.
//
// Per super-block the integer part is exact: Σ_j level_j · Σ_{i in j} q_i·y_i in int32. The
// offsets (the "- 4", "- 32" of the symmetric codes, the mins of the asymmetric ones) are
// constant over a 16-weight group, so they multiply the precomputed group sums y.bsums.
#include "core/fp16.h"
#include "quant/blocks.h"
#include "quant/kernels.h"

namespace hayate::quant::detail {
namespace {

// 2-bit code of element e in a Q2_K/Q3_K qs array.
inline int two_bit_code(const uint8_t* qs, int e) {
  return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

}  // namespace

void dot_q2_k_scalar(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ2_K*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  float sum = 0;
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    int isum = 0, msum = 0;
    for (int k = 0; k < 16; ++k) {
      int part = 0;
      for (int e = 16 * k; e < 16 * k + 16; ++e) part += two_bit_code(a[i].qs, e) * b[i].qs[e];
      isum += (a[i].scales[k] & 0x0F) * part;
      msum += (a[i].scales[k] >> 4) * b[i].bsums[k];
    }
    sum += b[i].d * (fp16_to_f32(a[i].d) * static_cast<float>(isum) - fp16_to_f32(a[i].dmin) * static_cast<float>(msum));
  }
  *s = sum;
}

void dot_q3_k_scalar(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ3_K*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  float sum = 0;
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    int isum = 0;
    for (int k = 0; k < 16; ++k) {
      int part = 0;  // Σ (low + 4·high) · y, the "- 4" is applied through bsums
      for (int e = 16 * k; e < 16 * k + 16; ++e) {
        const int high = (a[i].hmask[e % 32] >> (4 * (e / 128) + (e % 128) / 32)) & 1;
        part += (two_bit_code(a[i].qs, e) + 4 * high) * b[i].qs[e];
      }
      isum += q3k_scale(a[i].scales, k) * (part - 4 * b[i].bsums[k]);
    }
    sum += b[i].d * fp16_to_f32(a[i].d) * static_cast<float>(isum);
  }
  *s = sum;
}

void dot_q4_k_scalar(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ4_K*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  float sum = 0;
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    int isum = 0, msum = 0;
    for (int sub = 0; sub < 8; ++sub) {
      int sc, m;
      k4_scale_min(a[i].scales, sub, &sc, &m);
      const uint8_t* qs = a[i].qs + 32 * (sub / 2);
      const int shift = 4 * (sub % 2);
      int part = 0;
      for (int l = 0; l < 32; ++l) part += ((qs[l] >> shift) & 0x0F) * b[i].qs[32 * sub + l];
      isum += sc * part;
      msum += m * (b[i].bsums[2 * sub] + b[i].bsums[2 * sub + 1]);
    }
    sum += b[i].d * (fp16_to_f32(a[i].d) * static_cast<float>(isum) - fp16_to_f32(a[i].dmin) * static_cast<float>(msum));
  }
  *s = sum;
}

void dot_q5_k_scalar(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ5_K*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  float sum = 0;
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    int isum = 0, msum = 0;
    for (int sub = 0; sub < 8; ++sub) {
      int sc, m;
      k4_scale_min(a[i].scales, sub, &sc, &m);
      const uint8_t* qs = a[i].qs + 32 * (sub / 2);
      const int shift = 4 * (sub % 2);
      int part = 0;
      for (int l = 0; l < 32; ++l) {
        const int q = ((qs[l] >> shift) & 0x0F) | (((a[i].qh[l] >> sub) & 1) << 4);
        part += q * b[i].qs[32 * sub + l];
      }
      isum += sc * part;
      msum += m * (b[i].bsums[2 * sub] + b[i].bsums[2 * sub + 1]);
    }
    sum += b[i].d * (fp16_to_f32(a[i].d) * static_cast<float>(isum) - fp16_to_f32(a[i].dmin) * static_cast<float>(msum));
  }
  *s = sum;
}

void dot_q6_k_scalar(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ6_K*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  float sum = 0;
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    int isum = 0;
    for (int k = 0; k < 16; ++k) {
      int part = 0;  // codes 0..63; the "- 32" is applied through bsums
      for (int e = 16 * k; e < 16 * k + 16; ++e) part += q6k_get(a[i], e) * b[i].qs[e];
      isum += a[i].scales[k] * (part - 32 * b[i].bsums[k]);
    }
    sum += b[i].d * fp16_to_f32(a[i].d) * static_cast<float>(isum);
  }
  *s = sum;
}

}  // namespace hayate::quant::detail
