// Internal: the fast CPU backend's element-wise kernels, one row of n values at a time.
#pragma once

#include <cstdint>

namespace hayate::detail {

// out[i] = silu(gate[i]) * up[i]; out may alias gate. Portable, and AVX2 (only after
// quant::detail::cpu_has_avx2(); e^x by a polynomial within about 2e-7 of std::exp).
void swiglu_scalar(const float* gate, const float* up, float* out, int64_t n);
void swiglu_avx2(const float* gate, const float* up, float* out, int64_t n);

}  // namespace hayate::detail
