// Packed formats (quant/packed.h): every format this CPU can run against the scalar vec_dot of
// the file's rows on every (row, token) pair, for row counts that leave partial groups and
// token counts that leave partial tiles; batch invariance (a pair's bits do not depend on the
// tile, the token count or the group it is started from); and the packers' layouts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/fp16.h"
#include "quant/blocks.h"
#include "quant/packed.h"
#include "quant/quant.h"
#include "support/test_util.h"

namespace hayate::quant {
namespace {

using test::gaussian;

// A matrix in the file's layout, its packed copy, activations in both the file kernels' format
// (vec_dot_type) and the packed kernel's, and per pair the error scale Σ|w·a|.
struct Problem {
  const PackedFormat* f;
  int64_t n, rows, toks;
  size_t w_row, a_row, p_row;
  std::vector<uint8_t> w, packed, a, pa;
  std::vector<double> sum_abs;
};

Problem make_problem(const PackedFormat* f, int64_t n, int64_t rows, int64_t toks, uint32_t seed) {
  const TypeTraits* t = traits(f->type);
  Problem p{f,  n,  rows, toks, ggml_row_size(f->type, n), ggml_row_size(t->vec_dot_type, n), f->act_row_bytes(n), {},
            {}, {}, {},   {}};
  const std::vector<float> wf = gaussian(n * rows, seed), af = gaussian(n * toks, seed + 77);
  p.w.resize(p.w_row * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) t->from_float(wf.data() + r * n, p.w.data() + r * p.w_row, n);
  p.packed.assign(packed_bytes(*f, rows, n), 0xAB);
  f->pack(p.w.data(), rows, n, 0, (rows + f->group_rows - 1) / f->group_rows, p.packed.data());
  p.a.resize(p.a_row * static_cast<size_t>(toks));
  p.pa.resize(p.p_row * static_cast<size_t>(toks));
  for (int64_t i = 0; i < toks; ++i) {
    const float* x = af.data() + i * n;
    if (t->vec_dot_type == GgmlType::F32)
      std::memcpy(p.a.data() + i * p.a_row, x, p.a_row);
    else
      t->from_float_vec_dot(x, p.a.data() + i * p.a_row, n);
    if (f->convert_act)
      f->convert_act(x, p.pa.data() + i * p.p_row, n);
    else
      std::memcpy(p.pa.data() + i * p.p_row, x, p.p_row);
  }
  p.sum_abs.resize(static_cast<size_t>(rows * toks));
  for (int64_t i = 0; i < toks; ++i)
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0;
      for (int64_t k = 0; k < n; ++k) s += std::fabs(static_cast<double>(wf[r * n + k]) * af[i * n + k]);
      p.sum_abs[static_cast<size_t>(i * rows + r)] = s;
    }
  return p;
}

// Rows [g0 * group_rows, rows) × tokens [t0, toks) through the packed kernel; out has `stride` columns.
std::vector<float> run(const Problem& p, int64_t g0 = 0, int64_t t0 = 0, int64_t stride = 0) {
  const int64_t r0 = g0 * p.f->group_rows, nr = p.rows - r0, nt = p.toks - t0;
  if (stride == 0) stride = nr;
  std::vector<float> out(static_cast<size_t>(stride * nt), NAN);
  const size_t group = p.f->group_bytes(p.n);
  p.f->tile(p.n, p.packed.data() + static_cast<size_t>(g0) * group, group, nr, p.pa.data() + t0 * p.p_row, p.p_row, nt,
            out.data(), stride);
  return out;
}

std::vector<const PackedFormat*> all_formats() {
  std::vector<const PackedFormat*> out;
  for (const GgmlType t :
       {GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::F16, GgmlType::BF16})
    for (const PackedFormat* f : packed_formats(t)) out.push_back(f);
  return out;
}

int64_t row_length(const PackedFormat* f, int64_t blocks) { return blocks * ggml_type_info(f->type).block_size; }

TEST(Packed, EveryFormatMatchesScalarVecDotOnEveryPair) {
  const auto formats = all_formats();
  if (formats.empty()) GTEST_SKIP() << "this CPU runs no packed format";
  uint32_t seed = 1;
  for (const PackedFormat* f : formats) {
    const VecDotFn reference = dot_kernels(f->type).front().fn;
    const bool float_type = ggml_type_info(f->type).block_size == 1;
    for (const int64_t blocks : float_type ? std::vector<int64_t>{1, 7, 33, 130} : std::vector<int64_t>{1, 2, 3, 7})
      for (const int64_t rows : {1, 5, 16, 17, 31, 40, 70})
        for (const int64_t toks : {1, 2, 5, 7, 13, 25}) {
          const Problem p = make_problem(f, row_length(f, blocks), rows, toks, seed++);
          const std::vector<float> got = run(p);
          for (int64_t t = 0; t < toks; ++t)
            for (int64_t r = 0; r < rows; ++r) {
              float want = 0;
              reference(p.n, &want, p.w.data() + r * p.w_row, p.a.data() + t * p.a_row);
              const size_t i = static_cast<size_t>(t * rows + r);
              ASSERT_NEAR(got[i], want, 2e-5 * p.sum_abs[i] + 1e-5)
                  << f->name << " n=" << p.n << " rows=" << rows << " tokens=" << toks << " pair (" << r << "," << t
                  << ")";
            }
        }
  }
}

// The integer sums at their extremes: every code at its largest (15, 31, 63) against
// activations of ±127, where AVX2's int16 partial sums come closest to wrapping (30,720 of
// 32,767 for 4-bit codes): one more step in a partial sum and this fails.
TEST(Packed, KQuantSumsHoldTheLargestCodesAgainstTheLargestActivations) {
  bool ran = false;
  for (const GgmlType type : {GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K})
    for (const PackedFormat* f : packed_formats(type)) {
      ran = true;
      const TypeTraits* t = traits(type);
      const int64_t n = 512, rows = 17, toks = 3;
      const size_t w_row = ggml_row_size(type, n), a_row = ggml_row_size(t->vec_dot_type, n);
      std::vector<uint8_t> w(w_row * rows, 0xFF);
      const uint16_t d = f32_to_fp16(1.0f / 1024);
      const size_t block_bytes = w_row / static_cast<size_t>(n / 256);
      for (int64_t b = 0; b < rows * n / 256; ++b) {
        uint8_t* block = w.data() + static_cast<size_t>(b) * block_bytes;
        if (type == GgmlType::Q6_K) {
          auto* q6 = reinterpret_cast<BlockQ6_K*>(block);
          q6->d = d;
          for (int8_t& sc : q6->scales) sc = 127;
        } else {
          std::memcpy(block, &d, 2);  // d, then dmin: all codes count, the mins' part is zero
          std::memset(block + 2, 0, 2);
        }
      }
      std::vector<float> x(static_cast<size_t>(n * toks));
      for (int64_t i = 0; i < n; ++i) {
        x[static_cast<size_t>(i)] = 1.0f;
        x[static_cast<size_t>(n + i)] = -1.0f;
        x[static_cast<size_t>(2 * n + i)] = i % 2 ? 1.0f : -0.5f;
      }
      std::vector<uint8_t> a(a_row * toks), pa(f->act_row_bytes(n) * toks);
      for (int64_t i = 0; i < toks; ++i) {
        t->from_float_vec_dot(x.data() + i * n, a.data() + i * a_row, n);
        f->convert_act(x.data() + i * n, pa.data() + i * f->act_row_bytes(n), n);
      }
      std::vector<uint8_t> packed(packed_bytes(*f, rows, n));
      f->pack(w.data(), rows, n, 0, (rows + f->group_rows - 1) / f->group_rows, packed.data());
      std::vector<float> got(static_cast<size_t>(rows * toks), NAN), row(static_cast<size_t>(n));
      f->tile(n, packed.data(), f->group_bytes(n), rows, pa.data(), f->act_row_bytes(n), toks, got.data(), rows);
      const VecDotFn reference = dot_kernels(type).front().fn;
      for (int64_t r = 0; r < rows; ++r) {
        t->to_float(w.data() + r * w_row, row.data(), n);
        double sum_abs = 0;
        for (const float v : row) sum_abs += std::fabs(v);
        for (int64_t i = 0; i < toks; ++i) {
          float want = 0;
          reference(n, &want, w.data() + r * w_row, a.data() + i * a_row);
          EXPECT_NEAR(got[static_cast<size_t>(i * rows + r)], want, 2e-5 * sum_abs + 1e-5)
              << f->name << "/" << f->isa << " row " << r << " token " << i;
        }
      }
    }
  if (!ran) GTEST_SKIP() << "this CPU runs no packed k-quant format";
}

// A pair's bits do not depend on the tile: the whole batch, each token alone, a later token as
// the first, and a later group as the first (as the backend's row chunks call it) agree exactly.
TEST(Packed, APairGivesTheSameBitsInAnyTileShape) {
  for (const PackedFormat* f : all_formats()) {
    const int64_t rows = 5 * f->group_rows + 3, toks = 19;
    const Problem p = make_problem(f, row_length(f, 3), rows, toks, 42);
    const std::vector<float> whole = run(p);
    auto same = [&](float a, int64_t r, int64_t t) {
      const float b = whole[static_cast<size_t>(t * rows + r)];
      return std::memcmp(&a, &b, sizeof a) == 0;
    };
    for (int64_t t0 = 1; t0 < toks; t0 += 5) {
      const std::vector<float> tail = run(p, 0, t0);
      for (int64_t t = t0; t < toks; ++t)
        for (int64_t r = 0; r < rows; ++r)
          ASSERT_TRUE(same(tail[static_cast<size_t>((t - t0) * rows + r)], r, t))
              << f->name << " pair (" << r << "," << t << ") from token " << t0;
    }
    for (int64_t t = 0; t < toks; ++t) {
      Problem one = p;
      one.toks = 1;
      one.pa.assign(p.pa.begin() + t * p.p_row, p.pa.begin() + (t + 1) * p.p_row);
      const std::vector<float> alone = run(one);
      for (int64_t r = 0; r < rows; ++r)
        ASSERT_TRUE(same(alone[static_cast<size_t>(r)], r, t)) << f->name << " pair (" << r << "," << t << ") alone";
    }
    for (const int64_t g0 : {1, 2, 4}) {
      const std::vector<float> part = run(p, g0);
      const int64_t r0 = g0 * f->group_rows, nr = rows - r0;
      for (int64_t t = 0; t < toks; ++t)
        for (int64_t r = 0; r < nr; ++r)
          ASSERT_TRUE(same(part[static_cast<size_t>(t * nr + r)], r0 + r, t))
              << f->name << " pair (" << r0 + r << "," << t << ") from group " << g0;
    }
  }
}

TEST(Packed, WritesOnlyTheRowsAskedFor) {
  for (const PackedFormat* f : all_formats()) {
    const int64_t rows = f->group_rows + 5, toks = 3, stride = rows + 9;
    const Problem p = make_problem(f, row_length(f, 2), rows, toks, 8);
    const std::vector<float> out = run(p, 0, 0, stride);
    for (int64_t t = 0; t < toks; ++t)
      for (int64_t c = 0; c < stride; ++c) {
        const float v = out[static_cast<size_t>(t * stride + c)];
        if (c < rows)
          EXPECT_FALSE(std::isnan(v)) << f->name << " row " << c << " token " << t;
        else
          EXPECT_TRUE(std::isnan(v)) << f->name << " column " << c << " token " << t;
      }
  }
}

// The offset-coded Q8_0 activations: the codes and scale of the Q8_0 conversion, 128 × the sum.
TEST(Packed, Q8_0SumActivationsAreTheQ8_0CodesWithTheirSum) {
  for (const PackedFormat* f : packed_formats(GgmlType::Q8_0)) {
    if (std::string(f->name) != "q8_0x16") continue;
    const std::vector<float> x = gaussian(96, 3);
    std::vector<BlockQ8_0> q(3);
    traits(GgmlType::Q8_0)->from_float(x.data(), q.data(), 96);
    std::vector<BlockQ8_0Sum> s(3);
    ASSERT_EQ(f->act_row_bytes(96), sizeof(BlockQ8_0Sum) * 3);
    f->convert_act(x.data(), s.data(), 96);
    for (int i = 0; i < 3; ++i) {
      int sum = 0;
      for (int e = 0; e < 32; ++e) {
        EXPECT_EQ(s[i].qs[e], q[i].qs[e]);
        sum += q[i].qs[e];
      }
      EXPECT_EQ(s[i].sum128, 128 * sum);
      EXPECT_EQ(s[i].d, fp16_to_f32(q[i].d));
    }
  }
}

// Every code of every row lands where packed.h says, for the formats whose layout is simplest
// to state; the k-quant layouts are covered by the pair checks above.
TEST(Packed, Q8_0x16AndF16x16Layouts) {
  for (const PackedFormat* f : all_formats()) {
    const std::string name = f->name;
    if (name != "q8_0x16" && name != "f16x16") continue;
    const int64_t rows = 19, n = 64;
    const Problem p = make_problem(f, n, rows, 1, 11);
    const size_t group = f->group_bytes(n);
    for (int64_t r = 0; r < 32; ++r)
      for (int64_t c = 0; c < n; ++c) {
        const uint8_t* g = p.packed.data() + (r / 16) * group;
        const int64_t j = r % 16;
        if (name == "f16x16") {
          uint16_t got = 0, want = 0;
          std::memcpy(&got, g + 2 * (c * 16 + j), 2);
          if (r < rows) std::memcpy(&want, p.w.data() + r * p.w_row + 2 * c, 2);
          EXPECT_EQ(got, want) << "row " << r << " col " << c;
        } else {
          const uint8_t* block = g + (c / 32) * (32 + 512);
          const auto* src = reinterpret_cast<const BlockQ8_0*>(p.w.data() + r * p.w_row) + c / 32;
          const int e = static_cast<int>(c % 32);
          if (r < rows) {
            EXPECT_EQ(block[32 + 64 * (e / 4) + 4 * j + e % 4], static_cast<uint8_t>(src->qs[e] + 128));
            EXPECT_EQ(std::memcmp(block + 2 * j, &src->d, 2), 0);
          } else {
            EXPECT_EQ(block[2 * j] | block[2 * j + 1], 0) << "padding row " << r << " has a scale";
          }
        }
      }
  }
}

TEST(Packed, TheBackendsChoiceIsTheFirstRunnableFormat) {
  for (const GgmlType t :
       {GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::F16, GgmlType::BF16}) {
    const auto all = packed_formats(t);
    const PackedFormat* chosen = packed_format(t);
    if (all.empty() || scalar_kernels_forced())
      EXPECT_EQ(chosen, nullptr);
    else
      EXPECT_EQ(chosen, all.front());
  }
  EXPECT_EQ(packed_format(GgmlType::Q2_K), nullptr);
}

}  // namespace
}  // namespace hayate::quant
