// The CUDA kernels' dequantization (src/backend/cuda/dequant.cuh, host-and-device code) run on
// the host against the CPU reference, bit for bit, for every weight format: the block layouts
// are checked in every build that has nvcc, with or without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "backend/cuda/dequant.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/matvec_fast.cuh"
#include "backend/cuda/mma_decode.cuh"
#include "core/ggml_types.h"
#include "quant/quant.h"

namespace hayate::cuda {
namespace {

std::vector<uint8_t> quantized(GgmlType type, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> f(static_cast<size_t>(rows * cols));
  for (float& x : f) x = dist(rng) * (1.0f + static_cast<float>(rng() % 4));  // uneven scales
  std::vector<uint8_t> bytes(ggml_row_size(type, cols) * static_cast<size_t>(rows));
  quant::quantize_matrix(type, f.data(), bytes.data(), rows, cols);
  return bytes;
}

template <uint32_t T>
void expect_quant_matches(GgmlType type) {
  const int64_t rows = 5, cols = 256 * 3;
  const auto bytes = quantized(type, rows, cols, 1234 + static_cast<uint32_t>(T));
  const size_t row_bytes = ggml_row_size(type, cols);
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* row = bytes.data() + r * row_bytes;
    std::vector<float> want(static_cast<size_t>(cols)), got(static_cast<size_t>(cols));
    quant::dequantize_row(type, row, want.data(), cols);
    for (int64_t k = 0; k < cols / 32; ++k) dequant_row_chunk<T>(row, k, got.data() + k * 32);
    ASSERT_EQ(got, want) << ggml_type_name(type) << " row " << r;
  }
}

template <uint32_t T>
void expect_float_matches(GgmlType type) {
  const int64_t cols = 77;
  const auto bytes = quantized(type, 1, cols, 99);
  std::vector<float> want(static_cast<size_t>(cols)), got(static_cast<size_t>(cols));
  quant::dequantize_row(type, bytes.data(), want.data(), cols);
  for (int64_t i = 0; i < cols; ++i) got[static_cast<size_t>(i)] = float_elem<T>(bytes.data(), i);
  ASSERT_EQ(got, want) << ggml_type_name(type);
}

TEST(CudaDequant, QuantizedFormatsMatchReferenceBitForBit) {
  expect_quant_matches<kQ8_0>(GgmlType::Q8_0);
  expect_quant_matches<kQ4_0>(GgmlType::Q4_0);
  expect_quant_matches<kQ2_K>(GgmlType::Q2_K);
  expect_quant_matches<kQ3_K>(GgmlType::Q3_K);
  expect_quant_matches<kQ4_K>(GgmlType::Q4_K);
  expect_quant_matches<kQ5_K>(GgmlType::Q5_K);
  expect_quant_matches<kQ6_K>(GgmlType::Q6_K);
}

// The coalesced mat-vec's lanes (matvec_fast.cuh): every lane of every block, its runs of codes
// times their scales less their mins, against the reference's weights at the columns the lane
// claims; together the lanes of a block cover each of its weights once.
template <uint32_t T>
void expect_fast_lanes_match(GgmlType type, int64_t cols) {
  using F = fast::Fast<T>;
  const int64_t rows = 3;
  const auto bytes = quantized(type, rows, cols, 77 + static_cast<uint32_t>(T));
  const size_t row_bytes = ggml_row_size(type, cols);
  ASSERT_EQ(row_bytes, static_cast<size_t>(cols / F::kBlockWeights * F::kBlockBytes));
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* row = bytes.data() + r * row_bytes;
    std::vector<float> want(static_cast<size_t>(cols));
    quant::dequantize_row(type, row, want.data(), cols);
    std::vector<int> seen(static_cast<size_t>(cols), 0);
    for (int64_t b = 0; b < cols / F::kBlockWeights; ++b)
      for (int sub = 0; sub < F::kLanes; ++sub) {
        typename F::Raw raw;
        F::load(row + b * F::kBlockBytes, sub, raw);
        float q[F::kRuns][F::kRunLen], scale[F::kRuns], minc[F::kRuns];
        F::decode(raw, sub, q, scale, minc);
        for (int u = 0; u < F::kRuns; ++u)
          for (int i = 0; i < F::kRunLen; ++i) {
            const int64_t c = b * F::kBlockWeights + F::run_col(sub, u) + i;
            ASSERT_LT(c, cols);
            ++seen[static_cast<size_t>(c)];
            const float w = want[static_cast<size_t>(c)];
            ASSERT_NEAR(scale[u] * q[u][i] - minc[u], w, 1e-6f * (1.0f + std::abs(w)))
                << ggml_type_name(type) << " row " << r << " column " << c << " lane " << sub;
          }
      }
    ASSERT_EQ(std::count(seen.begin(), seen.end(), 1), cols) << ggml_type_name(type);
  }
}

TEST(CudaDequant, CoalescedMatvecLanesMatchReference) {
  expect_fast_lanes_match<kQ4_K>(GgmlType::Q4_K, 256 * 3);
  expect_fast_lanes_match<fast::kQ4_K_Wide>(GgmlType::Q4_K, 256 * 3);
  expect_fast_lanes_match<kQ6_K>(GgmlType::Q6_K, 256 * 3);
  expect_fast_lanes_match<kQ8_0>(GgmlType::Q8_0, 32 * 5);
}

// The tensor-core kernel's per-lane decode (mma_decode.cuh): for every lane, chunk and super-block
// of rows whose 4-byte alignment alternates (Q6_K and Q8_0 super-blocks of 210 and 272 bytes start
// 2-byte aligned every other time), the 8 halves against the reference's weights, and together the
// lanes cover each column once. decode_exact equals the reference rounded to f16, bit for bit;
// decode: Q8_0 is exact (its f16 product rounds once, as the f32 one then
// rounded to f16); the k-quants' f16 arithmetic rounds the sub-block scale and min to f16, so each
// weight is within 2^-10 of its magnitude plus the scale's share (a misplaced weight is not).
template <uint32_t T>
void expect_mma_lanes_match(GgmlType type, int64_t cols) {
  const int64_t rows = 3;
  const auto bytes = quantized(type, rows, cols, 500 + static_cast<uint32_t>(T));
  const auto row_bytes = static_cast<int64_t>(ggml_row_size(type, cols));
  ASSERT_TRUE(matmul_mma_fits(DevWeight{bytes.data(), T, rows, cols, row_bytes})) << ggml_type_name(type);
  using F = mma::Format<T>;
  std::vector<float> want(static_cast<size_t>(cols));
  double err = 0.0, norm = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* row = bytes.data() + r * row_bytes;
    quant::dequantize_row(type, row, want.data(), cols);
    float scale = 0.0f;  // the row's largest weight: a bound on its sub-blocks' scales and mins
    for (float v : want) scale = std::max(scale, std::fabs(v));
    std::vector<int> seen(static_cast<size_t>(cols), 0);
    for (int64_t sb = 0; sb < cols / 256; ++sb)
      for (int q = 0; q < 4; ++q) {
        typename F::Raw raw{};
        F::load(raw, row + sb * F::kBytes, q);
        for (int c = 0; c < 8; ++c) {
          uint32_t words[4], exact[4];
          F::decode(raw, c, q, words);
          F::decode_exact(raw, c, q, exact);
          for (int i = 0; i < 8; ++i) {
            const int64_t col = sb * 256 + 32 * c + 8 * q + i;
            const float ref = want[static_cast<size_t>(col)];
            ASSERT_EQ(static_cast<uint16_t>(exact[i / 2] >> (16 * (i % 2))), __half_as_ushort(__float2half_rn(ref)))
                << ggml_type_name(type) << " (f32 decoding) row " << r << " col " << col << " lane q " << q;
            const float got =
                __half2float(__ushort_as_half(static_cast<unsigned short>(words[i / 2] >> (16 * (i % 2)))));
            if (T == kQ8_0)
              ASSERT_EQ(got, __half2float(__float2half_rn(ref))) << "row " << r << " col " << col << " lane q " << q;
            else
              ASSERT_LE(std::fabs(got - ref), std::ldexp(std::fabs(ref) + scale, -10))
                  << ggml_type_name(type) << " row " << r << " col " << col << " lane q " << q;
            err += (static_cast<double>(got) - ref) * (static_cast<double>(got) - ref);
            norm += static_cast<double>(ref) * ref;
            ++seen[static_cast<size_t>(col)];
          }
        }
      }
    ASSERT_EQ(std::count(seen.begin(), seen.end(), 1), cols) << ggml_type_name(type);
  }
  EXPECT_LT(std::sqrt(err / norm), 1e-3) << ggml_type_name(type);  // f16's own rounding is ~3e-4
}

TEST(CudaDequant, TensorCoreLanesMatchReference) {
  expect_mma_lanes_match<kQ4_K>(GgmlType::Q4_K, 256 * 3);
  expect_mma_lanes_match<kQ5_K>(GgmlType::Q5_K, 256 * 3);
  expect_mma_lanes_match<kQ6_K>(GgmlType::Q6_K, 256 * 4);
  expect_mma_lanes_match<kQ8_0>(GgmlType::Q8_0, 256 * 3);
}

// The shapes the tensor-core kernel refuses (the caller then takes the older batched kernel).
TEST(CudaDequant, TensorCoreKernelFits) {
  alignas(16) static uint8_t data[64];
  auto fits = [](uint32_t t, int64_t cols, int64_t row_bytes, const void* p) {
    return matmul_mma_fits(DevWeight{p, t, 5, cols, row_bytes});
  };
  EXPECT_TRUE(fits(kQ4_K, 256, 144, data));
  EXPECT_TRUE(fits(kQ6_K, 512, 420, data));
  EXPECT_FALSE(fits(kQ6_K, 256 * 3, 630, data));  // rows of an odd count of 210-byte blocks
  EXPECT_FALSE(fits(kQ8_0, 32 * 13, 442, data));  // not whole 256-column steps
  EXPECT_FALSE(fits(kQ4_K, 256, 144, data + 4));  // data not 16-byte aligned
  EXPECT_FALSE(fits(kQ2_K, 256, 84, data));       // a format it has no decoder for
  EXPECT_FALSE(fits(kQ4_K, 256, 160, data));      // padded rows
}

// The coalesced mat-vec's whole indexing (matvec_fast.cuh lane_sums: rows a warp, blocks a lane,
// tokens), run on the CPU: the 32 lanes' sums of each warp against a double-precision product of
// the reference's weights, for rows that leave the last warp part of a group and a block count
// that leaves some lanes idle in the last pass. With bits 8 or 16, the activations are quantized
// first (fast::quantize_act_block / quantize_act16_block, the Q8Act / Q16Act paths) and the
// product is with their values d * q.
template <uint32_t T, int NT, int R>
void expect_lane_sums_match(GgmlType type, int64_t cols, int parts = 1, int bits = 32) {
  const int64_t rows = 7;
  const auto bytes = quantized(type, rows, cols, 300 + static_cast<uint32_t>(T) + NT);
  const size_t row_bytes = ggml_row_size(type, cols);
  std::mt19937 rng(5 + NT);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(NT * cols));
  for (float& v : x) v = dist(rng);
  std::vector<int8_t> xq(x.size());
  std::vector<int16_t> xq16(x.size());
  std::vector<float> xd(x.size() / 32), xv = x;  // xv: the values the product is taken with
  for (size_t b = 0; b < xd.size(); ++b) {
    if (bits == 16) {
      xd[b] = fast::quantize_act16_block(&x[32 * b], &xq16[32 * b]);
      for (int i = 0; i < 32; ++i) xv[32 * b + i] = xd[b] * static_cast<float>(xq16[32 * b + i]);
    } else {
      xd[b] = fast::quantize_act_block(&x[32 * b], &xq[32 * b]);
      if (bits == 8)
        for (int i = 0; i < 32; ++i) xv[32 * b + i] = xd[b] * static_cast<float>(xq[32 * b + i]);
    }
  }
  std::vector<float> w(static_cast<size_t>(cols));
  double err = 0.0, norm = 0.0, quant_err = 0.0;
  for (int64_t row0 = 0; row0 < rows; row0 += R) {
    float got[R][NT] = {};
    for (int part = 0; part < parts; ++part)
      for (int lane = 0; lane < 32; ++lane) {
        float acc[R][NT];
        if (bits == 8)
          fast::lane_sums<T, NT, R>(bytes.data(), rows, cols, static_cast<int64_t>(row_bytes),
                                    fast::Q8Act{xq.data(), xd.data(), cols}, row0, lane, acc, part, parts);
        else if (bits == 16)
          fast::lane_sums<T, NT, R>(bytes.data(), rows, cols, static_cast<int64_t>(row_bytes),
                                    fast::Q16Act{xq16.data(), xd.data(), cols}, row0, lane, acc, part, parts);
        else
          fast::lane_sums<T, NT, R>(bytes.data(), rows, cols, static_cast<int64_t>(row_bytes),
                                    fast::F32Act{x.data(), cols}, row0, lane, acc, part, parts);
        for (int r = 0; r < R; ++r)
          for (int t = 0; t < NT; ++t) got[r][t] += acc[r][t];
      }
    for (int r = 0; r < R && row0 + r < rows; ++r) {
      quant::dequantize_row(type, bytes.data() + (row0 + r) * row_bytes, w.data(), cols);
      for (int t = 0; t < NT; ++t) {
        double want = 0.0, exact = 0.0;
        for (int64_t c = 0; c < cols; ++c) {
          want += static_cast<double>(w[c]) * xv[t * cols + c];
          exact += static_cast<double>(w[c]) * x[t * cols + c];
        }
        err += (got[r][t] - want) * (got[r][t] - want);
        quant_err += (got[r][t] - exact) * (got[r][t] - exact);
        norm += want * want;
      }
    }
  }
  EXPECT_LT(std::sqrt(err / norm), 1e-5) << ggml_type_name(type) << " tokens " << NT << " rows a warp " << R
                                         << " warps a row " << parts << " activation bits " << bits;
  // 8-bit activations move the product by well under a percent of its size, 16-bit ones by 2^-8
  // of that (15 bits: under 1e-4), and f32 not at all beyond rounding.
  EXPECT_LT(std::sqrt(quant_err / norm), bits == 8 ? 1e-2 : bits == 16 ? 1e-4 : 1e-5)
      << ggml_type_name(type) << " activation bits " << bits;
}

// The int8 path: the codes and their dp4a sums against the product with the quantized values, at
// the shapes of the f32 test (each format's runs, tokens, rows a warp, split-K).
TEST(CudaDequant, Int8MatvecSumsMatchQuantizedActivations) {
  expect_lane_sums_match<kQ4_K, 1, 1>(GgmlType::Q4_K, 256 * 5, 1, 8);
  expect_lane_sums_match<kQ4_K, 3, 2>(GgmlType::Q4_K, 256 * 5, 1, 8);
  expect_lane_sums_match<kQ4_K, 8, 4>(GgmlType::Q4_K, 256 * 5, 1, 8);
  expect_lane_sums_match<kQ6_K, 1, 2>(GgmlType::Q6_K, 256 * 5, 1, 8);
  expect_lane_sums_match<kQ6_K, 5, 4>(GgmlType::Q6_K, 256 * 5, 1, 8);
  expect_lane_sums_match<kQ8_0, 2, 1>(GgmlType::Q8_0, 32 * 9, 1, 8);
  expect_lane_sums_match<kQ8_0, 8, 4>(GgmlType::Q8_0, 32 * 9, 1, 8);
  expect_lane_sums_match<kQ4_K, 1, 2>(GgmlType::Q4_K, 256 * 21, 3, 8);
  expect_lane_sums_match<kQ6_K, 1, 2>(GgmlType::Q6_K, 256 * 21, 4, 8);
  expect_lane_sums_match<kQ8_0, 2, 1>(GgmlType::Q8_0, 32 * 45, 4, 8);
  // Q4_K's wide layout, the one the int8 path runs: both activation kinds (the f32 one checks the
  // layout's decoding), rows a warp, tokens, a block count that leaves lanes idle, split-K.
  for (const int bits : {8, 32}) {
    expect_lane_sums_match<fast::kQ4_K_Wide, 1, 1>(GgmlType::Q4_K, 256 * 5, 1, bits);
    expect_lane_sums_match<fast::kQ4_K_Wide, 2, 2>(GgmlType::Q4_K, 256 * 5, 1, bits);
    expect_lane_sums_match<fast::kQ4_K_Wide, 8, 4>(GgmlType::Q4_K, 256 * 7, 1, bits);
    expect_lane_sums_match<fast::kQ4_K_Wide, 1, 2>(GgmlType::Q4_K, 256 * 21, 3, bits);
    expect_lane_sums_match<fast::kQ4_K_Wide, 3, 1>(GgmlType::Q4_K, 256 * 56, 2, bits);
  }
}

// The activations' codes: |q| <= 127, the block's largest value at +-127, zeros for a zero block,
// and rounding to nearest.
TEST(CudaDequant, Int8ActivationBlocks) {
  float x[32];
  int8_t q[32];
  for (int i = 0; i < 32; ++i) x[i] = 0.125f * static_cast<float>(i - 16);  // exact: -2 .. 1.875
  const float d = fast::quantize_act_block(x, q);
  EXPECT_EQ(d, 2.0f / 127.0f);
  EXPECT_EQ(q[0], -127);  // -2, the largest magnitude
  EXPECT_EQ(q[16], 0);
  EXPECT_EQ(q[17], 8);    // 0.125 * 63.5 = 7.9375
  EXPECT_EQ(q[24], 64);   // 63.5 exactly: to the even neighbour
  EXPECT_EQ(q[8], -64);   // -63.5
  EXPECT_EQ(q[31], 119);  // 15 * 7.9375 = 119.0625
  for (int i = 0; i < 32; ++i) EXPECT_LE(std::abs(static_cast<float>(q[i]) * d - x[i]), 0.5f * d + 1e-7f) << i;
  for (float& v : x) v = 0.0f;
  EXPECT_EQ(fast::quantize_act_block(x, q), 0.0f);
  for (const int8_t v : q) EXPECT_EQ(v, 0);
}

TEST(CudaDequant, CoalescedMatvecSumsMatchReference) {
  expect_lane_sums_match<kQ4_K, 1, 1>(GgmlType::Q4_K, 256 * 5);
  expect_lane_sums_match<kQ4_K, 3, 2>(GgmlType::Q4_K, 256 * 5);
  expect_lane_sums_match<kQ4_K, 8, 4>(GgmlType::Q4_K, 256 * 5);
  expect_lane_sums_match<kQ6_K, 1, 2>(GgmlType::Q6_K, 256 * 5);
  expect_lane_sums_match<kQ6_K, 5, 4>(GgmlType::Q6_K, 256 * 5);
  expect_lane_sums_match<kQ8_0, 2, 1>(GgmlType::Q8_0, 32 * 9);
  expect_lane_sums_match<kQ8_0, 8, 4>(GgmlType::Q8_0, 32 * 9);
  // Split-K: the parts' sums together are the product, whether the rounds divide evenly or not,
  // and with more parts than rounds (idle parts add zero).
  expect_lane_sums_match<kQ4_K, 1, 1>(GgmlType::Q4_K, 256 * 21, 2);
  expect_lane_sums_match<kQ4_K, 1, 2>(GgmlType::Q4_K, 256 * 21, 3);
  expect_lane_sums_match<kQ4_K, 1, 2>(GgmlType::Q4_K, 256 * 5, 8);
  expect_lane_sums_match<kQ6_K, 1, 2>(GgmlType::Q6_K, 256 * 21, 4);
  expect_lane_sums_match<kQ8_0, 2, 1>(GgmlType::Q8_0, 32 * 45, 4);
}

// The int16 path (the default): 16-bit activation codes and dp2a pairs, every format and layout the
// mat-vec runs, tokens, rows a warp and split-K, against the product with the quantized values.
TEST(CudaDequant, Int16MatvecSumsMatchQuantizedActivations) {
  expect_lane_sums_match<kQ4_K, 1, 1>(GgmlType::Q4_K, 256 * 5, 1, 16);
  expect_lane_sums_match<kQ4_K, 3, 2>(GgmlType::Q4_K, 256 * 5, 1, 16);
  expect_lane_sums_match<fast::kQ4_K_Wide, 1, 2>(GgmlType::Q4_K, 256 * 21, 3, 16);
  expect_lane_sums_match<fast::kQ4_K_Wide, 8, 4>(GgmlType::Q4_K, 256 * 7, 1, 16);
  expect_lane_sums_match<fast::kQ4_K_Wide, 2, 1>(GgmlType::Q4_K, 256 * 56, 2, 16);
  expect_lane_sums_match<kQ6_K, 1, 2>(GgmlType::Q6_K, 256 * 5, 1, 16);
  expect_lane_sums_match<kQ6_K, 5, 4>(GgmlType::Q6_K, 256 * 21, 4, 16);
  expect_lane_sums_match<kQ8_0, 2, 1>(GgmlType::Q8_0, 32 * 9, 1, 16);
  expect_lane_sums_match<kQ8_0, 8, 4>(GgmlType::Q8_0, 32 * 45, 2, 16);
}

// How many warps share a row (the H100's per-matrix table, docs/cuda.md): Q4_K / Q6_K split only
// matrices of under 2048 warps, Q8_0 takes 2 parts wherever a row has two rounds of loads.
TEST(CudaDequant, SplitPartsFollowTheMeasuredTable) {
  EXPECT_EQ((fast::split_parts<kQ4_K, 1, 2>(4096, 4096)), 1);    // 2048 warps: a split lost 9-18%
  EXPECT_EQ((fast::split_parts<kQ4_K, 1, 1>(1024, 4096)), 2);    // 1024 warps: 2 parts won (639 vs 546 GB/s)
  EXPECT_EQ((fast::split_parts<kQ4_K, 1, 2>(14336, 4096)), 1);   // 7168 warps fill it already
  EXPECT_EQ((fast::split_parts<kQ4_K, 1, 2>(4096, 14336)), 1);   // ffn_down: 1 part best
  EXPECT_EQ((fast::split_parts<kQ6_K, 1, 1>(1024, 4096)), 2);    // 776 GB/s at 2 parts, 679 at 4
  EXPECT_EQ((fast::split_parts<kQ6_K, 1, 2>(128256, 4096)), 1);  // the output layer
  EXPECT_EQ((fast::split_parts<kQ4_K, 1, 2>(4096, 256)), 1);     // one round: nothing to split
  EXPECT_EQ((fast::split_parts<kQ8_0, 1, 2>(4096, 4096)), 2);    // 1,492 GB/s at 2, 1,427 at 4
  EXPECT_EQ((fast::split_parts<kQ8_0, 1, 2>(14336, 4096)), 2);   // 1,827 at 2 parts, 1,587 at 1
  EXPECT_EQ((fast::split_parts<kQ8_0, 1, 1>(256, 32)), 1);       // one block: one round
  EXPECT_EQ((fast::split_parts<kQ4_K, 1, 1>(256, 14336)), 4);    // 256 warps: split until the 7 rounds stop it
}

TEST(CudaDequant, FloatFormatsMatchReference) {
  expect_float_matches<kF32>(GgmlType::F32);
  expect_float_matches<kF16>(GgmlType::F16);
  expect_float_matches<kBF16>(GgmlType::BF16);
}

// The CUDA type list (HAYATE_CUDA_TYPES) is the one type_supported() answers from, and every type
// in it is a weight type of the traits table.
TEST(CudaDequant, TypeListIsWithinTheTraitsTable) {
  std::vector<uint32_t> listed;
#define HAYATE_LIST(T) listed.push_back(T);
  HAYATE_CUDA_TYPES(HAYATE_LIST)
#undef HAYATE_LIST
  for (uint32_t raw = 0; raw < 256; ++raw) {
    const bool in_list = std::find(listed.begin(), listed.end(), raw) != listed.end();
    EXPECT_EQ(type_supported(raw), in_list) << "type " << raw;
    if (in_list) EXPECT_TRUE(quant::is_supported_weight_type(static_cast<GgmlType>(raw))) << "type " << raw;
  }
}

TEST(CudaDequant, TypeNumbersAreGguf) {
  EXPECT_EQ(kQ4_K, static_cast<uint32_t>(GgmlType::Q4_K));
  EXPECT_EQ(kQ6_K, static_cast<uint32_t>(GgmlType::Q6_K));
  EXPECT_EQ(kBF16, static_cast<uint32_t>(GgmlType::BF16));
  EXPECT_EQ(kQ2_K, static_cast<uint32_t>(GgmlType::Q2_K));
  EXPECT_EQ(kQ8_0, static_cast<uint32_t>(GgmlType::Q8_0));
  EXPECT_EQ(kQ4_0, static_cast<uint32_t>(GgmlType::Q4_0));
  EXPECT_EQ(kF16, static_cast<uint32_t>(GgmlType::F16));
  EXPECT_EQ(kQ3_K, static_cast<uint32_t>(GgmlType::Q3_K));
  EXPECT_EQ(kQ5_K, static_cast<uint32_t>(GgmlType::Q5_K));
}

}  // namespace
}  // namespace hayate::cuda
