// Each CUDA backend operation against the reference backend on random inputs of awkward sizes
// (rows and token counts that are not multiples of any tile), per weight format. Outputs are
// poisoned with NaN first. Skips when the build has no CUDA or no device is visible.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "backend/backend.h"
#include "backend_cuda_support.h"
#include "core/error.h"
#include "quant/quant.h"

namespace hayate {
namespace {

using test::HostWeight;  // backend_cuda_support.h
using test::make_weight;

std::vector<float> host_matmul(const Weight& w, const std::vector<float>& x, int64_t n, const Weight* bias) {
  auto ref = make_backend("reference", 1);
  Tensor xt = ref->alloc(n, w.cols);
  std::memcpy(xt.data, x.data(), x.size() * sizeof(float));
  Tensor out = ref->alloc(n, w.rows);
  ref->matmul(w, xt, out, bias);
  return std::vector<float>(out.data, out.data + n * w.rows);
}

void check_matmul(GgmlType type, const std::string& type_name, int n_tokens, int64_t cols);

class CudaMatmul : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(CudaMatmul, MatchesReference) {
  HAYATE_SKIP_WITHOUT_CUDA();
  test::ScopedEnv f32_path("HAYATE_CUDA_MATVEC_INT8", "0");  // Int8MatvecMatchesQuantizedActivations: the int8 one
  const auto [type_name, n_tokens] = GetParam();
  const GgmlType type = *ggml_type_from_name(type_name);
  const int64_t block = ggml_type_info(type).block_size;
  // 37 rows (not a multiple of 8 rows per block); columns a multiple of the format's block.
  // Float rows of 296 columns take the 16-byte-load kernel, 300 the element-wise one.
  // Quantized rows also at a length that takes every lane of a warp more than one pass (the
  // coalesced mat-vec covers 2 super-blocks or 4 Q8_0 blocks a pass) and odd block counts (rows
  // of Q6_K and Q8_0 then start 2-byte aligned only).
  for (const int64_t cols : block == 1    ? std::vector<int64_t>{300, 296}
                            : block == 32 ? std::vector<int64_t>{32 * 13, 32 * 45}
                                          : std::vector<int64_t>{256 * 3, 256 * 9})
    check_matmul(type, type_name, n_tokens, cols);
}

// Quantized weights with more than 8 tokens go through the batched kernel (up to 64 tokens by
// default) or cuBLAS on dequantized f16 tiles: each is checked at every such token count.
void check_matmul_path(GgmlType type, const std::string& type_name, int n_tokens, int64_t cols, const char* path,
                       int64_t rows = 37);

void check_matmul(GgmlType type, const std::string& type_name, int n_tokens, int64_t cols) {
  if (n_tokens <= 8) return check_matmul_path(type, type_name, n_tokens, cols, "mat-vec");
  {
    test::ScopedEnv all_batched("HAYATE_CUDA_BATCHED_MAX_TOKENS", "100000");
    check_matmul_path(type, type_name, n_tokens, cols, "batched");
  }
  test::ScopedEnv no_batched("HAYATE_CUDA_DISABLE", "batched");
  check_matmul_path(type, type_name, n_tokens, cols, "cuBLAS");
}

void check_matmul_path(GgmlType type, const std::string& type_name, int n_tokens, int64_t cols, const char* path,
                       int64_t rows) {
  const HostWeight w = make_weight(type, rows, cols, 11, "w");
  const HostWeight bias = make_weight(GgmlType::F32, 1, rows, 12, "bias");
  const auto x = test::random_floats(static_cast<size_t>(n_tokens * cols), 13);

  auto be = make_cuda_backend(DeviceOptions{});
  be->prepare_weight(w.w);
  be->prepare_weight(bias.w);
  for (const Weight* b : {static_cast<const Weight*>(nullptr), &bias.w}) {
    be->reset_scratch();
    Tensor xt = test::upload(*be, x, n_tokens, cols);
    Tensor out = test::poisoned(*be, n_tokens, rows);
    be->matmul(w.w, xt, out, b);
    const auto got = test::download(*be, out);
    const auto want = host_matmul(w.w, x, n_tokens, b);
    ASSERT_TRUE(test::all_finite(got)) << type_name << ": an output was not written";
    // Up to 8 tokens the mat-vec kernel dequantizes exactly as the reference (f32 sums); more
    // go through the batched kernel or cuBLAS with f16/bf16 operands and f32 sums.
    const double tol = n_tokens <= 8 ? 1e-5 : (type == GgmlType::BF16 ? 1e-2 : 3e-3);
    EXPECT_LT(test::relative_l2(got, want), tol)
        << type_name << " tokens " << n_tokens << " cols " << cols << (b ? " with bias" : "") << " (" << path << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllFormats, CudaMatmul,
    ::testing::Combine(::testing::Values("f32", "f16", "bf16", "q8_0", "q4_0", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K"),
                       ::testing::Values(1, 2, 3, 4, 5, 6, 7, 8, 9, 64, 77)),
    [](const auto& info) { return std::get<0>(info.param) + "_" + std::to_string(std::get<1>(info.param)); });

// The coalesced mat-vec (Q4_K, Q6_K, Q8_0; on with HAYATE_CUDA_MATVEC_FAST=1) at 1..8 tokens with
// 1, 2 and 4 rows a warp and 1, 2 and 8 warps a row, each forced at 39 rows (the last warp holds part of a group) and
// at two row lengths (one pass of a warp's lanes and several), then its default on 4099 rows. The older kernels (its
// default off, or HAYATE_CUDA_DISABLE) are checked for the same formats.
TEST(CudaMatmul, MatvecRowsPerWarpAndOlderKernels) {
  HAYATE_SKIP_WITHOUT_CUDA();
  test::ScopedEnv f32_path("HAYATE_CUDA_MATVEC_INT8", "0");
  for (const char* type_name : {"q4_K", "q6_K", "q8_0"}) {
    const GgmlType type = *ggml_type_from_name(type_name);
    const bool small_blocks = ggml_type_info(type).block_size == 32;
    {
      test::ScopedEnv fast("HAYATE_CUDA_MATVEC_FAST", "1");
      for (const int64_t cols :
           small_blocks ? std::vector<int64_t>{32 * 13, 32 * 45} : std::vector<int64_t>{768, 2304}) {
        for (const char* rows_per_warp : {"1", "2", "4"}) {
          test::ScopedEnv forced("HAYATE_CUDA_MATVEC_ROWS", rows_per_warp);
          // Warps to a row: one (no split), two, and eight (more parts than rounds: idle parts).
          for (const char* parts : {"1", "2", "8"}) {
            test::ScopedEnv split("HAYATE_CUDA_MATVEC_PARTS", parts);
            const std::string path =
                std::string("coalesced mat-vec, rows a warp ") + rows_per_warp + ", warps a row " + parts;
            for (int n = 1; n <= 8; ++n) check_matmul_path(type, type_name, n, cols, path.c_str(), 39);
          }
        }
        for (const int n : {1, 2, 5}) check_matmul_path(type, type_name, n, cols, "coalesced mat-vec, 4099 rows", 4099);
        if (type == GgmlType::Q4_K) {  // its one-token kernels built for 4 blocks an SM
          test::ScopedEnv occ("HAYATE_CUDA_MATVEC_OCC", "4");
          for (const char* rows_per_warp : {"1", "2"}) {
            test::ScopedEnv forced("HAYATE_CUDA_MATVEC_ROWS", rows_per_warp);
            check_matmul_path(type, type_name, 1, cols, "coalesced mat-vec, 4 blocks an SM", 39);
          }
          check_matmul_path(type, type_name, 1, cols, "coalesced mat-vec, 4 blocks an SM, 4099 rows", 4099);
        }
      }
    }
    const int64_t cols = small_blocks ? 32 * 13 : 256 * 3;
    for (const char* off : {"matvec_fast", "matvec_fast,matvec_q4k"}) {
      test::ScopedEnv fast("HAYATE_CUDA_MATVEC_FAST", "1");
      test::ScopedEnv older("HAYATE_CUDA_DISABLE", off);
      for (const int n : {1, 3, 8}) check_matmul_path(type, type_name, n, cols, off);
    }
  }
}

// The coalesced mat-vec's integer-code paths (HAYATE_CUDA_MATVEC_INT8=all: 8-bit codes, Q8_0
// too; 16: 16-bit codes, the default): the activations quantized on the device the way
// fast::quantize_act_block / quantize_act16_block do it on the host, so the output is the
// reference's product with those quantized values within f32 rounding (1e-5), at 1..8 tokens,
// each rows-a-warp and split, then on 4099 rows; and the fused gate/up/SwiGLU form likewise.
void expect_integer_matvec_matches(const char* mode, float levels, double max_moved) {
  test::ScopedEnv codes("HAYATE_CUDA_MATVEC_INT8", mode);
  // Blocks of 32: scale max|x| / levels, codes round(x * levels / max|x|) to nearest, ties to even.
  auto quantized_x = [levels](std::vector<float> x) {
    for (size_t b = 0; b + 32 <= x.size(); b += 32) {
      float amax = 0.0f;
      for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(x[b + i]));
      const float d = amax / levels, inverse = amax > 0.0f ? levels / amax : 0.0f;
      for (int i = 0; i < 32; ++i) x[b + i] = d * std::nearbyint(x[b + i] * inverse);
    }
    return x;
  };
  for (const char* type_name : {"q4_K", "q6_K", "q8_0"}) {
    const GgmlType type = *ggml_type_from_name(type_name);
    const int64_t cols = ggml_type_info(type).block_size == 32 ? 32 * 45 : 256 * 9;
    for (const int64_t rows : {int64_t{39}, int64_t{4099}}) {
      const HostWeight w = make_weight(type, rows, cols, 61, "w");
      const HostWeight g = make_weight(type, rows, cols, 62, "gate"), u = make_weight(type, rows, cols, 63, "up");
      for (const char* rows_per_warp : {"1", "2", "4"})
        for (const char* parts : {"1", "2"}) {
          test::ScopedEnv forced("HAYATE_CUDA_MATVEC_ROWS", rows_per_warp);
          test::ScopedEnv split("HAYATE_CUDA_MATVEC_PARTS", parts);
          test::ScopedEnv fused("HAYATE_CUDA_SWIGLU_FUSED", "1");
          auto be = make_cuda_backend(DeviceOptions{});
          for (const HostWeight* h : {&w, &g, &u}) be->prepare_weight(h->w);
          auto ref = make_backend("reference", 1);
          for (int n = 1; n <= 8; ++n) {
            const auto x = test::random_floats(static_cast<size_t>(n * cols), 70 + n);
            const auto xq = quantized_x(x);
            be->reset_scratch();
            Tensor xt = test::upload(*be, x, n, cols);
            Tensor out = test::poisoned(*be, n, rows), sw = test::poisoned(*be, n, rows);
            be->matmul(w.w, xt, out, nullptr);
            be->matmul_swiglu(g.w, u.w, xt, sw);
            Tensor rx = ref->alloc(n, cols), rout = ref->alloc(n, rows), rsw = ref->alloc(n, rows);
            std::memcpy(rx.data, xq.data(), xq.size() * sizeof(float));
            ref->matmul(w.w, rx, rout, nullptr);
            ref->matmul_swiglu(g.w, u.w, rx, rsw);
            const std::string what = std::string(mode) + " " + type_name + " rows " + std::to_string(rows) + " rows a warp " +
                                     rows_per_warp + " parts " + parts + " tokens " + std::to_string(n);
            const auto got = test::download(*be, out), got_sw = test::download(*be, sw);
            ASSERT_TRUE(test::all_finite(got) && test::all_finite(got_sw)) << what;
            EXPECT_LT(test::relative_l2(got, std::vector<float>(rout.data, rout.data + n * rows)), 1e-5) << what;
            EXPECT_LT(test::relative_l2(got_sw, std::vector<float>(rsw.data, rsw.data + n * rows)), 1e-5)
                << what << " swiglu";
            // Against the unquantized activations: the codes' rounding, small but not nothing.
            const double moved = test::relative_l2(got, host_matmul(w.w, x, n, nullptr));
            EXPECT_GT(moved, 1e-7) << what;
            EXPECT_LT(moved, max_moved) << what;
          }
        }
    }
  }
}

TEST(CudaMatmul, Int8MatvecMatchesQuantizedActivations) {
  HAYATE_SKIP_WITHOUT_CUDA();
  expect_integer_matvec_matches("all", 127.0f, 1e-2);
}

TEST(CudaMatmul, Int16MatvecMatchesQuantizedActivations) {
  HAYATE_SKIP_WITHOUT_CUDA();
  expect_integer_matvec_matches("16", 32767.0f, 1e-4);
}

// The F16/BF16 16-byte mat-vec with 1, 2 and 8 warps a row (split-K; 8 leaves parts idle) on
// rows of three rounds of loads, the last one partial, then its default on 1029 rows (two parts).
TEST(CudaMatmul, HalfMatvecWarpsPerRow) {
  HAYATE_SKIP_WITHOUT_CUDA();
  for (const char* type_name : {"f16", "bf16"}) {
    const GgmlType type = *ggml_type_from_name(type_name);
    for (const char* parts : {"1", "2", "8"}) {
      test::ScopedEnv split("HAYATE_CUDA_MATVEC_PARTS", parts);
      const std::string path = std::string("16-byte mat-vec, warps a row ") + parts;
      for (int n = 1; n <= 8; ++n) check_matmul_path(type, type_name, n, 2056, path.c_str(), 39);
    }
    for (const int n : {1, 3, 8}) check_matmul_path(type, type_name, n, 2056, "16-byte mat-vec, 1029 rows", 1029);
  }
}

// be.matmul into outputs 3 floats a token wider than the weight's rows, NaN-poisoned: the rows'
// outputs (dense) and whether the floats past them stayed NaN.
struct WideOut {
  std::vector<float> dense;
  bool past_rows_untouched = true;
};
WideOut matmul_wide(Backend& be, const Weight& w, const std::vector<float>& x, int n, const Weight* bias) {
  const int64_t rows = w.rows, ld = rows + 3;
  be.reset_scratch();
  Tensor xt = test::upload(be, x, n, w.cols);
  Tensor out = test::poisoned(be, n, ld);
  be.matmul(w, xt, out, bias);
  const auto got = test::download(be, out);
  WideOut r;
  for (int t = 0; t < n; ++t) {
    r.dense.insert(r.dense.end(), got.begin() + t * ld, got.begin() + t * ld + rows);
    for (int64_t i = rows; i < ld; ++i) r.past_rows_untouched &= std::isnan(got[static_cast<size_t>(t * ld + i)]);
  }
  return r;
}

// The fused gate/up/SwiGLU mat-vec (matmul_swiglu, HAYATE_CUDA_SWIGLU_FUSED=1) against the
// reference's two matmuls and swiglu, at 1..8 tokens, a tail warp (39 rows) and many blocks (4099
// rows); and its fallback (HAYATE_CUDA_DISABLE=swiglu_fused, and more tokens than the mat-vec
// takes) the same way.
TEST(CudaMatmul, FusedGateUpSwiglu) {
  HAYATE_SKIP_WITHOUT_CUDA();
  test::ScopedEnv f32_path("HAYATE_CUDA_MATVEC_INT8", "0");
  for (const char* type_name : {"q4_K", "q6_K", "q8_0"}) {
    const GgmlType type = *ggml_type_from_name(type_name);
    const int64_t cols = ggml_type_info(type).block_size == 32 ? 32 * 45 : 256 * 9;
    for (const int64_t rows : {int64_t{39}, int64_t{4099}}) {
      const HostWeight g = make_weight(type, rows, cols, 21, "gate"), u = make_weight(type, rows, cols, 22, "up");
      for (const char* off : {"", "swiglu_fused"}) {
        test::ScopedEnv fused("HAYATE_CUDA_SWIGLU_FUSED", "1");
        test::ScopedEnv disable("HAYATE_CUDA_DISABLE", off);
        auto be = make_cuda_backend(DeviceOptions{});
        be->prepare_weight(g.w);
        be->prepare_weight(u.w);
        for (const int n : {1, 2, 3, 5, 8, 9}) {
          const auto x = test::random_floats(static_cast<size_t>(n * cols), 23 + n);
          be->reset_scratch();
          Tensor xt = test::upload(*be, x, n, cols);
          Tensor out = test::poisoned(*be, n, rows);
          be->matmul_swiglu(g.w, u.w, xt, out);
          const auto got = test::download(*be, out);
          auto ref = make_backend("reference", 1);
          Tensor rx = ref->alloc(n, cols), rout = ref->alloc(n, rows);
          std::memcpy(rx.data, x.data(), x.size() * sizeof(float));
          ref->matmul_swiglu(g.w, u.w, rx, rout);
          const std::vector<float> want(rout.data, rout.data + n * rows);
          ASSERT_TRUE(test::all_finite(got)) << type_name << " rows " << rows << " tokens " << n;
          EXPECT_LT(test::relative_l2(got, want), n <= 8 ? 1e-5 : 3e-3)
              << type_name << " rows " << rows << " tokens " << n << " disabled '" << off << "'";
        }
      }
    }
  }
}

// With and without the L2 prefetch (a hint, so the same sums). The tensor-core kernel, which
// would take most of these shapes, is off here: TensorCoreKernel below checks it.
TEST(CudaMatmul, BatchedTilesSplitsAndTokenBlocks) {
  HAYATE_SKIP_WITHOUT_CUDA();
  test::ScopedEnv all_batched("HAYATE_CUDA_BATCHED_MAX_TOKENS", "100000");
  test::ScopedEnv no_mma("HAYATE_CUDA_DISABLE", "mma");
  for (const char* prefetch : {"0", "1"}) {
    test::ScopedEnv prefetch_env("HAYATE_CUDA_BATCHED_PREFETCH", prefetch);
    for (const GgmlType type : {GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_0}) {
      for (const int64_t cols : {int64_t{256}, int64_t{4096}}) {
        const int64_t rows = 300;
        const HostWeight w = make_weight(type, rows, cols, 91, "w");
        auto be = make_cuda_backend(DeviceOptions{});
        be->prepare_weight(w.w);
        for (const int n : {9, 40, 130}) {
          const auto x = test::random_floats(static_cast<size_t>(n * cols), 92 + n);
          const WideOut got = matmul_wide(*be, w.w, x, n, nullptr);  // rows apart by more than the weight's
          ASSERT_TRUE(test::all_finite(got.dense)) << "an output was not written";
          EXPECT_LT(test::relative_l2(got.dense, host_matmul(w.w, x, n, nullptr)), 3e-3)
              << ggml_type_name(type) << " cols " << cols << " tokens " << n << " prefetch " << prefetch;
        }
      }
    }
  }
}

// The tensor-core kernel (matmul_mma.cu) for every format it reads, at token counts that leave
// partial 8-token tiles and 64-token blocks, over 300 rows (the last 128-row tile partly empty),
// columns split over blocks (512, 2048) and not (256: one super-block), with and without bias,
// in its 1- and 2-blocks-per-SM builds, decoding in f16 and in f32. The shapes are ones matmul_mma_fits takes
// (backend_cuda_dequant_test checks that, and each lane's decoding, on the CPU).
TEST(CudaMatmul, TensorCoreKernel) {
  HAYATE_SKIP_WITHOUT_CUDA();
  test::ScopedEnv all_mma("HAYATE_CUDA_MMA_MAX_TOKENS", "100000");
  const int64_t rows = 300;
  for (const GgmlType type : {GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q8_0}) {
    for (const int64_t cols : {type == GgmlType::Q6_K ? int64_t{512} : int64_t{256}, int64_t{2048}}) {
      const HostWeight w = make_weight(type, rows, cols, 93, "w");
      const HostWeight bias = make_weight(GgmlType::F32, 1, rows, 94, "bias");
      for (const int n : {9, 16, 33, 64, 100, 512}) {
        if (n == 512 && cols == 2048) continue;  // the reference's time; 512 tokens run at 256/512 columns
        const Weight* b = n % 2 ? &bias.w : nullptr;
        const auto x = test::random_floats(static_cast<size_t>(n * cols), 95 + n);
        const auto want = host_matmul(w.w, x, n, b);
        for (const char* variant : {"1 0", "2 0", "1 1", "2 1"}) {  // blocks a SM, exact decoding
          const std::string blocks(variant, 1);
          test::ScopedEnv blocks_env("HAYATE_CUDA_MMA_BLOCKS", blocks.c_str());
          test::ScopedEnv exact_env("HAYATE_CUDA_MMA_EXACT", variant + 2);
          auto be = make_cuda_backend(DeviceOptions{});
          be->prepare_weight(w.w);
          be->prepare_weight(bias.w);
          const WideOut got = matmul_wide(*be, w.w, x, n, b);
          ASSERT_TRUE(test::all_finite(got.dense)) << ggml_type_name(type) << ": an output was not written";
          ASSERT_TRUE(got.past_rows_untouched) << ggml_type_name(type) << ": wrote past the rows";
          EXPECT_LT(test::relative_l2(got.dense, want), 3e-3)
              << ggml_type_name(type) << " cols " << cols << " tokens " << n << " blocks a SM, exact " << variant
              << (b ? " with bias" : "");
        }
      }
    }
  }
}

class CudaGetRows : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaGetRows, MatchesDequantize) {
  HAYATE_SKIP_WITHOUT_CUDA();
  const GgmlType type = *ggml_type_from_name(GetParam());
  const int64_t block = ggml_type_info(type).block_size;
  const int64_t rows = 29, cols = block == 1 ? 70 : 256 * 2;
  const HostWeight w = make_weight(type, rows, cols, 21, "table");
  const std::vector<int32_t> ids = {28, 0, 5, 5, 17};
  auto be = make_cuda_backend(DeviceOptions{});
  be->prepare_weight(w.w);
  be->reset_scratch();
  Tensor out = test::poisoned(*be, static_cast<int64_t>(ids.size()), cols);
  be->get_rows(w.w, ids, out);
  const auto got = test::download(*be, out);
  std::vector<float> want(got.size());
  for (size_t i = 0; i < ids.size(); ++i) quant::dequantize_row(type, w.w.row(ids[i]), want.data() + i * cols, cols);
  EXPECT_EQ(got, want) << GetParam() << ": dequantization must be exact";
  EXPECT_THROW(be->get_rows(w.w, std::vector<int32_t>{29}, out), Error);
}

INSTANTIATE_TEST_SUITE_P(AllFormats, CudaGetRows,
                         ::testing::Values("f32", "f16", "bf16", "q8_0", "q4_0", "q2_K", "q3_K", "q4_K", "q5_K",
                                           "q6_K"));

TEST(CudaOps, RmsNormRowsAndHeadsInPlace) {
  HAYATE_SKIP_WITHOUT_CUDA();
  auto be = make_cuda_backend(DeviceOptions{});
  auto ref = make_backend("reference", 1);
  // 4096: the register path at its model size; 9000: past kNormRegs, the loop.
  for (const int64_t group : {int64_t{300}, int64_t{48}, int64_t{4096}, int64_t{9000}}) {
    const int64_t rows = 5, cols = group == 48 ? 48 * 7 : group;
    const HostWeight w = make_weight(GgmlType::F32, 1, group, 31, "norm");
    const auto x = test::random_floats(static_cast<size_t>(rows * cols), 32, 3.0f);
    be->prepare_weight(w.w);
    be->reset_scratch();
    Tensor xt = test::upload(*be, x, rows, cols);
    be->rms_norm(xt, w.w, 1e-5f, xt);
    const auto got = test::download(*be, xt);
    Tensor h = ref->alloc(rows, cols);
    std::memcpy(h.data, x.data(), x.size() * sizeof(float));
    ref->rms_norm(h, w.w, 1e-5f, h);
    EXPECT_LT(test::relative_l2(got, std::vector<float>(h.data, h.data + rows * cols)), 1e-5) << group;
  }
}

TEST(CudaOps, RopeBothStylesWithFactors) {
  HAYATE_SKIP_WITHOUT_CUDA();
  auto be = make_cuda_backend(DeviceOptions{});
  auto ref = make_backend("reference", 1);
  const std::vector<float> factors = test::random_floats(16, 41, 0.1f);
  std::vector<float> f(16);
  for (size_t i = 0; i < 16; ++i) f[i] = 1.0f + std::fabs(factors[i]);
  for (const RopeType type : {RopeType::Norm, RopeType::Neox}) {
    for (const float* ff : {static_cast<const float*>(nullptr), static_cast<const float*>(f.data())}) {
      RopeParams p;
      p.attn_factor = ff ? 1.3f : 1.0f;  // LongRoPE's factor comes with its frequency factors
      p.type = type;
      p.head_dim = 48;
      p.n_rot = 32;  // partial rotation: dims 32..47 stay
      p.theta = 500000.0f;
      p.freq_scale = 0.5f;
      p.freq_factors = ff;
      const int64_t rows = 6, heads = 3, cols = heads * 48;
      const std::vector<int32_t> pos = {0, 1, 7, 255, 1000, 3};
      const auto x = test::random_floats(static_cast<size_t>(rows * cols), 42);
      be->reset_scratch();
      Tensor xt = test::upload(*be, x, rows, cols);
      be->rope(xt, static_cast<int32_t>(heads), pos, p);
      const auto got = test::download(*be, xt);
      Tensor h = ref->alloc(rows, cols);
      std::memcpy(h.data, x.data(), x.size() * sizeof(float));
      ref->rope(h, static_cast<int32_t>(heads), pos, p);
      EXPECT_LT(test::relative_l2(got, std::vector<float>(h.data, h.data + rows * cols)), 1e-5);
    }
  }
}

TEST(CudaOps, SwigluAddCopyRows) {
  HAYATE_SKIP_WITHOUT_CUDA();
  auto be = make_cuda_backend(DeviceOptions{});
  const int64_t rows = 7, cols = 333;
  const auto g = test::random_floats(rows * cols, 51, 2.0f), u = test::random_floats(rows * cols, 52);
  be->reset_scratch();
  Tensor gt = test::upload(*be, g, rows, cols), ut = test::upload(*be, u, rows, cols);
  be->swiglu(gt, ut, gt);
  be->add(gt, ut);
  Tensor picked = test::poisoned(*be, 3, cols);
  const std::vector<int32_t> pick = {6, 0, 3};
  be->copy_rows(gt, pick, picked);
  const auto got = test::download(*be, picked);
  std::vector<float> want;
  for (int32_t r : pick)
    for (int64_t c = 0; c < cols; ++c) {
      const float gv = g[r * cols + c], uv = u[r * cols + c];
      want.push_back(gv / (1.0f + std::exp(-gv)) * uv + uv);
    }
  EXPECT_LT(test::relative_l2(got, want), 1e-6);
}

TEST(CudaOps, GegluAndScale) {
  HAYATE_SKIP_WITHOUT_CUDA();
  auto be = make_cuda_backend(DeviceOptions{});
  auto ref = make_backend("reference", 1);
  const int64_t rows = 5, cols = 301;
  const auto g = test::random_floats(rows * cols, 53, 3.0f), u = test::random_floats(rows * cols, 54);
  be->reset_scratch();
  Tensor gt = test::upload(*be, g, rows, cols), ut = test::upload(*be, u, rows, cols);
  Tensor out = test::poisoned(*be, rows, cols);
  be->geglu(gt, ut, out);
  be->scale(out, -0.375f);
  be->geglu(gt, ut, gt);  // in place, as the forward pass calls it
  const auto got = test::download(*be, out), got_in_place = test::download(*be, gt);
  Tensor hg = test::upload(*ref, g, rows, cols), hu = test::upload(*ref, u, rows, cols);
  Tensor hout = ref->alloc(rows, cols);
  ref->geglu(hg, hu, hout);
  const auto gelu = test::download(*ref, hout);
  ref->scale(hout, -0.375f);
  EXPECT_LT(test::relative_l2(got, test::download(*ref, hout)), 1e-6);
  EXPECT_LT(test::relative_l2(got_in_place, gelu), 1e-6);
}

// A sliding window on one layer of two: prompt-shaped batches (which take the split kernel on the
// windowed layer and the tiled one on the other) and decode tokens spanning several chunks, each
// token attending to its last `window` positions only, against the reference backend.
TEST(CudaOps, WindowedPagedAttentionMatchesReference) {
  HAYATE_SKIP_WITHOUT_CUDA();
  HParams hp;
  hp.n_layer = 2;
  hp.n_head = 4;
  hp.n_head_kv = 2;
  hp.head_dim = 64;
  hp.sliding_window = 37;
  hp.swa_layers = {false, true};
  const int32_t kv_dim = hp.kv_dim(), q_dim = hp.q_dim(), bs = 16, n_blocks = 24;
  auto be = make_cuda_backend(DeviceOptions{});
  auto ref = make_backend("reference", 1);
  auto kv = be->make_kv_cache(hp, n_blocks, bs);
  auto kv_ref = ref->make_kv_cache(hp, n_blocks, bs);
  EXPECT_EQ(kv->sliding_window, 37);
  EXPECT_EQ(kv->window_layers, hp.swa_layers);
  std::vector<int32_t> table;
  for (int i = 0; i < n_blocks; ++i) table.push_back((i * 5 + 2) % n_blocks);
  const int32_t len = 300;
  for (int32_t layer = 0; layer < 2; ++layer) {
    for (int32_t start = 0; start < len; start += 100) {
      Batch b;
      b.sequences = {{table}};
      for (int32_t p = start; p < start + 100; ++p) b.add(0, p, 0, true);
      const int64_t n = static_cast<int64_t>(b.size());
      const auto k = test::random_floats(n * kv_dim, 80 + start), v = test::random_floats(n * kv_dim, 81 + start);
      const auto q = test::random_floats(n * q_dim, 82 + start, 0.3f);
      be->reset_scratch();
      Tensor kt = test::upload(*be, k, n, kv_dim), vt = test::upload(*be, v, n, kv_dim);
      Tensor qt = test::upload(*be, q, n, q_dim), out = test::poisoned(*be, n, q_dim);
      be->store_kv(*kv, layer, kt, vt, b);
      be->attention(*kv, layer, qt, b, hp.n_head, hp.n_head_kv, hp.head_dim, out);
      const auto got = test::download(*be, out);
      Tensor hk = test::upload(*ref, k, n, kv_dim), hv = test::upload(*ref, v, n, kv_dim);
      Tensor hq = test::upload(*ref, q, n, q_dim), hout = ref->alloc(n, q_dim);
      ref->store_kv(*kv_ref, layer, hk, hv, b);
      ref->attention(*kv_ref, layer, hq, b, hp.n_head, hp.n_head_kv, hp.head_dim, hout);
      ASSERT_TRUE(test::all_finite(got)) << "layer " << layer << " batch from " << start;
      EXPECT_LT(test::relative_l2(got, test::download(*ref, hout)), 1e-5)
          << "layer " << layer << " batch from " << start;
    }
    for (const int32_t pos : {len - 1, 40, 20}) {  // 16-position chunks before the window stay empty
      Batch d;
      d.sequences = {{table}};
      d.add(0, pos, 0, true);
      const auto q = test::random_floats(q_dim, 90 + pos, 0.3f);
      be->reset_scratch();
      Tensor qt = test::upload(*be, q, 1, q_dim), out = test::poisoned(*be, 1, q_dim);
      be->attention(*kv, layer, qt, d, hp.n_head, hp.n_head_kv, hp.head_dim, out);
      const auto got = test::download(*be, out);
      Tensor hq = test::upload(*ref, q, 1, q_dim), hout = ref->alloc(1, q_dim);
      ref->attention(*kv_ref, layer, hq, d, hp.n_head, hp.n_head_kv, hp.head_dim, hout);
      ASSERT_TRUE(test::all_finite(got)) << "layer " << layer << " position " << pos;
      EXPECT_LT(test::relative_l2(got, test::download(*ref, hout)), 1e-5) << "layer " << layer << " position " << pos;
    }
  }
}

// Keys and values of two sequences with scattered blocks, one long enough to be split into
// several chunks, then attention of a mixed batch against the reference backend: the prompt
// batches through the tiled prefill kernel (default) and through the split kernel, decode
// batches in 16-position chunks (default) and 64-position ones.
TEST(CudaOps, PagedAttentionMatchesReference) {
  HAYATE_SKIP_WITHOUT_CUDA();
  for (const char* off : {"", "prefill", "short_chunks"})
    for (const int32_t head_dim : {64, 80, 128, 256}) {
      SCOPED_TRACE(std::string("HAYATE_CUDA_DISABLE='") + off + "'");
      test::ScopedEnv disable("HAYATE_CUDA_DISABLE", off);
      HParams hp;
      hp.n_layer = 2;
      hp.n_head = 6;
      hp.n_head_kv = 2;
      hp.head_dim = head_dim;
      const int32_t kv_dim = hp.kv_dim(), q_dim = hp.q_dim(), bs = 16, n_blocks = 64;
      auto be = make_cuda_backend(DeviceOptions{});
      auto ref = make_backend("reference", 1);
      auto kv = be->make_kv_cache(hp, n_blocks, bs);
      auto kv_ref = ref->make_kv_cache(hp, n_blocks, bs);
      std::vector<int32_t> table_a, table_b;
      for (int i = 0; i < 45; ++i) table_a.push_back((i * 7 + 3) % 45);  // a permutation of 0..44
      for (int i = 0; i < 8; ++i) table_b.push_back(63 - i);
      const int32_t len_a = 700, len_b = 100;  // 700 positions: several 256- and 64-chunks
      // Fill both caches through store_kv, in batches of mixed sequences.
      for (int32_t start = 0; start < len_a; start += 200) {
        Batch b;
        b.sequences = {{table_a}, {table_b}};
        for (int32_t p = start; p < std::min(len_a, start + 200); ++p) b.add(0, p, 0, false);
        for (int32_t p = start; p < std::min(len_b, start + 200); ++p) b.add(0, p, 1, false);
        const int64_t n = static_cast<int64_t>(b.size());
        const auto k = test::random_floats(n * kv_dim, 60 + start), v = test::random_floats(n * kv_dim, 61 + start);
        const auto q = test::random_floats(n * q_dim, 62 + start, 0.3f);
        be->reset_scratch();
        Tensor kt = test::upload(*be, k, n, kv_dim), vt = test::upload(*be, v, n, kv_dim);
        Tensor qt = test::upload(*be, q, n, q_dim);
        be->store_kv(*kv, 1, kt, vt, b);
        Tensor out = test::poisoned(*be, n, q_dim);
        be->attention(*kv, 1, qt, b, hp.n_head, hp.n_head_kv, head_dim, out);
        const auto got = test::download(*be, out);

        Tensor hk = ref->alloc(n, kv_dim), hv = ref->alloc(n, kv_dim), hq = ref->alloc(n, q_dim);
        std::memcpy(hk.data, k.data(), k.size() * 4);
        std::memcpy(hv.data, v.data(), v.size() * 4);
        std::memcpy(hq.data, q.data(), q.size() * 4);
        ref->store_kv(*kv_ref, 1, hk, hv, b);
        Tensor hout = ref->alloc(n, q_dim);
        ref->attention(*kv_ref, 1, hq, b, hp.n_head, hp.n_head_kv, head_dim, hout);
        ASSERT_TRUE(test::all_finite(got)) << "head_dim " << head_dim;
        EXPECT_LT(test::relative_l2(got, std::vector<float>(hout.data, hout.data + n * q_dim)), 1e-5)
            << "head_dim " << head_dim << " batch from " << start;
      }
      // Decode-shaped batches: one token of each sequence at its last position (many 16-position
      // chunks), then one token at position 9 (a single chunk: no combine kernel).
      for (const bool single_chunk : {false, true}) {
        Batch d;
        d.sequences = {{table_a}, {table_b}};
        if (single_chunk) {
          d.add(0, 9, 1, true);
        } else {
          d.add(0, len_a - 1, 0, true);
          d.add(0, len_b - 1, 1, true);
        }
        const auto nd = static_cast<int64_t>(d.size());
        const auto q = test::random_floats(nd * q_dim, 70, 0.3f);
        be->reset_scratch();
        Tensor qt = test::upload(*be, q, nd, q_dim);
        Tensor out = test::poisoned(*be, nd, q_dim);
        be->attention(*kv, 1, qt, d, hp.n_head, hp.n_head_kv, head_dim, out);
        const auto got = test::download(*be, out);
        Tensor hq = ref->alloc(nd, q_dim), hout = ref->alloc(nd, q_dim);
        std::memcpy(hq.data, q.data(), q.size() * 4);
        ref->attention(*kv_ref, 1, hq, d, hp.n_head, hp.n_head_kv, head_dim, hout);
        ASSERT_TRUE(test::all_finite(got)) << "head_dim " << head_dim << " single chunk " << single_chunk;
        EXPECT_LT(test::relative_l2(got, std::vector<float>(hout.data, hout.data + nd * q_dim)), 1e-5)
            << "head_dim " << head_dim << " single chunk " << single_chunk;
      }
    }
}

TEST(CudaOps, ErrorsAreClear) {
  HAYATE_SKIP_WITHOUT_CUDA();
  auto be = make_cuda_backend(DeviceOptions{});
  const HostWeight w = make_weight(GgmlType::Q8_0, 4, 64, 81, "never.uploaded");
  be->reset_scratch();
  Tensor x = test::upload(*be, test::random_floats(64, 82), 1, 64);
  Tensor out = be->alloc(1, 4);
  try {
    be->matmul(w.w, x, out);
    FAIL() << "matmul of a weight that was never uploaded must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("never.uploaded"), std::string::npos) << e.what();
  }
  DeviceOptions tiny;
  tiny.gpu_memory_fraction = 1e-9;  // a few bytes: the cuBLAS workspace cannot fit
  EXPECT_THROW(make_cuda_backend(tiny), Error);
  DeviceOptions bad;
  bad.gpu_memory_fraction = 1.5;
  EXPECT_THROW(make_cuda_backend(bad), Error);
}

// Runs everywhere: without a device, the CUDA entry points fail with a clear error.
TEST(CudaOps, WithoutDeviceCudaIsAClearError) {
  if (cuda_built() && cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  try {
    make_cuda_backend(DeviceOptions{});
    FAIL() << "make_cuda_backend must throw without a device";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_FALSE(std::string(e.what()).empty());
  }
  EXPECT_THROW(make_backend("cuda", 1), Error);
}

}  // namespace
}  // namespace hayate
