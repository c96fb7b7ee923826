// Reference quantization of the k-quants: the quantizer model files are written with.
//
// Per 256-weight super-block: first every sub-block gets its own best float scale (and min)
// from the fitters in fit.h. Those are then themselves quantized against one fp16 super-block
// scale (6 or 4 bits each, or int8 for Q6_K), and the codes re-rounded against the scales as
// stored. Rounding the levels independently is not always best, so each sub-block may move its
// level(s) one step where that lowers its error. Finally the super-block scale(s) are refitted
// by least squares with the integers fixed, and the level search repeated; a refit is kept only
// when it lowers the total weighted error. All errors are weighted by importance_weights().
#include <algorithm>
#include <cmath>

#include "core/fp16.h"
#include "quant/blocks.h"
#include "quant/fit.h"
#include "quant/kernels.h"

namespace hayate::quant::detail {
namespace {

constexpr int kRefitRounds = 2;

float round_fp16(float v) { return fp16_to_f32(f32_to_fp16(v)); }

// ---- formats with a min: x ≈ d * ls[j] * q - dmin * lm[j] (Q2_K, Q4_K, Q5_K) ----

struct MinLayout {
  int sub_size;   // weights per sub-block
  int qmax;       // codes are 0..qmax
  int level_max;  // ls and lm are 0..level_max
};

struct MinBlock {
  float d = 0, dmin = 0;  // already rounded to fp16
  uint8_t ls[16] = {}, lm[16] = {};
  uint8_t q[kSuperBlock] = {};
};

// Rounds the codes of sub-block j against levels (ls, lm); returns its weighted error.
float round_sub_with_min(const float* x, const float* w, const MinLayout& lay, float d, float dmin, int j, int ls,
                         int lm, uint8_t* q) {
  const float scale = d * static_cast<float>(ls), min = dmin * static_cast<float>(lm);
  const float inv = scale > 0 ? 1.0f / scale : 0.0f;
  const int o = j * lay.sub_size;
  for (int i = 0; i < lay.sub_size; ++i)
    q[o + i] = static_cast<uint8_t>(round_clamp((x[o + i] + min) * inv, 0, lay.qmax));
  return error_with_min(x + o, w + o, lay.sub_size, scale, min, q + o);
}

// With d and dmin fixed, moves each sub-block's levels to the best of their neighbours.
float refine_levels_with_min(const float* x, const float* w, const MinLayout& lay, MinBlock* b) {
  float total = 0;
  uint8_t trial[kSuperBlock];
  for (int j = 0; j < kSuperBlock / lay.sub_size; ++j) {
    float best = round_sub_with_min(x, w, lay, b->d, b->dmin, j, b->ls[j], b->lm[j], b->q);
    const int ls0 = b->ls[j], lm0 = b->lm[j];
    for (int ls = std::max(0, ls0 - 1); ls <= std::min(lay.level_max, ls0 + 1); ++ls) {
      for (int lm = std::max(0, lm0 - 1); lm <= std::min(lay.level_max, lm0 + 1); ++lm) {
        if (ls == ls0 && lm == lm0) continue;
        const float err = round_sub_with_min(x, w, lay, b->d, b->dmin, j, ls, lm, trial);
        if (err < best) {
          best = err;
          b->ls[j] = static_cast<uint8_t>(ls);
          b->lm[j] = static_cast<uint8_t>(lm);
          const int o = j * lay.sub_size;
          std::copy(trial + o, trial + o + lay.sub_size, b->q + o);
        }
      }
    }
    total += best;
  }
  return total;
}

// Least squares for (d, dmin) with codes and levels fixed: x ≈ d * (ls q) + dmin * (-lm).
bool refit_d_dmin(const float* x, const float* w, const MinLayout& lay, const MinBlock& b, float* d, float* dmin) {
  double suu = 0, suv = 0, svv = 0, sxu = 0, sxv = 0;
  for (int i = 0; i < kSuperBlock; ++i) {
    const int j = i / lay.sub_size;
    const double u = static_cast<double>(b.ls[j]) * b.q[i], v = -static_cast<double>(b.lm[j]);
    suu += w[i] * u * u;
    suv += w[i] * u * v;
    svv += w[i] * v * v;
    sxu += w[i] * x[i] * u;
    sxv += w[i] * x[i] * v;
  }
  const double det = suu * svv - suv * suv;
  if (!(det > 0)) return false;
  *d = round_fp16(static_cast<float>((sxu * svv - sxv * suv) / det));
  *dmin = round_fp16(static_cast<float>((suu * sxv - suv * sxu) / det));
  return *d >= 0 && *dmin >= 0;
}

void quantize_with_min(const float* x, const MinLayout& lay, MinBlock* out) {
  const int n_subs = kSuperBlock / lay.sub_size;
  float w[kSuperBlock];
  importance_weights(x, kSuperBlock, w);
  float scale[16], min[16];
  float max_scale = 0, max_min = 0;
  uint8_t scratch[kSuperBlock];
  for (int j = 0; j < n_subs; ++j) {
    const int o = j * lay.sub_size;
    fit_with_min(x + o, w + o, lay.sub_size, lay.qmax, &scale[j], &min[j], scratch + o);
    max_scale = std::max(max_scale, scale[j]);
    max_min = std::max(max_min, min[j]);
  }
  MinBlock b;
  b.d = round_fp16(max_scale / static_cast<float>(lay.level_max));
  b.dmin = round_fp16(max_min / static_cast<float>(lay.level_max));
  for (int j = 0; j < n_subs; ++j) {
    b.ls[j] = static_cast<uint8_t>(b.d > 0 ? round_clamp(scale[j] / b.d, 0, lay.level_max) : 0);
    b.lm[j] = static_cast<uint8_t>(b.dmin > 0 ? round_clamp(min[j] / b.dmin, 0, lay.level_max) : 0);
  }
  float err = refine_levels_with_min(x, w, lay, &b);
  for (int round = 0; round < kRefitRounds; ++round) {
    MinBlock trial = b;
    if (!refit_d_dmin(x, w, lay, b, &trial.d, &trial.dmin)) break;
    const float trial_err = refine_levels_with_min(x, w, lay, &trial);
    if (!(trial_err < err)) break;
    b = trial;
    err = trial_err;
  }
  *out = b;
}

// ---- symmetric formats: x ≈ d * ls[j] * q (Q3_K, Q6_K), 16 sub-blocks of 16 ----

struct SymLayout {
  int qmin, qmax;            // code range
  int level_min, level_max;  // range of the per-sub-block levels ls
};

struct SymBlock {
  float d = 0;  // already rounded to fp16
  int ls[16] = {};
  int8_t q[kSuperBlock] = {};
};

float round_sub_symmetric(const float* x, const float* w, const SymLayout& lay, float d, int j, int ls, int8_t* q) {
  const float scale = d * static_cast<float>(ls);
  const float inv = scale != 0 ? 1.0f / scale : 0.0f;
  double err = 0;
  for (int i = 16 * j; i < 16 * j + 16; ++i) {
    q[i] = static_cast<int8_t>(round_clamp(x[i] * inv, lay.qmin, lay.qmax));
    const double diff = static_cast<double>(scale) * q[i] - x[i];
    err += w[i] * diff * diff;
  }
  return static_cast<float>(err);
}

// With d fixed, moves each sub-block's level to the best of its neighbours.
float refine_levels_symmetric(const float* x, const float* w, const SymLayout& lay, SymBlock* b) {
  float total = 0;
  int8_t trial[kSuperBlock];
  for (int j = 0; j < 16; ++j) {
    float best = round_sub_symmetric(x, w, lay, b->d, j, b->ls[j], b->q);
    const int ls0 = b->ls[j];
    for (int ls = std::max(lay.level_min, ls0 - 1); ls <= std::min(lay.level_max, ls0 + 1); ++ls) {
      if (ls == ls0) continue;
      const float err = round_sub_symmetric(x, w, lay, b->d, j, ls, trial);
      if (err < best) {
        best = err;
        b->ls[j] = ls;
        std::copy(trial + 16 * j, trial + 16 * j + 16, b->q + 16 * j);
      }
    }
    total += best;
  }
  return total;
}

void quantize_symmetric(const float* x, const SymLayout& lay, SymBlock* out) {
  float w[kSuperBlock];
  importance_weights(x, kSuperBlock, w);
  float scale[16];
  float extreme = 0;  // the sub-block scale of largest magnitude, with its sign
  int8_t scratch[kSuperBlock];
  for (int j = 0; j < 16; ++j) {
    scale[j] = fit_symmetric(x + 16 * j, w + 16 * j, 16, lay.qmin, lay.qmax, scratch + 16 * j);
    if (std::fabs(scale[j]) > std::fabs(extreme)) extreme = scale[j];
  }
  SymBlock b;
  // The extreme scale goes onto the negative end of the level range, which is one longer.
  b.d = round_fp16(extreme / static_cast<float>(lay.level_min));
  for (int j = 0; j < 16; ++j) b.ls[j] = b.d != 0 ? round_clamp(scale[j] / b.d, lay.level_min, lay.level_max) : 0;
  float err = refine_levels_symmetric(x, w, lay, &b);
  for (int round = 0; round < kRefitRounds; ++round) {
    double num = 0, den = 0;
    for (int i = 0; i < kSuperBlock; ++i) {
      const double u = static_cast<double>(b.ls[i / 16]) * b.q[i];
      num += w[i] * x[i] * u;
      den += w[i] * u * u;
    }
    if (!(den > 0)) break;
    SymBlock trial = b;
    trial.d = round_fp16(static_cast<float>(num / den));
    const float trial_err = refine_levels_symmetric(x, w, lay, &trial);
    if (!(trial_err < err)) break;
    b = trial;
    err = trial_err;
  }
  *out = b;
}

}  // namespace

void quantize_q2_k(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ2_K*>(dst);
  const MinLayout lay{16, 3, 15};
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    MinBlock mb;
    quantize_with_min(src + i * kSuperBlock, lay, &mb);
    BlockQ2_K& b = blocks[i];
    b.d = f32_to_fp16(mb.d);
    b.dmin = f32_to_fp16(mb.dmin);
    for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<uint8_t>(mb.ls[j] | (mb.lm[j] << 4));
    for (uint8_t& v : b.qs) v = 0;
    for (int e = 0; e < kSuperBlock; ++e) {
      const int h = e / 128, j = (e % 128) / 32, l = e % 32;
      b.qs[32 * h + l] |= static_cast<uint8_t>(mb.q[e] << (2 * j));
    }
  }
}

void quantize_q3_k(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ3_K*>(dst);
  const SymLayout lay{-4, 3, -32, 31};
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    SymBlock sb;
    quantize_symmetric(src + i * kSuperBlock, lay, &sb);
    BlockQ3_K& b = blocks[i];
    b.d = f32_to_fp16(sb.d);
    uint8_t biased[16];
    for (int j = 0; j < 16; ++j) biased[j] = static_cast<uint8_t>(sb.ls[j] + 32);
    q3k_pack_scales(biased, b.scales);
    for (uint8_t& v : b.qs) v = 0;
    for (uint8_t& v : b.hmask) v = 0;
    for (int e = 0; e < kSuperBlock; ++e) {
      const int u = sb.q[e] + 4;  // 0..7
      const int h = e / 128, j = (e % 128) / 32, l = e % 32;
      b.qs[32 * h + l] |= static_cast<uint8_t>((u & 3) << (2 * j));
      b.hmask[l] |= static_cast<uint8_t>((u >> 2) << (4 * h + j));
    }
  }
}

void quantize_q4_k(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ4_K*>(dst);
  const MinLayout lay{32, 15, 63};
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    MinBlock mb;
    quantize_with_min(src + i * kSuperBlock, lay, &mb);
    BlockQ4_K& b = blocks[i];
    b.d = f32_to_fp16(mb.d);
    b.dmin = f32_to_fp16(mb.dmin);
    k4_pack_scale_min(mb.ls, mb.lm, b.scales);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l)
        b.qs[32 * c + l] = static_cast<uint8_t>(mb.q[64 * c + l] | (mb.q[64 * c + 32 + l] << 4));
  }
}

void quantize_q5_k(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ5_K*>(dst);
  const MinLayout lay{32, 31, 63};
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    MinBlock mb;
    quantize_with_min(src + i * kSuperBlock, lay, &mb);
    BlockQ5_K& b = blocks[i];
    b.d = f32_to_fp16(mb.d);
    b.dmin = f32_to_fp16(mb.dmin);
    k4_pack_scale_min(mb.ls, mb.lm, b.scales);
    for (uint8_t& v : b.qh) v = 0;
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const int lo = mb.q[64 * c + l], hi = mb.q[64 * c + 32 + l];
        b.qs[32 * c + l] = static_cast<uint8_t>((lo & 0x0F) | ((hi & 0x0F) << 4));
        b.qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
    }
  }
}

void quantize_q6_k(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<BlockQ6_K*>(dst);
  const SymLayout lay{-32, 31, -128, 127};
  for (int64_t i = 0; i < n / kSuperBlock; ++i) {
    SymBlock sb;
    quantize_symmetric(src + i * kSuperBlock, lay, &sb);
    BlockQ6_K& b = blocks[i];
    b.d = f32_to_fp16(sb.d);
    for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<int8_t>(sb.ls[j]);
    for (uint8_t& v : b.ql) v = 0;
    for (uint8_t& v : b.qh) v = 0;
    for (int e = 0; e < kSuperBlock; ++e) {
      const int u = sb.q[e] + 32;  // 0..63
      const int h = e / 128, g = (e % 128) / 32, l = e % 32;
      b.ql[64 * h + 32 * (g & 1) + l] |= static_cast<uint8_t>((u & 0x0F) << (g < 2 ? 0 : 4));
      b.qh[32 * h + l] |= static_cast<uint8_t>((u >> 4) << (2 * g));
    }
  }
}

}  // namespace hayate::quant::detail
