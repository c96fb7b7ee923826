// quantize -> dequantize accuracy of every type, fp16/bf16 conversions, and the row helpers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fp16.h"
#include "quant/quant.h"

namespace hayate::quant {
namespace {

std::vector<float> gaussian(int64_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<float> round_trip(GgmlType type, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(ggml_row_size(type, n));
  quantize_row(type, x.data(), q.data(), n);
  std::vector<float> y(x.size());
  dequantize_row(type, q.data(), y.data(), n);
  return y;
}

// RMS of the error relative to the RMS of the data.
double relative_rms_error(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, sum = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
    sum += static_cast<double>(x[i]) * x[i];
  }
  return std::sqrt(err / sum);
}

struct Bound {
  GgmlType type;
  double max_error;  // measured on this data (see the comment below) plus a small margin
};

// Measured relative RMS errors on N(0,1) data, 2^20 values (the numbers do not move with the
// data's scale between 0.002 and 100): f16 0.00021, bf16 0.0017, q8_0 0.0054, q8_K 0.0070,
// q6_K 0.0169, q5_K 0.0347, q4_K 0.0705, q4_0 0.0809, q3_K 0.1452, q2_K 0.2671.
void PrintTo(const Bound& b, std::ostream* os) { *os << ggml_type_name(b.type) << " <= " << b.max_error; }

constexpr Bound kBounds[] = {
    {GgmlType::F32, 0.0},     {GgmlType::F16, 0.0003}, {GgmlType::BF16, 0.002}, {GgmlType::Q8_0, 0.006},
    {GgmlType::Q8_K, 0.0075}, {GgmlType::Q6_K, 0.018}, {GgmlType::Q5_K, 0.037}, {GgmlType::Q4_K, 0.074},
    {GgmlType::Q4_0, 0.084},  {GgmlType::Q3_K, 0.15},  {GgmlType::Q2_K, 0.28},
};

class RoundTrip : public ::testing::TestWithParam<Bound> {};

// The weight-type names messages list are generated from the traits table: every one names a
// type with kernels, and a type without them is named in the error with that list.
TEST(WeightTypes, NameListComesFromTheTraitsTable) {
  const std::string names = quant::weight_type_names();
  std::istringstream in(names);
  int n = 0;
  for (std::string name; in >> name; ++n) {
    const auto type = ggml_type_from_name(name);
    ASSERT_TRUE(type.has_value()) << name;
    EXPECT_TRUE(quant::is_supported_weight_type(*type)) << name;
  }
  EXPECT_GT(n, 0);
  EXPECT_NE(names.find("q4_K"), std::string::npos) << names;
  EXPECT_FALSE(quant::is_supported_weight_type(GgmlType::Q8_K)) << "an activation type, not a weight type";
  try {
    float x[32] = {};
    uint8_t out[64];
    quant::quantize_row(GgmlType::Q4_1, x, out, 32);
    FAIL() << "q4_1 has no conversion in this build";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(supported: " + names + ")"), std::string::npos) << e.what();
  }
}

TEST_P(RoundTrip, GaussianErrorWithinBound) {
  const Bound b = GetParam();
  for (const float sigma : {1.0f, 0.02f}) {
    const std::vector<float> x = gaussian(256 * 512, 7, sigma);
    const double err = relative_rms_error(x, round_trip(b.type, x));
    EXPECT_LE(err, b.max_error) << ggml_type_name(b.type) << " sigma " << sigma;
  }
}

TEST_P(RoundTrip, ZerosStayZero) {
  const std::vector<float> x(512, 0.0f);
  for (const float v : round_trip(GetParam().type, x)) EXPECT_EQ(v, 0.0f);
}

TEST_P(RoundTrip, ConstantAndOutlierBlocksStayClose) {
  const GgmlType type = GetParam().type;
  std::vector<float> x(512, 0.75f);              // a constant run, all positive
  for (int i = 256; i < 512; ++i) x[i] = -0.5f;  // and one all negative
  std::vector<float> y = round_trip(type, x);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], x[i], 0.02) << ggml_type_name(type) << " at " << i;

  // One large outlier must survive (relative to itself) in every format.
  x = gaussian(512, 3, 0.1f);
  x[300] = 25.0f;
  y = round_trip(type, x);
  EXPECT_NEAR(y[300], 25.0f, 25.0f * 0.05f) << ggml_type_name(type);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, RoundTrip, ::testing::ValuesIn(kBounds),
                         [](const auto& info) { return std::string(ggml_type_name(info.param.type)); });

TEST(RoundTrip, ErrorsAreOrderedByBitsPerWeight) {
  const std::vector<float> x = gaussian(256 * 256, 11);
  auto err = [&](GgmlType t) { return relative_rms_error(x, round_trip(t, x)); };
  const double q8 = err(GgmlType::Q8_0), q6 = err(GgmlType::Q6_K), q5 = err(GgmlType::Q5_K);
  const double q4k = err(GgmlType::Q4_K), q40 = err(GgmlType::Q4_0), q3 = err(GgmlType::Q3_K), q2 = err(GgmlType::Q2_K);
  EXPECT_LT(q8, q6);
  EXPECT_LT(q6, q5);
  EXPECT_LT(q5, q4k);
  EXPECT_LT(q4k, q40);  // 4.5 bits with per-32 mins beat 4.5 bits symmetric
  EXPECT_LT(q40, q3);
  EXPECT_LT(q3, q2);
}

TEST(RoundTrip, QuantizeMatrixIsRowByRow) {
  const int64_t rows = 3, cols = 512;
  const std::vector<float> x = gaussian(rows * cols, 5);
  for (const GgmlType t : {GgmlType::Q4_K, GgmlType::Q8_0, GgmlType::F16}) {
    const size_t row_bytes = ggml_row_size(t, cols);
    std::vector<uint8_t> whole(rows * row_bytes), one(row_bytes);
    EXPECT_EQ(quantize_matrix(t, x.data(), whole.data(), rows, cols), rows * row_bytes);
    for (int64_t r = 0; r < rows; ++r) {
      quantize_row(t, x.data() + r * cols, one.data(), cols);
      EXPECT_EQ(0, std::memcmp(one.data(), whole.data() + r * row_bytes, row_bytes))
          << ggml_type_name(t) << " row " << r;
    }
  }
}

TEST(RoundTrip, BadLengthsAndTypesAreReported) {
  std::vector<float> x(300, 1.0f);
  std::vector<uint8_t> q(4096);
  EXPECT_THROW(quantize_row(GgmlType::Q4_K, x.data(), q.data(), 300), Error);
  EXPECT_THROW(dequantize_row(GgmlType::Q8_0, q.data(), x.data(), 40), Error);
  try {
    dequantize_row(GgmlType::Q4_1, q.data(), x.data(), 32);
    FAIL() << "q4_1 has no kernels";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("q4_1"), std::string::npos);
  }
  EXPECT_EQ(traits(GgmlType::Q4_1), nullptr);
  EXPECT_FALSE(is_supported_weight_type(GgmlType::Q8_K));
  EXPECT_TRUE(is_supported_weight_type(GgmlType::Q3_K));
  EXPECT_TRUE(is_supported_weight_type(GgmlType::BF16));
}

// ---- fp16 / bf16 scalar conversions ----

TEST(Fp16, EveryHalfRoundTripsThroughFloat) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fp16_to_f32(static_cast<uint16_t>(h));
    const bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
    if (nan) {
      EXPECT_TRUE(std::isnan(f)) << std::hex << h;
      EXPECT_TRUE(std::isnan(fp16_to_f32(f32_to_fp16(f))));
    } else {
      EXPECT_EQ(f32_to_fp16(f), h) << std::hex << h;
    }
  }
}

TEST(Fp16, KnownValuesAndRounding) {
  EXPECT_EQ(fp16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(fp16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(fp16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(fp16_to_f32(0x0001), std::ldexp(1.0f, -24));     // smallest subnormal
  EXPECT_EQ(fp16_to_f32(0x03ff), std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(fp16_to_f32(0x8000), -0.0f);
  EXPECT_TRUE(std::signbit(fp16_to_f32(0x8000)));
  EXPECT_EQ(fp16_to_f32(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(fp16_to_f32(0xfc00), -std::numeric_limits<float>::infinity());

  EXPECT_EQ(f32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // tie -> even (down)
  EXPECT_EQ(f32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(f32_to_fp16(65520.0f), 0x7c00);                          // rounds past the largest half: infinity
  EXPECT_EQ(f32_to_fp16(1e9f), 0x7c00);
  EXPECT_EQ(f32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);  // half of the smallest subnormal: tie to even 0
  EXPECT_EQ(f32_to_fp16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(f32_to_fp16(-std::numeric_limits<float>::infinity()), 0xfc00);
  const uint16_t nan = f32_to_fp16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x3ff, 0);
}

TEST(Bf16, KnownValuesRoundingAndSpecials) {
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xc040), -3.0f);
  EXPECT_EQ(bf16_to_f32(0x0001), std::ldexp(1.0f, -133));  // smallest subnormal
  EXPECT_EQ(bf16_to_f32(0x7f80), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(bf16_to_f32(0x7fc0)));
  // Every bf16 value survives float and back (NaNs stay NaN).
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = bf16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f))
      EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f))));
    else
      EXPECT_EQ(f32_to_bf16(f), h) << std::hex << h;
  }
  EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3f808000)), 0x3f80);  // tie -> even (down)
  EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3f818000)), 0x3f82);  // tie -> even (up)
  EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3f808001)), 0x3f81);
  EXPECT_EQ(f32_to_bf16(bits_to_f32(0x7f7fffff)), 0x7f80);                     // rounds up to infinity
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(bits_to_f32(0x7f800001)))));  // signalling NaN stays NaN
}

}  // namespace
}  // namespace hayate::quant
