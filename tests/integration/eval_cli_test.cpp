// `hayate eval`: perplexity windows and their NLL checked against logits from `hayate run`, task
// scoring (exact match after trimming, per-task counts, per-item output) and its errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/test_util.h"

namespace hayate {
namespace {

const std::string kBin = HAYATE_BIN;

std::string synth_f32(const std::string& name) {
  const std::string path = test::temp_path(name);
  const auto r = test::run_command(kBin + " synth -o " + path +
                                   " --n-embd 128 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 256 --type f32 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return path;
}

// NLL of each next token inside one window, from logits that `hayate run --logits-out` wrote.
std::vector<double> window_nll(const std::string& model, const std::vector<int>& ids, size_t lo, size_t n) {
  std::string list;
  for (size_t i = lo; i < lo + n; ++i) {
    if (!list.empty()) list += ',';
    list += std::to_string(ids[i]);
  }
  const std::string out = test::temp_path("window.f32");
  const auto r =
      test::run_command(kBin + " run -m " + model + " --prompt-ids " + list + " -n 0 --logits-out " + out + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const std::vector<float> logits = test::read_f32_file(out);
  const size_t vocab = logits.size() / n;
  std::vector<double> nll;
  for (size_t p = 0; p + 1 < n; ++p) {
    const float* row = logits.data() + p * vocab;
    double best = row[0], sum = 0;
    for (size_t v = 1; v < vocab; ++v) best = std::max(best, static_cast<double>(row[v]));
    for (size_t v = 0; v < vocab; ++v) sum += std::exp(row[v] - best);
    nll.push_back(std::log(sum) + best - row[ids[lo + p + 1]]);
  }
  return nll;
}

TEST(EvalCli, PerplexityIsTheMeanNllOfNonOverlappingWindows) {
  const std::string model = synth_f32("ppl.gguf");
  std::vector<int> ids;
  for (int i = 0; i < 40; ++i) ids.push_back((i * 37 + 11) % 200);
  const std::string ids_file = test::temp_path("ids.json");
  std::ofstream(ids_file) << nlohmann::json(ids).dump();
  const std::string detail_file = test::temp_path("detail.json");
  const auto r = test::run_command(kBin + " eval perplexity -m " + model + " --token-ids " + ids_file +
                                   " --ctx 16 --json --out " + detail_file + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["tokens"], 40);
  EXPECT_EQ(j["predicted"], 15 + 15 + 7);  // windows of 16, 16 and 8 tokens
  EXPECT_NEAR(j["perplexity"].get<double>(), std::exp(j["mean_nll"].get<double>()), 1e-9);
  EXPECT_GT(j["std_error_nll"].get<double>(), 0);

  std::ifstream df(detail_file);
  const auto detail = nlohmann::json::parse(df);
  ASSERT_EQ(detail["nll"].size(), 37u);
  ASSERT_EQ(detail["top1"].size(), 37u);
  // The second window starts from an empty cache at token 16: its NLL equals a fresh run's.
  const std::vector<double> want = window_nll(model, ids, 16, 16);
  for (size_t p = 0; p < want.size(); ++p)
    EXPECT_NEAR(detail["nll"][15 + p].get<double>(), want[p], 1e-4 * std::max(1.0, want[p])) << "position " << p;
}

// Perplexity and its standard error recomputed from the engine's logits (`hayate run
// --logits-out` over each window, log-softmax here) must equal what eval perplexity reports.
TEST(EvalCli, PerplexityAndStdErrorEqualADirectComputation) {
  const std::string model = synth_f32("direct.gguf");
  std::vector<int> ids;
  for (int i = 0; i < 40; ++i) ids.push_back((i * 53 + 7) % 250);
  const std::string ids_file = test::temp_path("ids.json");
  std::ofstream(ids_file) << nlohmann::json(ids).dump();
  const auto r =
      test::run_command(kBin + " eval perplexity -m " + model + " --token-ids " + ids_file + " --ctx 16 --json 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);

  std::vector<double> nll;
  for (size_t lo = 0; lo < ids.size(); lo += 16) {
    const std::vector<double> w = window_nll(model, ids, lo, std::min<size_t>(16, ids.size() - lo));
    nll.insert(nll.end(), w.begin(), w.end());
  }
  ASSERT_EQ(nll.size(), 37u);
  double mean = 0, var = 0;
  for (double x : nll) mean += x;
  mean /= static_cast<double>(nll.size());
  for (double x : nll) var += (x - mean) * (x - mean);
  var /= static_cast<double>(nll.size() - 1);
  const double std_error = std::sqrt(var / static_cast<double>(nll.size()));
  EXPECT_NEAR(j["mean_nll"].get<double>(), mean, 1e-4 * mean);
  EXPECT_NEAR(j["std_error_nll"].get<double>(), std_error, 1e-3 * std_error);
  EXPECT_NEAR(j["perplexity"].get<double>(), std::exp(mean), 1e-4 * std::exp(mean));
  EXPECT_NEAR(j["perplexity_std_error"].get<double>(), std::exp(mean) * std_error, 1e-3 * std::exp(mean) * std_error);
  // A random model over a 256-byte vocabulary sits near the uniform guess, far from a trivial 1.
  EXPECT_GT(j["perplexity"].get<double>(), 10.0);
}

TEST(EvalCli, TasksScoreExactMatchesPerTask) {
  const std::string file = test::temp_path("tasks.jsonl");
  const std::string q = "<|im_start|>user\\nWhat is 2 + 3?<|im_end|>\\n<|im_start|>assistant\\n";
  std::ofstream(file) << "{\"prompt\": \"" << q << "\", \"answer\": \" 5 \", \"task\": \"sum\"}\n\n"
                      << "{\"prompt\": \"" << q << "\", \"answer\": \"6\", \"task\": \"wrong\"}\n";
  const std::string out = test::temp_path("items.jsonl");
  const auto r = test::run_command(kBin + " eval tasks " + file + " --json --out " + out + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["items"], 2);
  EXPECT_EQ(j["correct"], 1);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 0.5);
  EXPECT_EQ(j["per_task"]["sum"]["correct"], 1);
  EXPECT_EQ(j["per_task"]["wrong"]["correct"], 0);

  std::ifstream f(out);
  std::string line;
  std::vector<nlohmann::json> items;
  while (std::getline(f, line)) items.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0]["output"], "5");
  EXPECT_EQ(items[0]["correct"], true);
  EXPECT_EQ(items[1]["correct"], false);
}

TEST(EvalCli, ErrorsNameTheFileAndLine) {
  const std::string file = test::temp_path("bad.jsonl");
  std::ofstream(file) << "{\"prompt\": \"a\", \"answer\": \"b\"}\n{\"prompt\": 3}\n";
  auto r = test::run_command(kBin + " eval tasks " + file + " 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("bad.jsonl:2"), std::string::npos) << r.output;

  r = test::run_command(kBin + " eval tasks /nonexistent/tasks.jsonl 2>&1");
  EXPECT_EQ(r.exit_code, 3) << r.output;

  const std::string ids = test::temp_path("ids.json");
  std::ofstream(ids) << "[1, 2, 99999]";
  r = test::run_command(kBin + " eval perplexity --token-ids " + ids + " 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("99999 is not a token id"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace hayate
