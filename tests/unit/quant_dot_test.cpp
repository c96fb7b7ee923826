// Dot kernels: every SIMD kernel against the scalar one, the scalar one against the plain
// dot product of the dequantized rows, and the fast activation quantizers against the
// reference ones.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "quant/quant.h"
#include "support/test_util.h"

namespace hayate {
// Readable test parameter names.
void PrintTo(GgmlType t, std::ostream* os) { *os << ggml_type_name(t); }
}  // namespace hayate

namespace hayate::quant {
namespace {

using test::gaussian;

// A weight row of `type` and an activation row in its vec_dot_type, with their float values.
struct Rows {
  std::vector<uint8_t> x, y;
  std::vector<float> x_float, y_float;  // exactly what the rows hold
};

Rows make_rows(GgmlType type, int64_t n, uint32_t seed) {
  const TypeTraits* t = traits(type);
  const TypeTraits* ty = traits(t->vec_dot_type);
  Rows r;
  std::vector<float> w = gaussian(n, seed), a = gaussian(n, seed + 1000);
  w[0] = 4.0f;  // an outlier, so that not every block looks alike
  r.x.resize(ggml_row_size(type, n));
  r.y.resize(ggml_row_size(t->vec_dot_type, n));
  t->from_float(w.data(), r.x.data(), n);
  t->from_float_vec_dot(a.data(), r.y.data(), n);
  r.x_float.resize(n);
  r.y_float.resize(n);
  t->to_float(r.x.data(), r.x_float.data(), n);
  ty->to_float(r.y.data(), r.y_float.data(), n);
  return r;
}

double sum_abs_products(const Rows& r) {
  double s = 0;
  for (size_t i = 0; i < r.x_float.size(); ++i) s += std::fabs(static_cast<double>(r.x_float[i]) * r.y_float[i]);
  return s;
}

constexpr GgmlType kWeightTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0,
                                     GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

// Row lengths in blocks: one, a few, and odd counts that leave tails for every unroll factor.
constexpr int64_t kBlockCounts[] = {1, 2, 3, 7, 17};

class Dot : public ::testing::TestWithParam<GgmlType> {
 protected:
  int64_t block() const { return ggml_type_info(GetParam()).block_size; }
};

TEST_P(Dot, ScalarMatchesDequantizedDoubleDot) {
  for (const int64_t blocks : kBlockCounts) {
    const int64_t n = blocks * std::max<int64_t>(block(), 32);
    const Rows r = make_rows(GetParam(), n, static_cast<uint32_t>(blocks));
    double expect = 0;
    for (int64_t i = 0; i < n; ++i) expect += static_cast<double>(r.x_float[i]) * r.y_float[i];
    float got = 0;
    dot_kernels(GetParam()).front().fn(n, &got, r.x.data(), r.y.data());
    EXPECT_NEAR(got, expect, 1e-4 * sum_abs_products(r) + 1e-6) << "n=" << n;
  }
}

TEST_P(Dot, EveryKernelMatchesScalar) {
  const std::vector<DotKernel> kernels = dot_kernels(GetParam());
  ASSERT_FALSE(kernels.empty());
  EXPECT_STREQ(kernels.front().isa, "scalar");
  for (const int64_t blocks : kBlockCounts) {
    // Float types also get lengths that are not a multiple of any vector width.
    for (const int64_t extra : {int64_t{0}, int64_t{block() == 1 ? 13 : 0}}) {
      const int64_t n = blocks * std::max<int64_t>(block(), 32) + extra;
      const Rows r = make_rows(GetParam(), n, static_cast<uint32_t>(100 + blocks));
      float ref = 0;
      kernels.front().fn(n, &ref, r.x.data(), r.y.data());
      const double tol = 2e-5 * sum_abs_products(r) + 1e-6;
      // Rows inside a GGUF file start wherever the previous row ended: also run every kernel
      // on copies moved off any vector alignment (by 4 bytes, which keeps floats aligned).
      std::vector<uint8_t> x_moved(r.x.size() + 4), y_moved(r.y.size() + 4);
      std::copy(r.x.begin(), r.x.end(), x_moved.begin() + 4);
      std::copy(r.y.begin(), r.y.end(), y_moved.begin() + 4);
      for (const DotKernel& k : kernels) {
        float got = 0, got_moved = 0;
        k.fn(n, &got, r.x.data(), r.y.data());
        k.fn(n, &got_moved, x_moved.data() + 4, y_moved.data() + 4);
        EXPECT_NEAR(got, ref, tol) << k.isa << " n=" << n;
        EXPECT_EQ(got, got_moved) << k.isa << " n=" << n;
      }
    }
  }
}

TEST_P(Dot, TraitsUseTheBestKernel) {
  const std::vector<DotKernel> kernels = dot_kernels(GetParam());
  EXPECT_EQ(traits(GetParam())->vec_dot, kernels.back().fn);
}

INSTANTIATE_TEST_SUITE_P(AllWeightTypes, Dot, ::testing::ValuesIn(kWeightTypes),
                         [](const auto& info) { return std::string(ggml_type_name(info.param)); });

TEST(Dot, ReportsKernelsForThisCpu) {
  const std::string features = cpu_features();
  const std::vector<DotKernel> kernels = dot_kernels(GgmlType::Q4_K);
  std::string isas;
  for (const DotKernel& k : kernels) isas += std::string(k.isa) + " ";
  std::printf("cpu: %s\nq4_K kernels: %s\n", features.c_str(), isas.c_str());
  const bool avx2 = features.find("avx2") != std::string::npos && features.find("fma") != std::string::npos &&
                    features.find("f16c") != std::string::npos;
  EXPECT_EQ(avx2, isas.find("avx2") != std::string::npos);
  EXPECT_TRUE(dot_kernels(GgmlType::Q8_K).empty());  // activation-only type
}

// ---- activation quantizers ----

void expect_fast_quantizer_matches(GgmlType type, const std::vector<float>& a) {
  const TypeTraits* t = traits(type);
  const auto n = static_cast<int64_t>(a.size());
  std::vector<uint8_t> ref(ggml_row_size(type, n)), fast(ref.size());
  t->from_float(a.data(), ref.data(), n);
  t->from_float_vec_dot(a.data(), fast.data(), n);
  EXPECT_EQ(0, std::memcmp(ref.data(), fast.data(), ref.size())) << ggml_type_name(type);
}

TEST(ActivationQuantizer, FastMatchesReferenceBitForBit) {
  for (const GgmlType type : {GgmlType::Q8_0, GgmlType::Q8_K}) {
    EXPECT_EQ(traits(type)->vec_dot_type, type);
    expect_fast_quantizer_matches(type, gaussian(256 * 9, 21));

    // Exact ties: with a block maximum of 127 the multiplier is 1, so k + 0.5 must round to even.
    std::vector<float> ties(512);
    for (size_t i = 0; i < ties.size(); ++i) ties[i] = static_cast<float>(static_cast<int>(i % 200) - 100) + 0.5f;
    for (size_t i = 0; i < ties.size(); i += 32) ties[i] = 127.0f;
    expect_fast_quantizer_matches(type, ties);

    std::vector<float> zeros(512, 0.0f);  // all-zero blocks: scale 0, codes 0
    expect_fast_quantizer_matches(type, zeros);
  }
}

TEST(ActivationQuantizer, Q8KGroupSumsMatchCodes) {
  const std::vector<float> a = gaussian(512, 4);
  std::vector<uint8_t> q(ggml_row_size(GgmlType::Q8_K, 512));
  traits(GgmlType::Q8_K)->from_float_vec_dot(a.data(), q.data(), 512);
  for (int b = 0; b < 2; ++b) {
    const uint8_t* blk = q.data() + b * 292;
    const auto* qs = reinterpret_cast<const int8_t*>(blk + 4);
    for (int k = 0; k < 16; ++k) {
      int sum = 0;
      for (int e = 0; e < 16; ++e) sum += qs[16 * k + e];
      int16_t stored;
      std::memcpy(&stored, blk + 260 + 2 * k, 2);
      EXPECT_EQ(stored, sum) << "block " << b << " group " << k;
    }
  }
}

TEST(ActivationQuantizer, FloatTypesKeepActivationsAsFloat) {
  for (const GgmlType type : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
    const TypeTraits* t = traits(type);
    EXPECT_EQ(t->vec_dot_type, GgmlType::F32);
    const std::vector<float> a = gaussian(37, 2);
    std::vector<float> out(37);
    t->from_float_vec_dot(a.data(), out.data(), 37);
    EXPECT_EQ(a, out);
  }
}

}  // namespace
}  // namespace hayate::quant
