// The fast CPU backend's element-wise kernels against the portable ones: silu·up with gates from
// -100 to 100 (e^-g overflowing and underflowing float), lengths that leave a scalar tail, and
// the output written over the gate as the backend does.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/elementwise.h"
#include "quant/kernels.h"

namespace hayate {
namespace {

TEST(Elementwise, SwigluAvx2MatchesScalar) {
  if (!quant::detail::cpu_has_avx2()) GTEST_SKIP() << "no AVX2";
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> wide(-100.0f, 100.0f);
  std::normal_distribution<float> narrow(0.0f, 3.0f);
  for (const int64_t n : {1, 7, 8, 9, 64, 1001}) {
    std::vector<float> gate(static_cast<size_t>(n)), up(gate.size());
    for (size_t i = 0; i < gate.size(); ++i) {
      gate[i] = i % 3 == 0 ? wide(rng) : narrow(rng);
      up[i] = narrow(rng);
    }
    std::vector<float> want(gate.size()), got = gate;
    detail::swiglu_scalar(gate.data(), up.data(), want.data(), n);
    detail::swiglu_avx2(got.data(), up.data(), got.data(), n);  // in place
    for (size_t i = 0; i < gate.size(); ++i) {
      ASSERT_TRUE(std::isfinite(got[i])) << "gate " << gate[i];
      ASSERT_NEAR(got[i], want[i], 1e-6f * std::fabs(want[i]) + 1e-30f) << "gate " << gate[i] << " up " << up[i];
    }
  }
}

}  // namespace
}  // namespace hayate
