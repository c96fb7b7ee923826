#include "quant/fit.h"

#include <algorithm>
#include <limits>

namespace hayate::quant::detail {
namespace {

// Candidate scales: the largest |x| is mapped onto (code range end) + kStep * t, t in ±kSteps.
constexpr int kSteps = 10;
constexpr float kStep = 0.1f;
constexpr int kPolishRounds = 3;

struct SymmetricFit {
  double num = 0;  // Σ w x q
  double den = 0;  // Σ w q²
  // Error reduction achieved by the best scale num/den is num²/den; larger is better.
  bool better_than(const SymmetricFit& o) const {
    if (den <= 0) return false;
    if (o.den <= 0) return true;
    return num * num * o.den > o.num * o.num * den;
  }
};

SymmetricFit round_symmetric(const float* x, const float* w, int n, float inv_scale, int qmin, int qmax, int8_t* q) {
  SymmetricFit f;
  for (int i = 0; i < n; ++i) {
    const int v = round_clamp(inv_scale * x[i], qmin, qmax);
    q[i] = static_cast<int8_t>(v);
    f.num += static_cast<double>(w[i]) * x[i] * v;
    f.den += static_cast<double>(w[i]) * v * v;
  }
  return f;
}

struct MinFit {
  float scale = 0, offset = 0;  // x ≈ scale * q + offset, offset <= 0
  float error = std::numeric_limits<float>::infinity();
};

// Least-squares scale and offset for fixed codes, with the offset held at or below zero.
MinFit solve_with_min(const float* x, const float* w, int n, const uint8_t* q) {
  double sw = 0, swq = 0, swqq = 0, swx = 0, swxq = 0;
  for (int i = 0; i < n; ++i) {
    const double wi = w[i], qi = q[i];
    sw += wi;
    swq += wi * qi;
    swqq += wi * qi * qi;
    swx += wi * x[i];
    swxq += wi * x[i] * qi;
  }
  MinFit f;
  const double det = sw * swqq - swq * swq;
  double a = 0, b = 0;
  if (det > 0) {
    a = (sw * swxq - swq * swx) / det;
    b = (swqq * swx - swq * swxq) / det;
  }
  if (det <= 0 || b > 0) {  // offset must not be positive: fit the scale alone
    b = 0;
    a = swqq > 0 ? swxq / swqq : 0;
  }
  if (a < 0) {  // codes anti-correlated with x: only a constant is left to fit
    a = 0;
    b = sw > 0 ? std::min(0.0, swx / sw) : 0;
  }
  f.scale = static_cast<float>(a);
  f.offset = static_cast<float>(b);
  f.error = error_with_min(x, w, n, f.scale, -f.offset, q);
  return f;
}

}  // namespace

void importance_weights(const float* x, int n, float* w) {
  double sum_sq = 0;
  for (int i = 0; i < n; ++i) sum_sq += static_cast<double>(x[i]) * x[i];
  const float rms = static_cast<float>(std::sqrt(sum_sq / n));
  for (int i = 0; i < n; ++i) w[i] = rms + std::fabs(x[i]);
}

float fit_symmetric(const float* x, const float* w, int n, int qmin, int qmax, int8_t* q) {
  float amax = 0, xmax = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      xmax = x[i];
    }
  }
  if (amax < 1e-30f) {
    for (int i = 0; i < n; ++i) q[i] = 0;
    return 0;
  }
  int8_t trial[256];
  SymmetricFit best;
  // xmax onto the negative end (the longer one), then onto the positive end.
  for (const int end : {qmin, qmax}) {
    for (int t = -kSteps; t <= kSteps; ++t) {
      const float target = static_cast<float>(end) + (end < 0 ? -kStep : kStep) * static_cast<float>(t);
      const SymmetricFit f = round_symmetric(x, w, n, target / xmax, qmin, qmax, trial);
      if (f.better_than(best)) {
        best = f;
        for (int i = 0; i < n; ++i) q[i] = trial[i];
      }
    }
  }
  if (best.den <= 0) return 0;
  for (int round = 0; round < kPolishRounds; ++round) {
    const float scale = static_cast<float>(best.num / best.den);
    const SymmetricFit f = round_symmetric(x, w, n, 1.0f / scale, qmin, qmax, trial);
    if (!f.better_than(best)) break;
    best = f;
    for (int i = 0; i < n; ++i) q[i] = trial[i];
  }
  return static_cast<float>(best.num / best.den);
}

float error_with_min(const float* x, const float* w, int n, float scale, float min, const uint8_t* q) {
  double err = 0;
  for (int i = 0; i < n; ++i) {
    const double d = static_cast<double>(scale) * q[i] - min - x[i];
    err += w[i] * d * d;
  }
  return static_cast<float>(err);
}

void fit_with_min(const float* x, const float* w, int n, int qmax, float* scale, float* min, uint8_t* q) {
  float lo = 0, hi = x[0];
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  if (hi - lo < 1e-30f) {
    for (int i = 0; i < n; ++i) q[i] = 0;
    *scale = 0;
    *min = -lo;
    return;
  }
  uint8_t trial[256];
  MinFit best;
  for (int t = -kSteps; t <= kSteps; ++t) {
    const float inv_scale = (static_cast<float>(qmax) + kStep * static_cast<float>(t)) / (hi - lo);
    for (int i = 0; i < n; ++i) trial[i] = static_cast<uint8_t>(round_clamp(inv_scale * (x[i] - lo), 0, qmax));
    const MinFit f = solve_with_min(x, w, n, trial);
    if (f.error < best.error) {
      best = f;
      for (int i = 0; i < n; ++i) q[i] = trial[i];
    }
  }
  for (int round = 0; round < kPolishRounds && best.scale > 0; ++round) {
    const float inv_scale = 1.0f / best.scale;
    for (int i = 0; i < n; ++i) trial[i] = static_cast<uint8_t>(round_clamp((x[i] - best.offset) * inv_scale, 0, qmax));
    const MinFit f = solve_with_min(x, w, n, trial);
    if (!(f.error < best.error)) break;
    best = f;
    for (int i = 0; i < n; ++i) q[i] = trial[i];
  }
  *scale = best.scale;
  *min = -best.offset;
}

}  // namespace hayate::quant::detail
