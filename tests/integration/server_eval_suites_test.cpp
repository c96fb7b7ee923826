// `hayate eval gsm8k|humaneval|jnli|jcommonsenseqa` on the team's sample files: through a real
// `hayate serve` (the embedded demo model, greedy, several connections) each item's output,
// extracted answer and score equal those of the same suite in this process; the summary says
// who answered; log-likelihood scoring through a server without prompt logprobs is a clear
// error; a killed run resumes from its results file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "integration/server_harness.h"

namespace hayate::test {
namespace {

using nlohmann::json;

ServerProcess* server = nullptr;
std::string url() { return "http://127.0.0.1:" + std::to_string(server->port()); }
const std::string kData = std::string(HAYATE_TESTDATA) + "/eval/";

class EvalSuites : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server = new ServerProcess({"--model-alias", "demo"}, {}, true, /*tiny=*/false); }
  static void TearDownTestSuite() {
    delete server;
    server = nullptr;
  }
};

std::vector<json> read_lines(const std::string& path) {
  std::ifstream f(path);
  std::vector<json> out;
  for (std::string line; std::getline(f, line);) out.push_back(json::parse(line));
  return out;
}

// Runs `suite file args` remotely (3 connections) and in this process; returns both summaries
// and compares the records field by field.
std::pair<json, json> both_ways(const std::string& suite, const std::string& file, const std::string& args,
                                const std::vector<std::string>& fields) {
  const std::string remote_out = temp_path(suite + "-remote.jsonl"), local_out = temp_path(suite + "-local.jsonl");
  std::filesystem::remove(remote_out);  // left by an earlier run, it would be resumed
  std::filesystem::remove(local_out);
  const std::string cmd = kHayate + " eval " + suite + " " + kData + file + " " + args + " --json";
  const auto remote =
      run_command(cmd + " --url " + url() + " -m demo --parallel 3 --out " + remote_out + " 2>/dev/null");
  EXPECT_EQ(remote.exit_code, 0) << remote.output;
  if (remote.exit_code != 0) return {};
  const auto local = run_command(cmd + " --out " + local_out + " 2>/dev/null");
  EXPECT_EQ(local.exit_code, 0) << local.output;
  if (local.exit_code != 0) return {};
  const auto ri = read_lines(remote_out), li = read_lines(local_out);
  EXPECT_EQ(ri.size(), li.size());
  std::map<std::string, json> by_id;
  for (const json& r : ri) by_id[r["id"]] = r;  // parallel workers finish in any order
  for (const json& l : li)
    for (const std::string& f : fields) EXPECT_EQ(by_id[l["id"]][f], l[f]) << suite << " " << l["id"] << " " << f;
  return {json::parse(remote.output), json::parse(local.output)};
}

TEST_F(EvalSuites, Gsm8kThroughTheServerMatchesInProcess) {
  const auto [r, l] =
      both_ways("gsm8k", "gsm8k.jsonl", "--shots 2 -n 24", {"prompt", "output", "extracted", "correct"});
  EXPECT_EQ(r["schema"], "hayate.eval.summary/1");
  EXPECT_EQ(r["suite"], "gsm8k");
  EXPECT_EQ(r["model"], "demo");
  EXPECT_EQ(r["server"], url() + "/v1/completions");
  EXPECT_EQ(l["format"], "Q8_0");
  EXPECT_NE(l["server"].get<std::string>().find("in-process"), std::string::npos);
  EXPECT_EQ(r["items"], 5);
  EXPECT_EQ(r["metrics"], l["metrics"]);
}

TEST_F(EvalSuites, HumanEvalThroughTheServerMatchesInProcess) {
  const auto [r, l] = both_ways("humaneval", "humaneval.jsonl", "-n 24", {"samples", "passed"});
  EXPECT_EQ(r["metrics"], l["metrics"]);
  EXPECT_TRUE(r["metrics"].contains("pass@1"));
  const std::string net = r["settings"]["sandbox"]["network"];
  EXPECT_TRUE(net == "netns" || net == "seccomp") << net;
}

TEST_F(EvalSuites, JnliByGenerationThroughTheServerMatchesInProcess) {
  const auto [r, l] = both_ways("jnli", "jnli.jsonl", "--score generate", {"prompt", "output", "extracted", "correct"});
  EXPECT_EQ(r["metrics"], l["metrics"]);
  EXPECT_EQ(r["settings"]["scoring"], "generate");
}

TEST_F(EvalSuites, LogLikelihoodInProcessAndItsClearErrorThroughThisServer) {
  const std::string out = temp_path("qa-ll.jsonl");
  std::filesystem::remove(out);
  const auto local = run_command(kHayate + " eval jcommonsenseqa " + kData + "jcommonsenseqa.jsonl --json --out " +
                                 out + " 2>/dev/null");
  ASSERT_EQ(local.exit_code, 0) << local.output;
  for (const json& rec : read_lines(out)) {
    ASSERT_EQ(rec["loglikelihoods"].size(), 5u);
    double best = -1e300;
    int pick = -1;
    for (int c = 0; c < 5; ++c) {
      const double ll = rec["loglikelihoods"][c];
      EXPECT_LT(ll, 0.0);
      if (ll > best) best = ll, pick = c;
    }
    EXPECT_EQ(rec["extracted"], pick);
    EXPECT_EQ(rec["correct"], pick == rec["answer"].get<int>());
  }
  // hayate serve echoes the prompt without its tokens' logprobs: said so, with what to do.
  const auto remote = run_command(kHayate + " eval jnli " + kData + "jnli.jsonl --url " + url() + " 2>&1");
  EXPECT_EQ(remote.exit_code, 4) << remote.output;
  EXPECT_NE(remote.output.find("does not return log-probabilities of the prompt's tokens"), std::string::npos)
      << remote.output;
  EXPECT_NE(remote.output.find("--score generate"), std::string::npos) << remote.output;
}

TEST_F(EvalSuites, AKilledRunResumesFromItsResultsFile) {
  const std::string out = temp_path("resume.jsonl");
  std::filesystem::remove(out);
  const std::string cmd = kHayate + " eval gsm8k " + kData + "gsm8k.jsonl --shots 1 -n 8 --json --out " + out;
  auto first = run_command(cmd + " --limit 3 2>/dev/null");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto lines = read_lines(out);
  ASSERT_EQ(lines.size(), 3u);
  {
    std::ofstream f(out, std::ios::app);
    f << "{\"id\": \"line-4\", \"suite\": \"gs";  // torn by a kill mid-write
  }
  const auto second = run_command(cmd + " 2>&1 >/dev/null");
  EXPECT_NE(second.output.find("dropping a torn last line"), std::string::npos) << second.output;
  const auto again = run_command(cmd + " 2>/dev/null");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  const json s = json::parse(again.output);
  EXPECT_EQ(s["items_resumed"], 5);
  EXPECT_EQ(s["items_run"], 0);
  const auto all = read_lines(out);
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0], lines[0]);
  EXPECT_EQ(all[4]["id"], "line-5");

  const auto wrong = run_command(kHayate + " eval jnli " + kData + "jnli.jsonl --out " + out + " 2>&1");
  EXPECT_EQ(wrong.exit_code, 2) << wrong.output;
  EXPECT_NE(wrong.output.find("a record of suite \"gsm8k\", not \"jnli\""), std::string::npos) << wrong.output;
}

}  // namespace
}  // namespace hayate::test
