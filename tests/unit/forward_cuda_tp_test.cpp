// Tensor parallelism on real GPUs over NCCL: one rank on one GPU (what a one-GPU machine can
// check: the NCCL group, the collectives on the backend's stream, the gathered head) gives the
// one-GPU model's greedy tokens and logits within the CUDA tests' tolerance, with and without CUDA
// graphs; with two GPUs or more, TP=2 too, through place_model. Skips without a GPU (the sharding
// itself is checked on the CPU by forward_tensor_parallel_test and engine_split_test).
#include <gtest/gtest.h>

#include "backend/comm.h"
#include "backend_cuda_support.h"
#include "forward/forward.h"
#include "forward/placement.h"
#include "forward/tensor_parallel.h"
#include "support/engine_support.h"
#include "support/forward_runs.h"

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
      DeviceOptions o;
      o.device = "cuda";
      o.cuda_graphs = graphs;
      o.tensor_parallel = 2;
      auto tp = place_model(*m, "cpu", 2, o, PlacementHints{}, nullptr);
      EXPECT_EQ(tp->name(), "tp2(cuda)");
      expect_close(test::two_sequence_steps(*m, *tp), want, m->hp.n_vocab, type + (graphs ? " graphs" : " eager"));
    }
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
