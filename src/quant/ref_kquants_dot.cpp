// Scalar dot products of the k-quants against Q8_K activations.
//
// Per super-block the integer part is exact: Σ_j level_j · Σ_{i in j} q_i·y_i in int32. The
// offsets (the "- 4", "- 32" of the symmetric codes, the mins of the asymmetric ones) are
// constant over a 16-weight group, so they multiply the precomputed group sums y.bsums.
#include "core/fp16.h"
#include "quant/blocks.h"
#include "quant/kernels.h"

namespace hayate::quant::detail {
void dot_q2_k_scalar(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ2_K*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  float sum = 0;
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    int isum = 0, msum = 0;
    // Group k = 8h + 2j + (l >= 16) holds weights 128h + 32j + l: bits 2j.. of qs[32h + l].
    for (int h = 0; h < 2; ++h) {
      for (int j = 0; j < 4; ++j) {
        for (int half = 0; half < 2; ++half) {
          const int k = 8 * h + 2 * j + half;
          int part = 0;
          for (int l = 16 * half; l < 16 * half + 16; ++l)
            part += ((a[i].qs[32 * h + l] >> (2 * j)) & 3) * b[i].qs[128 * h + 32 * j + l];
          isum += (a[i].scales[k] & 0x0F) * part;
          msum += (a[i].scales[k] >> 4) * b[i].bsums[k];
        }
      }
    }
    sum +=
        b[i].d * (fp16_to_f32(a[i].d) * static_cast<float>(isum) - fp16_to_f32(a[i].dmin) * static_cast<float>(msum));
  }
  *s = sum;
}

void dot_q3_k_scalar(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ3_K*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  float sum = 0;
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    int isum = 0;
    // Same walk as Q2_K; the third bit is bit 4h + j of hmask[l].
    for (int h = 0; h < 2; ++h) {
      for (int j = 0; j < 4; ++j) {
        for (int half = 0; half < 2; ++half) {
          const int k = 8 * h + 2 * j + half;
          int part = 0;  // Σ (low + 4·high) · y; the "- 4" is applied through bsums
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            const int low = (a[i].qs[32 * h + l] >> (2 * j)) & 3;
            const int high = (a[i].hmask[l] >> (4 * h + j)) & 1;
            part += (low + 4 * high) * b[i].qs[128 * h + 32 * j + l];
          }
          isum += q3k_scale(a[i].scales, k) * (part - 4 * b[i].bsums[k]);
        }
      }
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
    sum +=
        b[i].d * (fp16_to_f32(a[i].d) * static_cast<float>(isum) - fp16_to_f32(a[i].dmin) * static_cast<float>(msum));
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
    sum +=
        b[i].d * (fp16_to_f32(a[i].d) * static_cast<float>(isum) - fp16_to_f32(a[i].dmin) * static_cast<float>(msum));
  }
  *s = sum;
}

void dot_q6_k_scalar(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const BlockQ6_K*>(x);
  const auto* b = static_cast<const BlockQ8_K*>(y);
  float sum = 0;
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    int isum = 0;
    // Group k = 8h + 2g + (l >= 16) holds weights 128h + 32g + l (see blocks.h).
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = a[i].ql + 64 * h;
      const uint8_t* qh = a[i].qh + 32 * h;
      for (int g = 0; g < 4; ++g) {
        const int nibble_shift = g < 2 ? 0 : 4;
        for (int half = 0; half < 2; ++half) {
          const int k = 8 * h + 2 * g + half;
          int part = 0;  // codes 0..63; the "- 32" is applied through bsums
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            const int code = ((ql[32 * (g & 1) + l] >> nibble_shift) & 0x0F) | (((qh[l] >> (2 * g)) & 3) << 4);
            part += code * b[i].qs[128 * h + 32 * g + l];
          }
          isum += a[i].scales[k] * (part - 32 * b[i].bsums[k]);
        }
      }
    }
    sum += b[i].d * fp16_to_f32(a[i].d) * static_cast<float>(isum);
  }
  *s = sum;
}

}  // namespace hayate::quant::detail
