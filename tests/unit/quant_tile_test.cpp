// Tiled dot kernels: every tile kernel (scalar and each SIMD one this CPU has) against the
// scalar vec_dot on every (row, token) pair, for row and token counts that leave partial tiles
// and row lengths of 1..17 blocks; and batch invariance: a pair gives bit for bit the same
// value in any tile shape.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "quant/quant.h"

namespace hayate {
void PrintTo(GgmlType t, std::ostream* os) { *os << ggml_type_name(t); }
}  // namespace hayate

namespace hayate::quant {
namespace {

std::vector<float> gaussian(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// n_rows weight rows and n_tok activation rows (in vec_dot_type) of length n.
struct Problem {
  int64_t n, n_rows, n_tok;
  size_t w_row, a_row;
  std::vector<uint8_t> w, a;
  std::vector<double> sum_abs;  // per pair: Σ|w·a| of the float inputs, the error scale
};

Problem make_problem(GgmlType type, int64_t n, int64_t n_rows, int64_t n_tok, uint32_t seed) {
  const TypeTraits* t = traits(type);
  Problem p{n, n_rows, n_tok, ggml_row_size(type, n), ggml_row_size(t->vec_dot_type, n), {}, {}, {}};
  const std::vector<float> wf = gaussian(n * n_rows, seed), af = gaussian(n * n_tok, seed + 77);
  p.w.resize(p.w_row * static_cast<size_t>(n_rows));
  p.a.resize(p.a_row * static_cast<size_t>(n_tok));
  for (int64_t r = 0; r < n_rows; ++r) t->from_float(wf.data() + r * n, p.w.data() + r * p.w_row, n);
  for (int64_t i = 0; i < n_tok; ++i) t->from_float_vec_dot(af.data() + i * n, p.a.data() + i * p.a_row, n);
  p.sum_abs.resize(static_cast<size_t>(n_rows * n_tok));
  for (int64_t i = 0; i < n_tok; ++i)
    for (int64_t r = 0; r < n_rows; ++r) {
      double s = 0;
      for (int64_t k = 0; k < n; ++k) s += std::fabs(static_cast<double>(wf[r * n + k]) * af[i * n + k]);
      p.sum_abs[static_cast<size_t>(i * n_rows + r)] = s;
    }
  return p;
}

std::vector<float> run_tile(TileDotFn fn, const Problem& p) {
  std::vector<float> out(static_cast<size_t>(p.n_rows * p.n_tok), NAN);
  fn(p.n, p.w.data(), p.w_row, p.n_rows, p.a.data(), p.a_row, p.n_tok, out.data(), p.n_rows);
  return out;
}

constexpr GgmlType kWeightTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0,
                                     GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};
constexpr int64_t kCounts[] = {1, 2, 3, 5, 7, 9, 17};
constexpr int64_t kBlockCounts[] = {1, 2, 3, 7, 17};

class Tile : public ::testing::TestWithParam<GgmlType> {
 protected:
  // Float types have 1-element blocks: use lengths that are not multiples of 8 either.
  int64_t row_length(int64_t blocks) const {
    const int64_t block = ggml_type_info(GetParam()).block_size;
    return block == 1 ? blocks * 8 + (blocks % 5) : blocks * block;
  }
};

TEST_P(Tile, ThereIsAScalarTileAndTheTraitsPickOne) {
  const auto kernels = tile_kernels(GetParam());
  ASSERT_FALSE(kernels.empty());
  EXPECT_STREQ(kernels.front().isa, "scalar");
  bool listed = false;
  for (const auto& k : kernels) listed = listed || k.fn == traits(GetParam())->tile_dot;
  EXPECT_TRUE(listed);
}

TEST_P(Tile, EveryKernelMatchesScalarVecDotOnEveryPair) {
  const VecDotFn reference = dot_kernels(GetParam()).front().fn;
  uint32_t seed = 1;
  for (const int64_t blocks : kBlockCounts) {
    const int64_t n = row_length(blocks);
    for (const int64_t n_rows : kCounts)
      for (const int64_t n_tok : {int64_t{1}, int64_t{3}, int64_t{9}, n_rows == 17 ? int64_t{17} : int64_t{5}}) {
        const Problem p = make_problem(GetParam(), n, n_rows, n_tok, seed++);
        for (const TileKernel& k : tile_kernels(GetParam())) {
          const std::vector<float> got = run_tile(k.fn, p);
          for (int64_t t = 0; t < n_tok; ++t)
            for (int64_t r = 0; r < n_rows; ++r) {
              float want = 0;
              reference(n, &want, p.w.data() + r * p.w_row, p.a.data() + t * p.a_row);
              const size_t i = static_cast<size_t>(t * n_rows + r);
              ASSERT_NEAR(got[i], want, 2e-5 * p.sum_abs[i] + 1e-5)
                  << k.isa << " n=" << n << " rows=" << n_rows << " tokens=" << n_tok << " pair (" << r << "," << t
                  << ")";
            }
        }
      }
  }
}

TEST_P(Tile, APairGivesTheSameBitsInAnyTileShape) {
  const int64_t n = row_length(3), n_rows = 9, n_tok = 7;
  const Problem p = make_problem(GetParam(), n, n_rows, n_tok, 99);
  for (const TileKernel& k : tile_kernels(GetParam())) {
    const std::vector<float> whole = run_tile(k.fn, p);
    for (int64_t t = 0; t < n_tok; ++t)
      for (int64_t r = 0; r < n_rows; ++r) {
        float alone = NAN;
        k.fn(n, p.w.data() + r * p.w_row, p.w_row, 1, p.a.data() + t * p.a_row, p.a_row, 1, &alone, 1);
        const float in_tile = whole[static_cast<size_t>(t * n_rows + r)];
        ASSERT_EQ(std::memcmp(&alone, &in_tile, sizeof(float)), 0)
            << k.isa << " pair (" << r << "," << t << "): " << alone << " vs " << in_tile;
      }
  }
}

TEST_P(Tile, OutputStrideLeavesOtherColumnsAlone) {
  const int64_t n = row_length(2), n_rows = 5, n_tok = 3, stride = 11;
  const Problem p = make_problem(GetParam(), n, n_rows, n_tok, 5);
  for (const TileKernel& k : tile_kernels(GetParam())) {
    std::vector<float> out(static_cast<size_t>(stride * n_tok), -7.0f);
    k.fn(n, p.w.data(), p.w_row, n_rows, p.a.data(), p.a_row, n_tok, out.data(), stride);
    for (int64_t t = 0; t < n_tok; ++t)
      for (int64_t c = n_rows; c < stride; ++c) EXPECT_EQ(out[static_cast<size_t>(t * stride + c)], -7.0f) << k.isa;
  }
}

INSTANTIATE_TEST_SUITE_P(AllWeightTypes, Tile, ::testing::ValuesIn(kWeightTypes),
                         [](const auto& info) { return std::string(ggml_type_name(info.param)); });

}  // namespace
}  // namespace hayate::quant
