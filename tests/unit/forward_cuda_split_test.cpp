// --gpu-layers on a real GPU: a model split between the CUDA and CPU backends at every boundary
// gives the greedy tokens of all-GPU and of the reference, logits within the CUDA tests'
// tolerance, and the same with CUDA graphs as without. Skips without a GPU (the split itself is
// checked on the CPU by forward_split_test and engine_split_test).
#include <gtest/gtest.h>

#include "backend_cuda_support.h"
#include "forward/forward.h"
#include "forward/placement.h"
#include "forward/split.h"
#include "support/engine_support.h"

namespace hayate {
namespace {

constexpr int32_t kLayers = 4;

std::unique_ptr<Model> make_model(const std::string& type) {
  return Model::load(test::tiny_model_path("cuda-split-" + type + ".gguf", 256, kLayers, 512, 512, type));
}

std::unique_ptr<Backend> placed(const Model& m, int32_t gpu_layers, bool graphs = false) {
  DeviceOptions o;
  o.device = "cuda";
  o.gpu_layers = gpu_layers;
  o.cuda_graphs = graphs;
  return place_model(m, "cpu", 2, o, PlacementHints{}, nullptr);
}

struct Decoded {
  std::vector<float> prompt_logits;  // every prompt position
  std::vector<int32_t> tokens;       // greedy continuation
};

Decoded decode(const Model& m, Backend& be, int n_new) {
  auto kv = be.make_kv_cache(m.hp, 8, 16);
  const std::vector<int32_t> table = {5, 2, 7, 0, 1, 3, 4, 6};
  Decoded d;
  Batch prompt;
  prompt.sequences.push_back({table});
  for (int32_t i = 0; i < 24; ++i) prompt.add((i * 53 + 7) % m.hp.n_vocab, i, 0, true);
  d.prompt_logits = forward(m, prompt, *kv, be);
  const size_t v = static_cast<size_t>(m.hp.n_vocab);
  std::vector<float> last(d.prompt_logits.end() - static_cast<std::ptrdiff_t>(v), d.prompt_logits.end());
  for (int i = 0; i < n_new; ++i) {
    d.tokens.push_back(static_cast<int32_t>(test::argmax(last.data(), v)));
    Batch b;
    b.sequences.push_back({table});
    b.add(d.tokens.back(), 24 + i, 0, true);
    last = forward(m, b, *kv, be);
  }
  return d;
}

TEST(CudaSplit, EveryBoundaryGivesTheGreedyTokensOfAllGpuAndTheReference) {
  HAYATE_SKIP_WITHOUT_CUDA();
  for (const std::string type : {"f32", "f16"}) {
    const auto m = make_model(type);
    auto ref = make_backend("reference", 1);
    const Decoded want = decode(*m, *ref, 32);
    const Decoded all_gpu = decode(*m, *placed(*m, kLayers), 32);
    EXPECT_EQ(all_gpu.tokens, want.tokens) << type;
    const size_t v = static_cast<size_t>(m->hp.n_vocab);
    for (int32_t n = 0; n <= kLayers; ++n) {
      auto be = placed(*m, n);
      EXPECT_EQ(be->name(), n == 0         ? "cpu"
                            : n == kLayers ? "cuda"
                                           : "cuda[0," + std::to_string(n) + ")+cpu[" + std::to_string(n) + ",4)");
      const Decoded got = decode(*m, *be, 32);
      EXPECT_EQ(got.tokens, want.tokens) << type << " --gpu-layers " << n;
      EXPECT_EQ(got.tokens, all_gpu.tokens) << type << " --gpu-layers " << n;
      for (size_t p = 0; p < got.prompt_logits.size() / v; ++p)  // the CUDA forward test's tolerance
        EXPECT_LE(test::max_relative_error(got.prompt_logits.data() + p * v, want.prompt_logits.data() + p * v, v),
                  1e-2)
            << type << " --gpu-layers " << n << " position " << p;
    }
  }
}

TEST(CudaSplit, GraphsEqualEagerLaunches) {
  HAYATE_SKIP_WITHOUT_CUDA();
  const auto m = make_model("q4_k_m");
  for (const int32_t n : {1, kLayers / 2, kLayers - 1}) {
    const Decoded eager = decode(*m, *placed(*m, n, false), 16);
    const Decoded graphs = decode(*m, *placed(*m, n, true), 16);
    EXPECT_EQ(graphs.prompt_logits, eager.prompt_logits) << "--gpu-layers " << n;
    EXPECT_EQ(graphs.tokens, eager.tokens) << "--gpu-layers " << n;
  }
}

}  // namespace
}  // namespace hayate
