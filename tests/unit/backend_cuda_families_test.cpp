// gemma3 (sliding windows on some layers with their own RoPE base, GELU feed-forward, post-norms,
// scaled embeddings and queries), phi3 (fused QKV and gate-up, LongRoPE's factors and attention
// factor) and Mistral-style llama (a sliding window on every layer) on the CUDA backend against
// the reference backend, on synthetic models with windows shorter than the prompts: logits of
// every position within the dense CUDA forward test's bounds, greedy text identical at F32, and
// --device auto placing them on the GPU. Skipped without a GPU; forward_families_test checks the
// same models on the CPU backends against a direct computation.
#include <gtest/gtest.h>

#include <sstream>

#include "backend/backend.h"
#include "backend_cuda_support.h"
#include "core/error.h"
#include "forward/forward.h"
#include "model/synth.h"
#include "support/forward_runs.h"
#include "support/test_util.h"

namespace hayate {
namespace {

std::unique_ptr<Model> synth(const std::string& arch, const std::string& type) {
  SynthOptions o;
  o.arch = arch == "mistral" ? "llama" : arch;
  o.n_embd = 128;
  o.n_layer = 3;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_ff = 256;
  o.n_ctx = 128;
  o.file_type = type;
  o.seed = 5;
  if (arch == "gemma3") {
    o.head_dim = 48;
    o.sliding_window = 4;
    o.swa_pattern = {true, false, true};
    o.rope_theta = 100000.0f;
    o.rope_theta_swa = 10000.0f;
    o.attn_scale = 0.125f;
  }
  if (arch == "phi3") o.long_rope_original = 8;
  if (arch == "mistral") o.sliding_window = 8;
  const std::string path = test::temp_path("cuda-families-" + arch + "-" + type + ".gguf");
  std::ostringstream log;
  synth_model(o, path, log);
  return Model::load(path);
}

std::unique_ptr<Backend> prepared_cuda(const Model& m) {
  DeviceOptions o;
  o.device = "cuda";
  return make_backend_for(m, "cpu", 1, o, nullptr);
}

// backend_cuda_forward_test's bounds: every position within 1e-2 relative, top-1 >= 99%.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, size_t v, const std::string& what) {
  test::expect_logits_close(got, want, v, what, 1e-2, 0.99);
}

class CudaFamilies : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(CudaFamilies, LogitsMatchReference) {
  HAYATE_SKIP_WITHOUT_CUDA();
  const auto [arch, type] = GetParam();
  const auto m = synth(arch, type);
  EXPECT_GT(m->hp.sliding_window + (m->hp.rope_attn_factor != 1.0f ? 1 : 0), 0) << "the model tests nothing new";
  auto ref = make_backend("reference", 1);
  auto gpu = prepared_cuda(*m);
  ASSERT_EQ(gpu->name(), "cuda");
  // 40 positions, past every window; one prompt (whose attention would take the tiled kernel
  // without a window), chunks of 7 and single tokens (split attention over several chunks).
  const auto tokens = test::some_tokens(40, m->hp.n_vocab);
  const size_t v = static_cast<size_t>(m->hp.n_vocab);
  const auto want = test::run_tokens(*m, *ref, tokens, 40);
  for (const size_t chunk : {size_t{40}, size_t{7}, size_t{1}})
    expect_close(test::run_tokens(*m, *gpu, tokens, chunk), want, v,
                 arch + " " + type + " chunk " + std::to_string(chunk));
  if (arch == "phi3") {  // within the original context: the short factors
    m->use_context(8);
    const std::vector<int32_t> few(tokens.begin(), tokens.begin() + 8);
    expect_close(test::run_tokens(*m, *gpu, few, 1), test::run_tokens(*m, *ref, few, 8), v, "phi3 short factors");
  }
}

INSTANTIATE_TEST_SUITE_P(ArchsAndTypes, CudaFamilies,
                         ::testing::Combine(::testing::Values("gemma3", "phi3", "mistral"),
                                            ::testing::Values("f32", "f16")),
                         [](const auto& info) { return std::get<0>(info.param) + "_" + std::get<1>(info.param); });

std::vector<int32_t> greedy(const Model& m, Backend& be, int n_new) {
  return test::greedy_tokens(m, be, n_new, test::some_tokens(12, m.hp.n_vocab));
}

TEST(CudaFamiliesText, GreedyTextIdenticalAtF32AndAutoPlacesThemOnTheGpu) {
  HAYATE_SKIP_WITHOUT_CUDA();
  for (const std::string arch : {"gemma3", "phi3", "mistral"}) {
    SCOPED_TRACE(arch);
    const auto m = synth(arch, "f32");
    auto ref = make_backend("reference", 1);
    auto gpu = prepared_cuda(*m);
    EXPECT_EQ(greedy(*m, *gpu, 16), greedy(*m, *ref, 16));
    DeviceOptions automatic;
    automatic.device = "auto";
    std::ostringstream log;
    EXPECT_EQ(make_backend_for(*m, "cpu", 2, automatic, &log)->name(), "cuda") << log.str();
  }
}

// The CUDA backend runs everything but the BERT encoder's operations.
TEST(CudaFamilies, ImplementsEveryDecoderFeature) {
  HAYATE_SKIP_WITHOUT_CUDA();
  auto gpu = make_cuda_backend(DeviceOptions{});
  for (const ArchFeature f : {ArchFeature::LayerWindows, ArchFeature::GeluFeedForward, ArchFeature::PostNorms,
                              ArchFeature::ScaledInput, ArchFeature::RopeAttnFactor})
    EXPECT_TRUE(gpu->implements(f)) << arch_feature_name(f);
  EXPECT_FALSE(gpu->implements(ArchFeature::Encoder));
}

}  // namespace
}  // namespace hayate
