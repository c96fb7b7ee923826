// Internal: choosing the scale (and offset) of one group of weights for the quantizers.
//
// Every quantized format here stores x ≈ scale * q (+ offset) with small integers q. Rounding
// with the obvious scale (largest |x| onto the largest code) is rarely the best choice: a
// slightly larger or smaller scale often lowers the total error. The fitters below try a grid
// of candidate scales, and for each the integers it implies; then the scale (and offset) that
// minimise the weighted squared error for those integers follow in closed form (least squares),
// and the best candidate wins. A few rounds of "re-round with the fitted scale, refit" polish it.
#pragma once

#include <cmath>
#include <cstdint>

namespace hayate::quant::detail {

inline int round_clamp(float v, int lo, int hi) {
  const long r = std::lrint(v);  // nearest, ties to even (the same as the SIMD conversions)
  return r < lo ? lo : (r > hi ? hi : static_cast<int>(r));
}

// Groups have at most 256 weights.
//
// Importance of each weight in the squared error: rms(group) + |x|. Large weights matter more
// (they dominate the dot products), but mildly: on Gaussian data this costs ~2% of plain RMS
// error against unweighted fitting, where weighting by x² would cost ~5%.
void importance_weights(const float* x, int n, float* w);

// x ≈ scale * q with integers q in [qmin, qmax] (qmin < 0 < qmax). Returns the scale, which
// may be negative (the sign lets the largest |x| use the longer half of the range).
float fit_symmetric(const float* x, const float* w, int n, int qmin, int qmax, int8_t* q);

// x ≈ scale * q - min with q in [0, qmax], scale >= 0 and min >= 0.
void fit_with_min(const float* x, const float* w, int n, int qmax, float* scale, float* min, uint8_t* q);

// Weighted squared error of x against scale * q - min.
float error_with_min(const float* x, const float* w, int n, float scale, float min, const uint8_t* q);

}  // namespace hayate::quant::detail
