// Tensor parallelism on real GPUs over NCCL: one rank on one GPU (what a one-GPU machine can
// check: the NCCL group, the collectives on the backend's stream, the gathered head) gives the
// one-GPU model's greedy tokens and logits within the CUDA tests' tolerance, with and without CUDA
// graphs; with two GPUs or more, TP=2 too, through place_model. The split head's gathered top-k
// (each rank's top_logits of its slice, the records gathered over NCCL, merged on rank 0) gives
// the TopLogits of the rows gathered whole, on one rank and, with two GPUs, on two. Skips without a GPU (the sharding
// itself is checked on the CPU by forward_tensor_parallel_test and engine_split_test).
#include <gtest/gtest.h>

#include "backend/comm.h"
#include "backend_cuda_support.h"
#include "forward/forward.h"
#include "forward/placement.h"
#include "forward/tensor_parallel.h"
#include "support/engine_support.h"
#include "support/forward_runs.h"
#include "support/top_logits_ref.h"

namespace hayate {
namespace {

std::unique_ptr<Model> make_model(const std::string& type) {
  return Model::load(test::tiny_model_path("cuda-tp-" + type + ".gguf", 256, 4, 512, 512, type));
}

std::unique_ptr<Backend> gpu(bool graphs) {
  DeviceOptions o;
  o.device = "cuda";
  o.cuda_graphs = graphs;
  return make_cuda_backend(o);
}

// The model placed over two GPUs as `--device cuda --tensor-parallel 2` places it.
std::unique_ptr<Backend> tp2(const Model& m, bool graphs) {
  DeviceOptions o;
  o.device = "cuda";
  o.cuda_graphs = graphs;
  o.tensor_parallel = 2;
  return place_model(m, "cpu", 2, o, PlacementHints{}, nullptr);
}

void expect_close(const test::Steps& got, const test::Steps& want, int64_t width, const std::string& what) {
  EXPECT_EQ(got.greedy, want.greedy) << what;
  ASSERT_EQ(got.logits.size(), want.logits.size()) << what;
  const auto v = static_cast<size_t>(width);
  for (size_t row = 0; row < want.logits.size() / v; ++row)  // the CUDA forward test's tolerance
    EXPECT_LE(test::max_relative_error(got.logits.data() + row * v, want.logits.data() + row * v, v), 1e-2)
        << what << " row " << row;
}

TEST(CudaTensorParallel, OneNcclRankOnOneGpuGivesTheOneGpuModel) {
  HAYATE_SKIP_WITHOUT_CUDA();
  for (const bool graphs : {false, true}) {
    const auto m = make_model("f16");
    auto one = gpu(graphs);
    one->prepare(*m);
    const test::Steps want = test::two_sequence_steps(*m, *one);
    std::vector<std::unique_ptr<Backend>> ranks;
    ranks.push_back(gpu(graphs));
    TensorParallelBackend tp(std::move(ranks), make_nccl_communicators(1));
    tp.prepare(*m);
    expect_close(test::two_sequence_steps(*m, tp), want, m->hp.n_vocab, graphs ? "graphs" : "eager");
  }
}

TEST(CudaTensorParallel, TwoGpusGiveTheOneGpuModel) {
  HAYATE_SKIP_WITHOUT_CUDA();
  if (cuda_device_count() < 2) GTEST_SKIP() << "one CUDA device visible; TP=2 needs two";
  for (const std::string type : {"f16", "q8_0"}) {
    const auto m = make_model(type);
    auto one = gpu(false);
    one->prepare(*m);
    const test::Steps want = test::two_sequence_steps(*m, *one);
    for (const bool graphs : {false, true}) {
      auto tp = tp2(*m, graphs);
      EXPECT_EQ(tp->name(), "tp2(cuda)");
      expect_close(test::two_sequence_steps(*m, *tp), want, m->hp.n_vocab, type + (graphs ? " graphs" : " eager"));
    }
  }
}

// A prompt's logits through the group: first the merged tops (nothing gathered), then the rows
// read whole, whose host-sorted top must be the same ids and logits.
void expect_gathered_top(const Model& m, Backend& tp, const std::string& what) {
  auto kv = tp.make_kv_cache(m.hp, 4, 16);
  Batch b;
  b.sequences = {BatchSequence{{0}}};
  for (int32_t p = 0; p < 6; ++p) b.add((p * 41 + 3) % m.hp.n_vocab, p, 0, true);
  const Tensor logits = forward_logits(m, b, *kv, tp);
  ASSERT_GE(tp.max_top_logits(), 64) << what;
  const std::vector<int32_t> rows = {0, 3, 5};
  for (const int32_t k : {1, 64}) {
    std::vector<TopLogits> got;
    tp.top_logits(logits, rows, k, got);
    ASSERT_EQ(got.size(), rows.size()) << what;
    if (k == 1) continue;  // the rows are gathered after the last k
    std::vector<float> whole(static_cast<size_t>(logits.rows * logits.cols));
    tp.to_host(logits, whole.data());
    for (size_t j = 0; j < rows.size(); ++j) {
      const TopLogits want = test::host_top(whole.data() + rows[j] * logits.cols, logits.cols, k);
      const std::string at = what + " k=" + std::to_string(k) + " row " + std::to_string(rows[j]);
      EXPECT_TRUE(got[j].ok) << at;
      EXPECT_EQ(got[j].ids, want.ids) << at;
      EXPECT_EQ(got[j].logits, want.logits) << at;
      EXPECT_EQ(got[j].n_finite, want.n_finite) << at;
      EXPECT_NEAR(got[j].log_norm, want.log_norm, 1e-4 * std::max(1.0, std::abs(want.log_norm))) << at;
    }
  }
}

TEST(CudaTensorParallel, GatheredTopLogitsAreTheWholeRowsTop) {
  HAYATE_SKIP_WITHOUT_CUDA();
  const auto m = make_model("f16");
  for (const bool graphs : {false, true}) {
    std::vector<std::unique_ptr<Backend>> ranks;
    ranks.push_back(gpu(graphs));
    TensorParallelBackend tp(std::move(ranks), make_nccl_communicators(1));
    tp.prepare(*m);
    expect_gathered_top(*m, tp, std::string("one NCCL rank ") + (graphs ? "graphs" : "eager"));
  }
  if (cuda_device_count() < 2) GTEST_SKIP() << "one CUDA device visible; the merge of two GPUs' tops needs two";
  for (const bool graphs : {false, true}) {
    auto tp = tp2(*m, graphs);
    expect_gathered_top(*m, *tp, std::string("TP=2 ") + (graphs ? "graphs" : "eager"));
  }
}

// Fewer GPUs than asked: a clear error before anything is loaded.
TEST(CudaTensorParallel, MissingGpusAreNamed) {
  HAYATE_SKIP_WITHOUT_CUDA();
  const auto m = make_model("f16");
  DeviceOptions o;
  o.device = "cuda";
  o.tensor_parallel = cuda_device_count() + 1;  // a pipeline would not hide it: 4 heads, 4 layers
  try {
    place_model(*m, "cpu", 2, o, PlacementHints{}, nullptr);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("visible"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hayate
