// hayate against PyTorch + transformers: tools/reference/make_hf_models.py made small random
// llama / qwen2 / qwen3 models, their float32 logits and greedy continuations on a machine with
// PyTorch; the outputs live in tests/data/hf/<name>/. Here the real `hayate convert` turns each
// directory into GGUF and `hayate run` must reproduce the logits (max relative error <= 1e-4 at
// F32) and the greedy continuation (64 tokens, or as many as reference.json lists) exactly. A
// reference.json "ctx_size" gives the context each prompt runs with (Phi-3's LongRoPE factors
// follow it). Where a CUDA device is visible, the architectures the CUDA backend runs are checked
// on it too (--device cuda), to the same bounds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "backend/backend.h"
#include "support/hf_models.h"
#include "support/test_util.h"

namespace hayate {
namespace {

// The reference folders whose architecture the CUDA backend runs: every decoder family.
bool runs_on_cuda(const std::string& name) {
  static const std::vector<std::string> kCuda = {
      "llama", "llama3", "qwen2", "qwen3", "qwen3_moe", "qwen3_moe_unnorm", "mixtral", "gemma3", "phi3", "mistral"};
  return std::find(kCuda.begin(), kCuda.end(), name) != kCuda.end() && cuda_built() && cuda_device_count() > 0;
}

// The program and the reference folders: the paths compiled in, or HAYATE_TEST_BIN and
// HAYATE_HF_MODELS (a GPU machine runs programs built here from another checkout path).
std::string hayate_bin() {
  const char* env = std::getenv("HAYATE_TEST_BIN");
  return env && *env ? env : HAYATE_BIN;
}
const std::string kBin = hayate_bin();
const std::filesystem::path kData = test::hf_models_root();

std::vector<std::string> model_dirs() {
  std::vector<std::string> out;
  if (!std::filesystem::exists(kData)) return out;
  // Decoder references only (they hold greedy continuations); the encoder folders (bert, xlmr,
  // bert-rerank) have their own tests.
  for (const auto& e : std::filesystem::directory_iterator(kData)) {
    std::ifstream f(e.path() / "reference.json");
    if (f && nlohmann::json::parse(f).contains("greedy")) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string join_ids(const nlohmann::json& ids) {
  std::string s;
  for (const auto& id : ids) {
    if (!s.empty()) s += ',';
    s += std::to_string(id.get<int>());
  }
  return s;
}

class HfReference : public ::testing::TestWithParam<std::string> {};

TEST_P(HfReference, LogitsAndGreedyTextMatchTransformers) {
  const auto dir = kData / GetParam();
  std::ifstream rf(dir / "reference.json");
  const auto ref = nlohmann::json::parse(rf);
  const std::string gguf = test::temp_path(GetParam() + "-f32.gguf");
  auto r = test::run_command(kBin + " convert " + dir.string() + " -o " + gguf + " --outtype f32 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const int vocab = ref["vocab_size"];
  for (size_t i = 0; i < ref["prompts"].size(); ++i) {
    const auto& prompt = ref["prompts"][i];
    const std::string ctx = ref.contains("ctx_size") ? " -c " + std::to_string(ref["ctx_size"][i].get<int>()) : "";
    const auto want = test::read_f32_file((dir / ("logits_" + std::to_string(i) + ".f32")).string());
    ASSERT_EQ(want.size(), prompt.size() * static_cast<size_t>(vocab));
    std::vector<std::string> backends = {"reference", "cpu"};
    if (runs_on_cuda(GetParam())) backends.push_back("cuda");
    for (const std::string& backend : backends) {
      const std::string out = test::temp_path(GetParam() + "-" + backend + std::to_string(i) + ".f32");
      const std::string where = backend == "cuda" ? " --device cuda" : " --backend " + backend;
      r = test::run_command(kBin + " run -m " + gguf + ctx + where + " --prompt-ids " + join_ids(prompt) +
                            " -n 0 --logits-out " + out + " 2>&1");
      ASSERT_EQ(r.exit_code, 0) << r.output;
      const auto got = test::read_f32_file(out);
      ASSERT_EQ(got.size(), want.size());
      double worst = 0;
      for (size_t p = 0; p < prompt.size(); ++p)
        worst = std::max(worst, test::max_relative_error(got.data() + p * vocab, want.data() + p * vocab, vocab));
      std::printf("%s prompt %zu (%zu tokens) backend %s: max relative error %.3g\n", GetParam().c_str(), i,
                  prompt.size(), backend.c_str(), worst);
      EXPECT_LE(worst, 1e-4) << backend << " prompt " << i;
    }

    for (const std::string device : {"cpu", "cuda"}) {
      if (device == "cuda" && !runs_on_cuda(GetParam())) continue;
      r = test::run_command(kBin + " run -m " + gguf + ctx + " --device " + device + " --prompt-ids " +
                            join_ids(prompt) + " -n " + std::to_string(ref["greedy"][i].size()) +
                            " --temp 0 --ignore-eos --json 2>/dev/null");
      ASSERT_EQ(r.exit_code, 0) << device;
      const auto gen = nlohmann::json::parse(r.output);
      EXPECT_EQ(gen["ids"], ref["greedy"][i]) << "greedy continuation of prompt " << i << " on " << device;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, HfReference, ::testing::ValuesIn(model_dirs()),
                         [](const auto& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(HfReference);

TEST(HfReferenceData, IsPresent) {
  EXPECT_GE(model_dirs().size(), 3u) << "tests/data/hf should hold the llama, qwen2 and qwen3 reference outputs";
}

}  // namespace
}  // namespace hayate
