// The demo model that tools/demo-model/ trains and assets/demo-q8_0.gguf ships, measured through
// the real `hayate` program on its held-out split (tools/demo-model/data/): exact-match accuracy,
// perplexity against PyTorch's on the same token ids, and the embedded default being that file.
// With the Hugging Face directory of the training run present (tools/demo-model/out/hf, or
// $HAYATE_DEMO_HF) it also converts it to F32/F16 and compares logits with PyTorch's (and a
// float64 pass's) and Q8_0's top-1 tokens with F16's; without it those checks are skipped (the
// directory is ~27 MB and is not committed). The embedded Q8_0 file's logits are checked always,
// against committed float64 logits of its own dequantized weights (data/demo_q8_0_fp64.*).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/test_util.h"

namespace hayate {
namespace {

const std::string kBin = HAYATE_BIN;
const std::filesystem::path kDemo = std::filesystem::path(HAYATE_SOURCE_DIR) / "tools" / "demo-model";
const std::filesystem::path kData = kDemo / "data";
const std::string kModel = (std::filesystem::path(HAYATE_SOURCE_DIR) / "assets" / "demo-q8_0.gguf").string();

// Issue 21's targets, and guards a little under what the committed model (recipe 4) measured
// (MODEL_CARD.md): world 394/394, other 233/270 of which products 99/100 and subtractions 100/100.
constexpr double kAdditionTarget = 0.95;
constexpr double kWorldTarget = 0.70;
constexpr double kWorldMeasured = 0.99;
// 233/270 is 0.863 and 232/270 0.859: this guard is also issue 21's "no worse than recipe 1's
// model" (233/270) on the other tasks, which the recipe-3 model (232) fails.
constexpr double kOtherMeasured = 0.86;
// Products are what recipe 3 gave back (recipe 2's model: 89/100); the guard keeps them from
// sliding back unnoticed inside the all-tasks figure.
constexpr double kArithmeticMeasured = 0.96;
// The cpu backend (8-bit activations for Q8_0 weights) against float64 on the embedded model:
// measured 9.02e-3 on the committed prompts (the reference backend: 1.92e-7, held to 1e-4).
constexpr double kCpuQ8Bound = 2e-2;

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

nlohmann::json eval_json(const std::string& args) {
  const auto r = test::run_command(kBin + " eval " + args + " --json 2>/dev/null");
  EXPECT_EQ(r.exit_code, 0) << args;
  return r.exit_code == 0 ? nlohmann::json::parse(r.output) : nlohmann::json::object();
}

nlohmann::json task_result(const std::string& file, const std::string& model) {
  const auto j = eval_json("tasks -m " + model + " " + (kData / file).string());
  std::printf("%s on %s: accuracy %.4f (%d / %d)\n", model.c_str(), file.c_str(), j.value("accuracy", 0.0),
              j.value("correct", 0), j.value("items", 0));
  return j;
}

double task_accuracy(const std::string& file, const std::string& model) {
  return task_result(file, model).value("accuracy", 0.0);
}

double perplexity(const std::string& model, const std::string& out = "") {
  const auto j = eval_json("perplexity -m " + model + " --token-ids " + (kData / "reference_ppl.json").string() +
                           " --ctx 512" + (out.empty() ? "" : " --out " + out));
  return j.value("perplexity", 0.0);
}

TEST(DemoModel, TwoDigitAdditionThroughHayate) {
  EXPECT_GE(task_accuracy("heldout_addition.jsonl", kModel), kAdditionTarget);
}

TEST(DemoModel, WorldQuestionsDoNotRegress) { EXPECT_GE(task_accuracy("heldout_world.jsonl", kModel), kWorldMeasured); }

TEST(DemoModel, OtherTasksDoNotRegress) {
  const auto j = task_result("heldout_other.jsonl", kModel);
  EXPECT_GE(j.value("accuracy", 0.0), kOtherMeasured);
  for (const std::string task : {"multiplication", "subtraction"}) {
    ASSERT_TRUE(j.contains("per_task") && j["per_task"].contains(task)) << "no " << task << " items in the split";
    EXPECT_GE(j["per_task"][task].value("accuracy", 0.0), kArithmeticMeasured) << task;
  }
}

// Issues 7 and 21 ask for 70%; recipe 1's model scored 51.8%, recipe 2's 100%, recipe 3's 99.75%, recipe 4's
// 100% (MODEL_CARD.md).
TEST(DemoModel, WorldQuestionsReachIssueTarget) {
  EXPECT_GE(task_accuracy("heldout_world.jsonl", kModel), kWorldTarget);
}

TEST(DemoModel, TokenizerAndPerplexityMatchPyTorch) {
  const auto ref = read_json(kData / "reference_ppl.json");
  const auto r = test::run_command(kBin + " tokenize -m " + kModel + " --stdin < " +
                                   (kData / "heldout_text.txt").string() + " 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(r.output), ref["token_ids"]) << "hayate's tokens differ from Hugging Face's";

  const double want = ref["perplexity"];
  const double got = perplexity(kModel);
  std::printf("held-out perplexity: Q8_0 %.4f, PyTorch (float16 weights in float32) %.4f\n", got, want);
  EXPECT_NEAR(got / want, 1.0, 0.01);
}

TEST(DemoModel, EmbeddedDefaultIsTheCommittedFile) {
  auto ids = read_json(kData / "reference_ppl.json")["token_ids"];
  ids.erase(ids.begin() + 600, ids.end());
  const std::string file = test::temp_path("ids.json");
  std::ofstream(file) << ids.dump();
  const double want = eval_json("perplexity -m " + kModel + " --token-ids " + file).value("perplexity", 0.0);
  EXPECT_GT(want, 1.0);
  EXPECT_EQ(eval_json("perplexity --token-ids " + file).value("perplexity", 0.0), want);
  EXPECT_EQ(eval_json("perplexity -m embedded:hayate-demo --token-ids " + file).value("perplexity", 0.0), want);
}

std::filesystem::path hf_dir() {
  if (const char* env = std::getenv("HAYATE_DEMO_HF"); env && *env) return env;
  return kDemo / "out" / "hf";
}

std::string convert(const std::string& outtype) {
  const std::string out = test::temp_path("demo-" + outtype + ".gguf");
  const auto r =
      test::run_command(kBin + " convert " + hf_dir().string() + " -o " + out + " --outtype " + outtype + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return out;
}

// The largest max_relative_error over the rows of vocab logits that both hold.
double worst_relative_error(const float* got, const float* want, size_t rows, int vocab) {
  double worst = 0;
  for (size_t p = 0; p < rows; ++p)
    worst = std::max(worst, test::max_relative_error(got + p * vocab, want + p * vocab, vocab));
  return worst;
}

double worst_relative_error(const std::vector<float>& got, const std::vector<float>& want, int vocab) {
  EXPECT_EQ(got.size(), want.size());
  return worst_relative_error(got.data(), want.data(), std::min(got.size(), want.size()) / vocab, vocab);
}

// Every position's logits of `hayate run` on a prompt of token ids.
std::vector<float> prompt_logits(const std::string& model, const std::string& backend, const nlohmann::json& prompt) {
  std::string ids;
  for (const auto& id : prompt) {
    if (!ids.empty()) ids += ',';
    ids += std::to_string(id.get<int>());
  }
  const std::string out = test::temp_path("logits.f32");
  const auto r = test::run_command(kBin + " run -m " + model + " --device cpu --backend " + backend + " --prompt-ids " +
                                   ids + " -n 0 --logits-out " + out + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.exit_code == 0 ? test::read_f32_file(out) : std::vector<float>{};
}

// Issue 21's logits check without the HF directory: the embedded file through the reference
// backend (fp32 compute on dequantized weights, fp32 KV) against float64 logits of the same
// dequantized weights (fp64_logits.py --gguf), committed. The cpu backend quantizes activations to
// 8 bits for Q8_0 weights, so it is held to a looser bound measured on these prompts.
TEST(DemoModel, EmbeddedModelLogitsMatchFloat64) {
  const auto ref = read_json(kData / "demo_q8_0_fp64.json");
  const int vocab = ref["vocab_size"];
  const auto want = test::read_f32_file((kData / ref["logits"].get<std::string>()).string());
  for (const auto& [backend, bound] : {std::pair<std::string, double>{"reference", 1e-4}, {"cpu", kCpuQ8Bound}}) {
    size_t row = 0;
    for (size_t i = 0; i < ref["prompts"].size(); ++i) {
      const auto& prompt = ref["prompts"][i];
      const auto got = prompt_logits(kModel, backend, prompt);
      ASSERT_EQ(got.size(), prompt.size() * vocab) << backend << " prompt " << i;
      ASSERT_LE((row + prompt.size()) * vocab, want.size()) << "the committed logits end before prompt " << i;
      const double err = worst_relative_error(got.data(), want.data() + row * vocab, prompt.size(), vocab);
      EXPECT_LE(err, bound) << backend << " prompt " << i << ": assets/demo-q8_0.gguf changed? Rewrite the data with "
                            << "fp64_logits.py --gguf (tools/demo-model/README.md)";
      std::printf("embedded Q8_0, %s backend, prompt %zu (%zu tokens): max relative error %.3g against float64\n",
                  backend.c_str(), i, prompt.size(), err);
      row += prompt.size();
    }
    EXPECT_EQ(row * vocab, want.size()) << "the committed logits hold more rows than the prompts";
  }
}

// Two references: PyTorch's float32 logits and a float64 forward pass in plain Python
// (fp64_logits.py), which gets issue 7's 1e-4 (hayate is within 1e-6 of it). train.py now computes
// PyTorch's logits on the CPU (reference.json says "device": "cpu"), and they get 1e-4 too; the
// committed model's were computed on the GPU, whose kernels are not exact float32 (1.1e-3 off
// float64 on these prompts), so a reference without that key gets 2e-3.
TEST(DemoModel, FullPrecisionLogitsMatchPyTorch) {
  if (!std::filesystem::exists(hf_dir() / "reference.json")) GTEST_SKIP() << "no training output at " << hf_dir();
  const auto ref = read_json(hf_dir() / "reference.json");
  const int vocab = ref["vocab_size"];
  const std::string torch_device = ref.value("device", std::string("cuda"));
  const double torch_bound = torch_device == "cpu" ? 1e-4 : 2e-3;
  for (const std::string type : {"f32", "f16"}) {  // F16 holds the trained weights exactly
    const std::string model = convert(type);
    for (const std::string backend : {"reference", "cpu"}) {
      for (size_t i = 0; i < ref["prompts"].size(); ++i) {
        const auto got = prompt_logits(model, backend, ref["prompts"][i]);
        const auto torch = test::read_f32_file((hf_dir() / ("logits_" + std::to_string(i) + ".f32")).string());
        const double vs_torch = worst_relative_error(got, torch, vocab);
        EXPECT_LE(vs_torch, torch_bound) << type << " " << backend << " prompt " << i << " (PyTorch on " << torch_device
                                         << ")";
        const auto fp64_file = hf_dir() / ("logits_" + std::to_string(i) + ".fp64.f32");
        double vs_fp64 = -1;
        if (std::filesystem::exists(fp64_file)) {
          vs_fp64 = worst_relative_error(got, test::read_f32_file(fp64_file.string()), vocab);
          EXPECT_LE(vs_fp64, 1e-4) << type << " " << backend << " prompt " << i;
        }
        std::printf("%s %s prompt %zu: max relative error %.3g against PyTorch (%s), %.3g against float64\n",
                    type.c_str(), backend.c_str(), i, vs_torch, torch_device.c_str(), vs_fp64);
      }
    }
  }
}

TEST(DemoModel, Q8KeepsTopOneOfF16) {
  if (!std::filesystem::exists(hf_dir() / "config.json")) GTEST_SKIP() << "no training output at " << hf_dir();
  const std::string f16 = convert("f16");
  const std::string f16_out = test::temp_path("f16.json"), q8_out = test::temp_path("q8.json");
  const double f16_ppl = perplexity(f16, f16_out);
  const double q8_ppl = perplexity(kModel, q8_out);
  const auto a = read_json(f16_out)["top1"], b = read_json(q8_out)["top1"];
  ASSERT_EQ(a.size(), b.size());
  size_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  const double agreement = static_cast<double>(same) / static_cast<double>(a.size());
  std::printf("Q8_0 top-1 agreement with F16: %.4f (%zu / %zu); perplexity F16 %.4f, Q8_0 %.4f\n", agreement, same,
              a.size(), f16_ppl, q8_ppl);
  EXPECT_GE(agreement, 0.99);
  const double want = read_json(kData / "reference_ppl.json")["perplexity"];
  EXPECT_NEAR(f16_ppl / want, 1.0, 0.01);
}

}  // namespace
}  // namespace hayate
