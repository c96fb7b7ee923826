// Issue 12, stage 7: the CUDA backend's fused launches against the separate ones they replace,
// on the same device. Q/K/V (and gate/up) in one mat-vec launch, the residual add with the next
// RMSNorm, and RoPE with the KV-cache write each promise the same bits, so outputs are compared
// with memcmp, not a tolerance, and each test checks that the fused launch did run (a silent
// fallback would compare the separate launches with themselves). Whole-model logits with fusion
// on and off (HAYATE_CUDA_DISABLE=fuse_qkv,fuse_norm,fuse_rope), eager and under CUDA graphs.
// The host logic (how one grid's blocks are shared among the weights, the switch list) and the
// Backend defaults run without a GPU; the rest skips cleanly without one.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <sstream>

#include "backend/backend.h"
#include "backend/cuda/fusion.h"
#include "backend_cuda_support.h"
#include "forward/forward.h"
#include "model/synth.h"
#include "quant/quant.h"
#include "support/forward_runs.h"
#include "support/test_util.h"
#ifdef HAYATE_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "backend/cuda/cuda_backend.h"
#endif

namespace hayate {
namespace {

constexpr const char* kAllFusionOff = "fuse_qkv,fuse_norm,fuse_rope,fuse_combine";

// ---- host logic (no GPU) ----

// Simulates matvec_fast_parts' mapping of blocks to rows (matvec_fast.cu row_group: block b of a
// part holds kMatvecWarps / split groups of R rows, `split` warps a group) and checks that every
// row of every part is owned by exactly one group, and that each part gets the blocks its own
// launch would have had.
void expect_parts_cover(std::vector<int64_t> rows, std::vector<int> r, std::vector<int> split) {
  const int n = static_cast<int>(rows.size());
  int64_t first[cuda::kMaxMatvecParts] = {};
  const int64_t total = cuda::part_first_blocks(n, rows.data(), r.data(), split.data(), first);
  std::vector<std::vector<int>> owners(rows.size());
  for (int i = 0; i < n; ++i) owners[static_cast<size_t>(i)].assign(static_cast<size_t>(rows[i]), 0);
  std::vector<int64_t> blocks_seen(rows.size(), 0);
  for (int64_t b = 0; b < total; ++b) {
    const int i = cuda::part_of_block(n, first, b);
    ASSERT_GE(b, first[i]);
    ++blocks_seen[static_cast<size_t>(i)];
    const int64_t local = b - first[i];
    const int per_block = cuda::kMatvecWarps / split[i];
    for (int g = 0; g < per_block; ++g) {
      const int64_t row0 = (local * per_block + g) * r[i];
      for (int k = 0; k < r[i]; ++k)
        if (row0 + k < rows[i]) ++owners[static_cast<size_t>(i)][static_cast<size_t>(row0 + k)];
    }
  }
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(blocks_seen[static_cast<size_t>(i)], cuda::part_blocks(rows[i], r[i], split[i])) << "part " << i;
    for (int64_t row = 0; row < rows[i]; ++row)
      ASSERT_EQ(owners[static_cast<size_t>(i)][static_cast<size_t>(row)], 1) << "part " << i << " row " << row;
  }
}

TEST(CudaFusionPlan, EveryRowOfEveryPartOnce) {
  // Llama-3-8B's Q, K, V (Q at 2 rows a warp and 4 warps a row, K and V at 1 and 2).
  expect_parts_cover({4096, 1024, 1024}, {2, 1, 1}, {4, 2, 2});
  expect_parts_cover({14336, 14336}, {2, 2}, {1, 1});  // gate, up
  // Rows that fill no block, parts of different sizes and splits, four parts.
  expect_parts_cover({1000, 37, 129}, {4, 1, 1}, {8, 1, 2});
  expect_parts_cover({1, 7, 9, 4099}, {1, 2, 4, 2}, {2, 8, 1, 4});
  expect_parts_cover({5, 5}, {1, 1}, {1, 1});
}

TEST(CudaFusionPlan, BlocksOfAPartAreItsOwnLaunchGrid) {
  EXPECT_EQ(cuda::part_blocks(4096, 2, 4), 1024);  // 2048 groups, 2 a block
  EXPECT_EQ(cuda::part_blocks(1024, 1, 2), 256);
  EXPECT_EQ(cuda::part_blocks(37, 1, 1), 5);
  EXPECT_EQ(cuda::part_blocks(37, 4, 8), 10);  // 10 groups, one a block
  int64_t first[cuda::kMaxMatvecParts] = {};
  const int64_t rows[3] = {4096, 1024, 1024};
  const int r[3] = {2, 1, 1}, split[3] = {4, 2, 2};
  EXPECT_EQ(cuda::part_first_blocks(3, rows, r, split, first), 1024 + 256 + 256);
  EXPECT_EQ(first[1], 1024);
  EXPECT_EQ(first[2], 1280);
  EXPECT_EQ(cuda::part_of_block(3, first, 1023), 0);
  EXPECT_EQ(cuda::part_of_block(3, first, 1024), 1);
  EXPECT_EQ(cuda::part_of_block(3, first, 1535), 2);
}

TEST(CudaFusionPlan, DisableListMatchesWholeNames) {
  EXPECT_TRUE(cuda::feature_listed("fuse_qkv,fuse_norm,fuse_rope", "fuse_norm"));
  EXPECT_TRUE(cuda::feature_listed("fuse_rope", "fuse_rope"));
  EXPECT_TRUE(cuda::feature_listed("batched,,fuse_qkv,", "fuse_qkv"));
  EXPECT_FALSE(cuda::feature_listed("fuse_qkv", "fuse"));
  EXPECT_FALSE(cuda::feature_listed("fuse", "fuse_qkv"));
  EXPECT_FALSE(cuda::feature_listed("fuse_qkvx,xfuse_qkv", "fuse_qkv"));
  EXPECT_FALSE(cuda::feature_listed("", "fuse_qkv"));
  EXPECT_FALSE(cuda::feature_listed(nullptr, "fuse_qkv"));
  EXPECT_FALSE(cuda::feature_listed("a,b", ""));
}

using test::HostWeight;  // backend_cuda_support.h
using test::make_weight;

HostWeight make_f32(std::vector<float> values, const std::string& name) {
  HostWeight h;
  h.bytes.resize(values.size() * sizeof(float));
  std::memcpy(h.bytes.data(), values.data(), h.bytes.size());
  h.w = Weight{name, GgmlType::F32, static_cast<int64_t>(values.size()), 1, h.bytes.data()};
  return h;
}

// The Backend defaults (what every host backend runs) are the separate calls, bit for bit.
TEST(CudaFusionPlan, BackendDefaultsAreTheSeparateCalls) {
  auto be = make_backend("cpu", 1);
  const int64_t n = 3, cols = 256;
  const HostWeight a = make_weight(GgmlType::Q4_K, 40, cols, 1, "a"), b = make_weight(GgmlType::Q8_0, 24, cols, 2, "b");
  const HostWeight bias = make_f32(test::random_floats(24, 3), "b.bias");
  Tensor x = be->alloc(n, cols);
  const auto xv = test::random_floats(static_cast<size_t>(n * cols), 4);
  std::memcpy(x.data, xv.data(), xv.size() * sizeof(float));
  Tensor pa = be->alloc(n, 40), pb = be->alloc(n, 24), sa = be->alloc(n, 40), sb = be->alloc(n, 24);
  const Weight* ws[2] = {&a.w, &b.w};
  const Weight* biases[2] = {nullptr, &bias.w};
  const Tensor outs[2] = {pa, pb};
  be->matmul_parts(ws, x, outs, biases);
  be->matmul(a.w, x, sa, nullptr);
  be->matmul(b.w, x, sb, &bias.w);
  EXPECT_EQ(std::memcmp(pa.data, sa.data, n * 40 * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(pb.data, sb.data, n * 24 * sizeof(float)), 0);
  const Tensor too_few[1] = {pa};
  EXPECT_THROW(be->matmul_parts(ws, x, too_few, {}), Error);

  const HostWeight norm = make_f32(test::random_floats(cols, 5), "norm");
  Tensor x1 = be->alloc(n, cols), x2 = be->alloc(n, cols), y = be->alloc(n, cols);
  const auto yv = test::random_floats(static_cast<size_t>(n * cols), 6);
  std::memcpy(x1.data, xv.data(), xv.size() * sizeof(float));
  std::memcpy(x2.data, xv.data(), xv.size() * sizeof(float));
  std::memcpy(y.data, yv.data(), yv.size() * sizeof(float));
  Tensor o1 = be->alloc(n, cols), o2 = be->alloc(n, cols);
  be->add_rms_norm(x1, y, norm.w, 1e-5f, o1);
  be->add(x2, y);
  be->rms_norm(x2, norm.w, 1e-5f, o2);
  EXPECT_EQ(std::memcmp(x1.data, x2.data, n * cols * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(o1.data, o2.data, n * cols * sizeof(float)), 0);
}

// ---- the device (skips without one) ----

#ifdef HAYATE_HAVE_CUDA

cuda::CudaBackend& as_cuda(Backend& be) { return dynamic_cast<cuda::CudaBackend&>(be); }

std::vector<float> bits_of(Backend& be, Tensor t) { return test::download(be, t); }

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct PartsCase {
  std::vector<GgmlType> types;  // one per part
  std::vector<int64_t> rows;
  int64_t cols;
  bool bias;
  int fused_launches;  // launches of matvec_parts a call must make (-1: not checked)
};

void check_parts(const PartsCase& c, const std::string& what) {
  std::vector<HostWeight> ws, biases;
  for (size_t i = 0; i < c.rows.size(); ++i) {
    ws.push_back(make_weight(c.types[i], c.rows[i], c.cols, 31 + static_cast<uint32_t>(i), "w" + std::to_string(i)));
    biases.push_back(make_f32(test::random_floats(static_cast<size_t>(c.rows[i]), 41 + static_cast<uint32_t>(i)),
                              "bias" + std::to_string(i)));
  }
  auto be = make_cuda_backend(DeviceOptions{});
  for (size_t i = 0; i < ws.size(); ++i) {
    be->prepare_weight(ws[i].w);
    if (c.bias) be->prepare_weight(biases[i].w);
  }
  std::vector<const Weight*> wp, bp;
  for (size_t i = 0; i < ws.size(); ++i) {
    wp.push_back(&ws[i].w);
    bp.push_back(c.bias ? &biases[i].w : nullptr);
  }
  for (int n = 1; n <= 8; ++n) {
    const auto x = test::random_floats(static_cast<size_t>(n * c.cols), 50 + static_cast<uint32_t>(n));
    be->reset_scratch();
    Tensor xt = test::upload(*be, x, n, c.cols);
    std::vector<Tensor> fused, alone;
    for (const int64_t r : c.rows) {
      fused.push_back(test::poisoned(*be, n, r + 3));  // ldo past the rows: only the rows written
      alone.push_back(test::poisoned(*be, n, r + 3));
    }
    const int64_t before = as_cuda(*be).fused_launches().parts;
    be->matmul_parts(wp, xt, fused, bp);
    if (c.fused_launches >= 0) {
      EXPECT_EQ(as_cuda(*be).fused_launches().parts - before, c.fused_launches) << what << " tokens " << n;
    }
    for (size_t i = 0; i < ws.size(); ++i) be->matmul(ws[i].w, xt, alone[i], bp[i]);
    for (size_t i = 0; i < ws.size(); ++i) {
      const auto got = bits_of(*be, fused[i]), want = bits_of(*be, alone[i]);
      // The NaN poison past each row's end must survive in both (the same bits), and the rows
      // themselves must be numbers.
      size_t finite = 0;
      for (float v : got) finite += std::isfinite(v) ? 1 : 0;
      EXPECT_EQ(finite, static_cast<size_t>(n * c.rows[i])) << what << " part " << i << " tokens " << n;
      EXPECT_TRUE(same_bits(got, want)) << what << " part " << i << " tokens " << n;
    }
  }
}

const std::vector<GgmlType> kFusedTypes = {GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_K,
                                           GgmlType::Q6_K};

// Small shapes (also what bench/gpu_stage7.sh runs under compute-sanitizer): rows that fill no
// block, parts of different sizes, biases, a row stride past the rows.
TEST(CudaFused, PartsOddRowsAreTheBitsOfSeparateLaunches) {
  HAYATE_SKIP_WITHOUT_CUDA();
  for (const GgmlType t : kFusedTypes)
    check_parts({{t, t, t}, {1000, 37, 129}, 512, true, 1}, std::string(ggml_type_info(t).name) + " odd rows, biases");
}

TEST(CudaFused, PartsAreTheBitsOfSeparateLaunches) {
  HAYATE_SKIP_WITHOUT_CUDA();
  for (const GgmlType t : kFusedTypes) {
    const std::string name = ggml_type_info(t).name;
    // Llama-3-8B's Q/K/V rows over 4096 columns (split-K parts, 2 rows a warp for Q), gate/up.
    check_parts({{t, t, t}, {4096, 1024, 1024}, 4096, false, 1}, name + " qkv 8B");
    check_parts({{t, t}, {3001, 3001}, 1024, false, 1}, name + " gate/up");
  }
  // Rows a warp and warps a row forced as the benchmarks force them: the same on both sides.
  // The fused kernel takes 1 row a warp and the larger count the token count gives (2 at 1-2
  // tokens, 4 at 3-8); other forced counts fall back to separate launches (not counted: -1).
  for (const char* rows : {"1", "2", "4"})
    for (const char* split : {"1", "2", "8"}) {
      test::ScopedEnv r("HAYATE_CUDA_MATVEC_ROWS", rows);
      test::ScopedEnv s("HAYATE_CUDA_MATVEC_PARTS", split);
      check_parts({{GgmlType::Q6_K, GgmlType::Q6_K, GgmlType::Q6_K},
                   {1000, 37, 129},
                   1024,
                   true,
                   std::string(rows) == "1" ? 1 : -1},
                  std::string("q6_K rows ") + rows + " parts " + split);
    }
  // A Q4_K_M layer: Q and K are Q4_K, V Q6_K: Q and K in one launch, V alone.
  check_parts({{GgmlType::Q4_K, GgmlType::Q4_K, GgmlType::Q6_K}, {4096, 1024, 1024}, 4096, false, 1}, "q4_K_M qkv");
  // Formats the fused kernels do not take (Q5_K: the older mat-vec) run alone.
  check_parts({{GgmlType::Q5_K, GgmlType::Q5_K}, {100, 60}, 512, false, 0}, "q5_K alone");
  {
    test::ScopedEnv off("HAYATE_CUDA_DISABLE", "fuse_qkv");
    check_parts({{GgmlType::Q4_K, GgmlType::Q4_K}, {100, 60}, 512, false, 0}, "fuse_qkv off");
  }
}

// The int8 path (activations quantized once a call, matvec_fast.cu): fused parts are the bits of
// separate launches there too.
TEST(CudaFused, Int8PartsAreTheBitsOfSeparateLaunches) {
  HAYATE_SKIP_WITHOUT_CUDA();
  test::ScopedEnv int8("HAYATE_CUDA_MATVEC_INT8", "all");
  for (const GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K}) {
    const std::string name = ggml_type_info(t).name;
    check_parts({{t, t, t}, {4096, 1024, 1024}, 4096, false, 1}, name + " int8 qkv 8B");
    check_parts({{t, t, t}, {1000, 37, 129}, 512, true, 1}, name + " int8 odd rows, biases");
  }
}

TEST(CudaFused, AddRmsNormIsTheBitsOfAddThenNorm) {
  HAYATE_SKIP_WITHOUT_CUDA();
  // Rows in registers (4096, 300) and past them (9000: the loop), per-head groups, prompts. A
  // backend a shape: it finds uploaded weights by their host address, which the next shape's
  // weight may reuse.
  struct Shape {
    int64_t rows, cols, group;
  };
  for (const Shape sh : {Shape{1, 4096, 4096}, Shape{5, 4096, 4096}, Shape{70, 4096, 4096}, Shape{3, 300, 300},
                         Shape{2, 9000, 9000}, Shape{4, 1024, 128}}) {
    auto be = make_cuda_backend(DeviceOptions{});
    const HostWeight w = make_f32(test::random_floats(static_cast<size_t>(sh.group), 61), "norm");
    be->prepare_weight(w.w);
    const auto x = test::random_floats(static_cast<size_t>(sh.rows * sh.cols), 62);
    const auto y = test::random_floats(static_cast<size_t>(sh.rows * sh.cols), 63);
    be->reset_scratch();
    Tensor x1 = test::upload(*be, x, sh.rows, sh.cols), x2 = test::upload(*be, x, sh.rows, sh.cols);
    Tensor yt = test::upload(*be, y, sh.rows, sh.cols);
    Tensor o1 = test::poisoned(*be, sh.rows, sh.cols), o2 = test::poisoned(*be, sh.rows, sh.cols);
    const int64_t before = as_cuda(*be).fused_launches().norm;
    be->add_rms_norm(x1, yt, w.w, 1e-5f, o1);
    EXPECT_EQ(as_cuda(*be).fused_launches().norm, before + 1);
    be->add(x2, yt);
    be->rms_norm(x2, w.w, 1e-5f, o2);
    const std::string what = std::to_string(sh.rows) + "x" + std::to_string(sh.cols) + "/" + std::to_string(sh.group);
    const auto out1 = bits_of(*be, o1);
    EXPECT_TRUE(test::all_finite(out1)) << what;
    EXPECT_TRUE(same_bits(out1, bits_of(*be, o2))) << what;
    EXPECT_TRUE(same_bits(bits_of(*be, x1), bits_of(*be, x2))) << what;
  }
}

std::vector<float> cache_floats(KvCache& kv, int32_t layer, bool values) {
  auto& c = dynamic_cast<cuda::CudaKvCache&>(kv);
  std::vector<float> out(static_cast<size_t>(c.n_blocks) * c.block_size * c.kv_dim);
  EXPECT_EQ(
      cudaMemcpy(out.data(), values ? c.v(layer) : c.k(layer), out.size() * sizeof(float), cudaMemcpyDeviceToHost),
      cudaSuccess);
  return out;
}

TEST(CudaFused, RopeStoreKvIsTheBitsOfRopeRopeStore) {
  HAYATE_SKIP_WITHOUT_CUDA();
  struct Case {
    int32_t n_head, n_head_kv, head_dim, n_rot;
    RopeType type;
    int n_tokens;
  };
  for (const Case c : {Case{32, 8, 128, 128, RopeType::Norm, 1}, Case{32, 8, 128, 128, RopeType::Norm, 5},
                       Case{6, 2, 64, 32, RopeType::Neox, 3}, Case{6, 2, 64, 32, RopeType::Norm, 40},
                       Case{4, 4, 80, 80, RopeType::Neox, 8}}) {
    HParams hp;
    hp.n_layer = 2;
    hp.n_head = c.n_head;
    hp.n_head_kv = c.n_head_kv;
    hp.head_dim = c.head_dim;
    hp.n_embd = c.n_head * c.head_dim;
    auto be = make_cuda_backend(DeviceOptions{});
    auto kv1 = be->make_kv_cache(hp, 8, 16), kv2 = be->make_kv_cache(hp, 8, 16);
    ASSERT_EQ(kv1->kv_dim, c.n_head_kv * c.head_dim);
    // Two sequences, positions out of order in their blocks.
    Batch b;
    b.sequences.push_back({{5, 2, 7, 0}});
    b.sequences.push_back({{1, 6, 3, 4}});
    for (int t = 0; t < c.n_tokens; ++t) b.add(t, (t * 7 + 3) % 60, t % 2, true);
    RopeParams p;
    p.type = c.type;
    p.n_rot = c.n_rot;
    p.head_dim = c.head_dim;
    p.theta = 500000.0f;
    const int64_t n = c.n_tokens, qd = int64_t{c.n_head} * c.head_dim, kd = int64_t{c.n_head_kv} * c.head_dim;
    const auto q = test::random_floats(static_cast<size_t>(n * qd), 71, 2.0f);
    const auto k = test::random_floats(static_cast<size_t>(n * kd), 72, 2.0f);
    const auto v = test::random_floats(static_cast<size_t>(n * kd), 73);
    be->reset_scratch();
    Tensor q1 = test::upload(*be, q, n, qd), k1 = test::upload(*be, k, n, kd), v1 = test::upload(*be, v, n, kd);
    Tensor q2 = test::upload(*be, q, n, qd), k2 = test::upload(*be, k, n, kd), v2 = test::upload(*be, v, n, kd);
    const int64_t before = as_cuda(*be).fused_launches().rope;
    be->rope_store_kv(q1, k1, v1, c.n_head, c.n_head_kv, p, *kv1, 1, b);
    EXPECT_EQ(as_cuda(*be).fused_launches().rope, before + 1);
    be->rope(q2, c.n_head, b.positions, p);
    be->rope(k2, c.n_head_kv, b.positions, p);
    be->store_kv(*kv2, 1, k2, v2, b);
    const std::string what = std::to_string(c.n_head) + "/" + std::to_string(c.n_head_kv) + " heads of " +
                             std::to_string(c.head_dim) + ", " + std::to_string(c.n_tokens) + " tokens";
    const auto got_q = bits_of(*be, q1);
    EXPECT_FALSE(same_bits(got_q, q)) << what << ": q was not rotated";
    EXPECT_TRUE(same_bits(got_q, bits_of(*be, q2))) << what;
    EXPECT_TRUE(same_bits(bits_of(*be, k1), bits_of(*be, k2))) << what;
    for (const bool values : {false, true})
      for (const int32_t layer : {0, 1})
        EXPECT_TRUE(same_bits(cache_floats(*kv1, layer, values), cache_floats(*kv2, layer, values)))
            << what << (values ? " V" : " K") << " cache, layer " << layer;
  }
}

// The decode attention with its combine done by the chunk kernel's last block against its own
// launch (HAYATE_CUDA_DISABLE=fuse_combine): the same caches and queries, the same bits. One
// sequence (chunks of 16 positions: 1, 3 and 7 splits) and eight (64 (token, head) pairs and
// more: chunks of 64), positions in blocks out of order.
TEST(CudaFused, AttentionCombineInTheChunkKernel) {
  HAYATE_SKIP_WITHOUT_CUDA();
  HParams hp;
  hp.n_layer = 1;
  hp.n_head = 8;
  hp.n_head_kv = 2;
  hp.head_dim = 64;
  hp.n_embd = 512;
  const int64_t qd = 512, kd = 128;
  constexpr int kBlocksPerSeq = 16, kBlockSize = 16;
  struct Case {
    int n_seq;
    int32_t pos;
  };
  for (const Case c : {Case{1, 9}, Case{1, 40}, Case{1, 100}, Case{8, 130}, Case{8, 255}}) {
    std::vector<std::vector<float>> outs;
    int64_t combined = 0;
    for (const char* off : {"", "fuse_combine"}) {
      test::ScopedEnv disable("HAYATE_CUDA_DISABLE", off);
      auto be = make_cuda_backend(DeviceOptions{});
      auto kv = be->make_kv_cache(hp, c.n_seq * kBlocksPerSeq, kBlockSize);
      // Fill positions [0, pos] of every sequence, then one decode token a sequence at pos.
      Batch fill, step;
      for (int s = 0; s < c.n_seq; ++s) {
        std::vector<int32_t> table;
        for (int b = 0; b < kBlocksPerSeq; ++b) table.push_back(s * kBlocksPerSeq + (b * 7 + s) % kBlocksPerSeq);
        fill.sequences.push_back({table});
        step.sequences.push_back({table});
        for (int32_t p = 0; p <= c.pos; ++p) fill.add(0, p, s, false);
        step.add(0, c.pos, s, true);
      }
      const int64_t nf = static_cast<int64_t>(fill.size()), n = c.n_seq;
      be->reset_scratch();
      Tensor k = test::upload(*be, test::random_floats(static_cast<size_t>(nf * kd), 81), nf, kd);
      Tensor v = test::upload(*be, test::random_floats(static_cast<size_t>(nf * kd), 82), nf, kd);
      be->store_kv(*kv, 0, k, v, fill);
      Tensor q = test::upload(*be, test::random_floats(static_cast<size_t>(n * qd), 83, 3.0f), n, qd);
      Tensor out = test::poisoned(*be, n, qd);
      be->attention(*kv, 0, q, step, hp.n_head, hp.n_head_kv, hp.head_dim, out);
      outs.push_back(bits_of(*be, out));
      if (*off == 0) combined = as_cuda(*be).fused_launches().combine;
    }
    const std::string what = std::to_string(c.n_seq) + " sequences at position " + std::to_string(c.pos);
    EXPECT_TRUE(test::all_finite(outs[0])) << what;
    EXPECT_TRUE(same_bits(outs[0], outs[1])) << what;
    EXPECT_EQ(combined, c.pos < 16 ? 0 : 1) << what;  // one chunk: no combine to fold
  }
}

std::string make_model(const std::string& type) {
  const std::string path = test::temp_path("cuda-fused-" + type + ".gguf");
  SynthOptions o;
  o.arch = "llama";
  o.n_embd = 512;
  o.n_layer = 3;
  o.n_head = 8;
  o.n_head_kv = 2;
  o.n_ff = 1024;
  o.n_ctx = 512;
  o.file_type = type;
  o.seed = 13;
  std::ostringstream log;
  synth_model(o, path, log);
  return path;
}

std::unique_ptr<Backend> prepared_cuda(const Model& m, bool graphs) {
  DeviceOptions o;
  o.device = "cuda";
  o.cuda_graphs = graphs;
  return make_backend_for(m, "cpu", 1, o, nullptr);
}

// Whole-model logits over 48 positions (three KV blocks), fed 1, 3 and 24 tokens a step: fusion
// on (eager and under graphs) against fusion off, bit for bit.
TEST(CudaFused, ModelLogitsWithAndWithoutFusion) {
  HAYATE_SKIP_WITHOUT_CUDA();
  for (const char* type : {"f16", "bf16", "q8_0", "q4_k_m", "q6_k"}) {
    auto m = Model::load(make_model(type));
    const auto tokens = test::some_tokens(48, m->hp.n_vocab);
    for (const size_t chunk : {size_t{1}, size_t{3}, size_t{24}}) {
      std::vector<float> off;
      {
        test::ScopedEnv disable("HAYATE_CUDA_DISABLE", kAllFusionOff);
        auto be = prepared_cuda(*m, false);
        off = test::run_tokens(*m, *be, tokens, chunk, 4);
        const auto& f = as_cuda(*be).fused_launches();
        EXPECT_EQ(f.parts + f.norm + f.rope + f.combine, 0);
      }
      ASSERT_TRUE(test::all_finite(off)) << type;
      for (const bool graphs : {false, true}) {
        test::ScopedEnv on("HAYATE_CUDA_DISABLE", nullptr);
        auto be = prepared_cuda(*m, graphs);
        const auto got = test::run_tokens(*m, *be, tokens, chunk, 4);
        const auto& f = as_cuda(*be).fused_launches();
        EXPECT_GT(f.norm, 0) << type;
        EXPECT_GT(f.rope, 0) << type;
        if (chunk <= 8) {
          EXPECT_GT(f.parts, 0) << type << " chunk " << chunk;
          EXPECT_GT(f.combine, 0) << type << " chunk " << chunk;  // positions past one 16-position chunk
        }
        EXPECT_TRUE(same_bits(got, off)) << type << " chunk " << chunk << (graphs ? " graphs" : " eager");
        if (graphs && chunk <= 8) {
          EXPECT_GT(as_cuda(*be).step_graphs().replays, 0) << type;
        }
      }
    }
  }
}

// Whole-model logits with the int8 path against the f32 one: near, not the same, and graphs replay
// its bits. The bound is the error this project already ships on the CPU: the CPU backend feeds
// its quantized dot products 8-bit activations too (blocks of 32 for Q8_0, 256 for the k-quants),
// and its logits' distance from the reference backend's (f32 activations) on the same model and
// steps is measured here, not assumed. The GPU's 8-bit activations (blocks of 32, the same
// rounding) must move the logits no farther from its own f32 path than that.
TEST(CudaFused, Int8ModelLogitsNoFartherThanTheCpuBackend) {
  HAYATE_SKIP_WITHOUT_CUDA();
  for (const char* type : {"q8_0", "q4_k_m", "q6_k"}) {
    auto m = Model::load(make_model(type));
    const auto tokens = test::some_tokens(48, m->hp.n_vocab);
    auto ref = make_backend("reference", 1);
    ref->prepare(*m);
    auto cpu = make_backend("cpu", 1);
    cpu->prepare(*m);
    const double cpu_moved =
        test::relative_l2(test::run_tokens(*m, *cpu, tokens, 3, 4), test::run_tokens(*m, *ref, tokens, 3, 4));
    std::vector<float> f32;
    {
      test::ScopedEnv int8("HAYATE_CUDA_MATVEC_INT8", "0");
      auto be = prepared_cuda(*m, false);
      f32 = test::run_tokens(*m, *be, tokens, 3, 4);
    }
    test::ScopedEnv int8("HAYATE_CUDA_MATVEC_INT8", "all");
    auto eager = prepared_cuda(*m, false);
    const auto got = test::run_tokens(*m, *eager, tokens, 3, 4);
    auto graphs = prepared_cuda(*m, true);
    const auto replayed = test::run_tokens(*m, *graphs, tokens, 3, 4);
    ASSERT_TRUE(test::all_finite(got)) << type;
    const double moved = test::relative_l2(got, f32);
    std::printf("%s: int8 vs f32 on CUDA %.3e, cpu vs reference %.3e\n", type, moved, cpu_moved);
    EXPECT_GT(cpu_moved, 0.0) << type;
    EXPECT_GT(moved, 0.0) << type;
    EXPECT_LE(moved, cpu_moved) << type;
    EXPECT_TRUE(same_bits(got, replayed)) << type << " graphs";
    EXPECT_GT(as_cuda(*graphs).step_graphs().replays, 0) << type;
  }
}

#endif  // HAYATE_HAVE_CUDA

}  // namespace
}  // namespace hayate
