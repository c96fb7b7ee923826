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
#include "quant/repack.h"
#include "support/test_util.h"

namespace hayate {
void PrintTo(GgmlType t, std::ostream* os) { *os << ggml_type_name(t); }
}  // namespace hayate

namespace hayate::quant {
namespace {

using test::gaussian;

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

// ---- Q8_0 regrouped in 8-row groups (quant/repack.h) -----------------------------------------

std::vector<uint8_t> repacked(const Problem& p) {
  std::vector<uint8_t> out(q8_0x8_bytes(p.n_rows, p.n), 0xAB);
  const int64_t groups = (p.n_rows + kQ8_0x8Rows - 1) / kQ8_0x8Rows;
  repack_q8_0x8(p.w.data(), p.n_rows, p.n, 0, groups, out.data());
  return out;
}

TEST(TileQ8_0x8, LayoutIsScalesThenFourColumnsOfEightRows) {
  const Problem p = make_problem(GgmlType::Q8_0, 64, 11, 1, 3);  // 2 blocks, 2 groups (the last of 3 rows)
  const std::vector<uint8_t> g = repacked(p);
  ASSERT_EQ(g.size(), 2 * q8_0x8_group_bytes(64));
  const auto* rows = reinterpret_cast<const uint8_t*>(p.w.data());
  for (int64_t r = 0; r < 16; ++r)
    for (int64_t i = 0; i < 2; ++i) {
      const uint8_t* block = g.data() + (r / 8) * q8_0x8_group_bytes(64) + i * kQ8_0x8BlockBytes;
      const int64_t j = r % 8;
      const uint8_t* src = rows + r * p.w_row + i * 34;  // BlockQ8_0: fp16 scale, 32 codes
      for (int b = 0; b < 2; ++b) EXPECT_EQ(block[2 * j + b], r < 11 ? src[b] : 0) << "scale of row " << r;
      for (int c = 0; c < 32; ++c)
        EXPECT_EQ(block[16 + 32 * (c / 4) + 4 * j + c % 4], r < 11 ? src[2 + c] : 0) << "row " << r << " col " << c;
    }
}

TEST(TileQ8_0x8, MatchesScalarVecDotOnEveryPair) {
  const TileDotFn fn = q8_0x8_tile();
  if (!fn) GTEST_SKIP() << "this CPU has no kernel for regrouped Q8_0 (needs AVX2)";
  const VecDotFn reference = dot_kernels(GgmlType::Q8_0).front().fn;
  uint32_t seed = 500;
  for (const int64_t blocks : kBlockCounts)
    for (const int64_t n_rows : {1, 3, 7, 8, 9, 16, 17, 23, 40})
      for (const int64_t n_tok : {1, 2, 4, 5, 9}) {
        const Problem p = make_problem(GgmlType::Q8_0, blocks * 32, n_rows, n_tok, seed++);
        const std::vector<uint8_t> g = repacked(p);
        std::vector<float> got(static_cast<size_t>(n_rows * n_tok), NAN);
        fn(p.n, g.data(), q8_0x8_group_bytes(p.n), n_rows, p.a.data(), p.a_row, n_tok, got.data(), n_rows);
        for (int64_t t = 0; t < n_tok; ++t)
          for (int64_t r = 0; r < n_rows; ++r) {
            float want = 0;
            reference(p.n, &want, p.w.data() + r * p.w_row, p.a.data() + t * p.a_row);
            const size_t i = static_cast<size_t>(t * n_rows + r);
            ASSERT_NEAR(got[i], want, 2e-5 * p.sum_abs[i] + 1e-5)
                << "n=" << p.n << " rows=" << n_rows << " tokens=" << n_tok << " pair (" << r << "," << t << ")";
          }
      }
}

// A pair's bits do not depend on the tile: the whole matrix at once, one token at a time, and
// from a later group on (as the backend's row chunks call it) agree exactly.
TEST(TileQ8_0x8, APairGivesTheSameBitsInAnyTileShape) {
  const TileDotFn fn = q8_0x8_tile();
  if (!fn) GTEST_SKIP() << "this CPU has no kernel for regrouped Q8_0 (needs AVX2)";
  const int64_t n_rows = 45, n_tok = 7;
  const Problem p = make_problem(GgmlType::Q8_0, 96, n_rows, n_tok, 42);
  const std::vector<uint8_t> g = repacked(p);
  const size_t group = q8_0x8_group_bytes(p.n);
  std::vector<float> whole(static_cast<size_t>(n_rows * n_tok), NAN);
  fn(p.n, g.data(), group, n_rows, p.a.data(), p.a_row, n_tok, whole.data(), n_rows);
  for (int64_t t = 0; t < n_tok; ++t) {
    std::vector<float> one(static_cast<size_t>(n_rows), NAN);
    fn(p.n, g.data(), group, n_rows, p.a.data() + t * p.a_row, p.a_row, 1, one.data(), n_rows);
    for (int64_t r = 0; r < n_rows; ++r)
      ASSERT_EQ(std::memcmp(&one[static_cast<size_t>(r)], &whole[static_cast<size_t>(t * n_rows + r)], 4), 0)
          << "pair (" << r << "," << t << ") alone vs in the batch";
  }
  for (const int64_t g0 : {1, 3, 5}) {
    const int64_t r0 = g0 * kQ8_0x8Rows, nr = n_rows - r0;
    std::vector<float> part(static_cast<size_t>(nr * n_tok), NAN);
    fn(p.n, g.data() + g0 * group, group, nr, p.a.data(), p.a_row, n_tok, part.data(), nr);
    for (int64_t t = 0; t < n_tok; ++t)
      for (int64_t r = 0; r < nr; ++r)
        ASSERT_EQ(
            std::memcmp(&part[static_cast<size_t>(t * nr + r)], &whole[static_cast<size_t>(t * n_rows + r0 + r)], 4), 0)
            << "pair (" << r0 + r << "," << t << ") from group " << g0;
  }
}

TEST(TileQ8_0x8, WritesOnlyTheRowsAskedFor) {
  const TileDotFn fn = q8_0x8_tile();
  if (!fn) GTEST_SKIP() << "this CPU has no kernel for regrouped Q8_0 (needs AVX2)";
  const int64_t n_rows = 13, n_tok = 3, stride = 21;  // the last group holds 5 wanted rows
  const Problem p = make_problem(GgmlType::Q8_0, 64, n_rows, n_tok, 8);
  const std::vector<uint8_t> g = repacked(p);
  std::vector<float> out(static_cast<size_t>(stride * n_tok), -7.0f);
  fn(p.n, g.data(), q8_0x8_group_bytes(p.n), n_rows, p.a.data(), p.a_row, n_tok, out.data(), stride);
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t c = 0; c < stride; ++c) {
      const float v = out[static_cast<size_t>(t * stride + c)];
      if (c < n_rows)
        EXPECT_NE(v, -7.0f) << "row " << c << " token " << t;
      else
        EXPECT_EQ(v, -7.0f) << "column " << c << " token " << t;
    }
}

INSTANTIATE_TEST_SUITE_P(AllWeightTypes, Tile, ::testing::ValuesIn(kWeightTypes),
                         [](const auto& info) { return std::string(ggml_type_name(info.param)); });

}  // namespace
}  // namespace hayate::quant
