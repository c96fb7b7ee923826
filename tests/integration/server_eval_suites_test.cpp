// `hayate eval gsm8k|humaneval|jnli|jcommonsenseqa` on the team's sample files: through a real
// `hayate serve` (the embedded demo model, greedy, several connections) each item's output,
// extracted answer and score equal those of the same suite in this process; the summary says
// who answered; log-likelihood scoring through the server (echo + logprobs) matches in-process;
// ignore_eos generates to max_tokens; a killed run resumes from its results file.
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

// Log-likelihood scoring in process, and through this server's echo + logprobs (the client maps
// text_offset characters onto the Japanese continuation): the same numbers within 1e-4.
TEST_F(EvalSuites, LogLikelihoodThroughTheServerMatchesInProcess) {
  const std::string out = temp_path("qa-ll.jsonl"), remote_out = temp_path("qa-ll-remote.jsonl");
  std::filesystem::remove(out);
  std::filesystem::remove(remote_out);
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
  const auto remote = run_command(kHayate + " eval jcommonsenseqa " + kData + "jcommonsenseqa.jsonl --json --url " +
                                  url() + " --parallel 2 --out " + remote_out + " 2>&1");
  ASSERT_EQ(remote.exit_code, 0) << remote.output;
  std::map<std::string, json> by_id;
  for (const json& r : read_lines(remote_out)) by_id[r["id"]] = r;
  const std::vector<json> locals = read_lines(out);
  ASSERT_EQ(by_id.size(), locals.size());
  for (const json& l : locals) {
    const json& r = by_id[l["id"]];
    ASSERT_EQ(r["loglikelihoods"].size(), 5u) << r;
    for (int c = 0; c < 5; ++c)
      EXPECT_NEAR(r["loglikelihoods"][c].get<double>(), l["loglikelihoods"][c].get<double>(), 1e-4)
          << l["id"] << " choice " << c;
    EXPECT_EQ(r["extracted"], l["extracted"]);
    EXPECT_EQ(r["correct"], l["correct"]);
  }
}

// echo + logprobs + max_tokens 0 scores the prompt alone, in OpenAI's legacy shape: the text is
// the prompt, one entry per prompt token (the first null), offsets in characters.
TEST_F(EvalSuites, EchoWithLogprobsScoresThePrompt) {
  const std::string prompt = "日本の首都は東京です。";
  const json body = {{"prompt", prompt}, {"max_tokens", 0}, {"echo", true}, {"logprobs", 2}};
  const HttpResponse r = http_post(server->port(), "/v1/completions", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = json::parse(r.body);
  const json& c = j["choices"][0];
  EXPECT_EQ(c["text"], prompt);
  EXPECT_EQ(c["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 0);
  const json& lp = c["logprobs"];
  const size_t n = lp["tokens"].size();
  ASSERT_EQ(n, j["usage"]["prompt_tokens"].get<size_t>());
  ASSERT_GE(n, 3u);
  ASSERT_EQ(lp["token_logprobs"].size(), n);
  ASSERT_EQ(lp["top_logprobs"].size(), n);
  ASSERT_EQ(lp["text_offset"].size(), n);
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  EXPECT_TRUE(lp["top_logprobs"][0].is_null());
  for (size_t t = 1; t < n; ++t) {
    EXPECT_LE(lp["token_logprobs"][t].get<double>(), 0.0);
    EXPECT_GE(lp["top_logprobs"][t].size(), 1u);
    EXPECT_LE(lp["top_logprobs"][t].size(), 2u);
    EXPECT_GE(lp["text_offset"][t].get<int64_t>(), lp["text_offset"][t - 1].get<int64_t>());
  }
  EXPECT_EQ(lp["text_offset"][0], 0);
  EXPECT_LE(lp["text_offset"][n - 1].get<int64_t>(), 11) << "characters, not bytes: the prompt has 11 (33 bytes)";
  // Whole-character tokens spell the echoed text.
  const json ascii = json::parse(
      http_post(
          server->port(), "/v1/completions",
          json({{"prompt", "Hello world, this is a test."}, {"max_tokens", 0}, {"echo", true}, {"logprobs", 1}}).dump())
          .body);
  std::string spelled;
  for (const json& t : ascii["choices"][0]["logprobs"]["tokens"]) spelled += t.get<std::string>();
  EXPECT_EQ(spelled, "Hello world, this is a test.") << ascii;

  // With tokens after it: the prompt's entries come first, then the generated ones.
  json more = body;
  more["max_tokens"] = 3;
  more["ignore_eos"] = true;
  const json g = json::parse(http_post(server->port(), "/v1/completions", more.dump()).body);
  EXPECT_EQ(g["choices"][0]["logprobs"]["tokens"].size(), n + 3) << g;
  EXPECT_EQ(g["choices"][0]["logprobs"]["token_logprobs"][1], lp["token_logprobs"][1]);

  // Streaming cannot send the prompt's logprobs before its text: refused, saying so.
  more["stream"] = true;
  const HttpResponse s = http_post(server->port(), "/v1/completions", more.dump());
  EXPECT_EQ(s.status, 400) << s.body;
  EXPECT_EQ(json::parse(s.body)["error"]["param"], "stream");
  EXPECT_NE(s.body.find("'echo' with 'logprobs'"), std::string::npos) << s.body;
  // max_tokens 0 only with echo.
  const HttpResponse zero =
      http_post(server->port(), "/v1/completions", json({{"prompt", prompt}, {"max_tokens", 0}}).dump());
  EXPECT_EQ(zero.status, 400) << zero.body;
}

// ignore_eos reaches the engine: a greedy answer that ends early (end of generation) goes on to
// exactly max_tokens.
TEST_F(EvalSuites, IgnoreEosGeneratesExactlyMaxTokens) {
  for (const char* path : {"/v1/chat/completions", "/v1/completions"}) {
    json body = {{"max_tokens", 200}, {"temperature", 0}};
    if (std::string(path) == "/v1/completions")
      body["prompt"] = "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n";
    else
      body["messages"] = {{{"role", "user"}, {"content", "Hello"}}};
    const json early = json::parse(http_post(server->port(), path, body.dump()).body);
    ASSERT_EQ(early["choices"][0]["finish_reason"], "stop") << path << " " << early;
    ASSERT_LT(early["usage"]["completion_tokens"].get<int>(), 200) << early;
    body["ignore_eos"] = true;
    const json full = json::parse(http_post(server->port(), path, body.dump()).body);
    EXPECT_EQ(full["choices"][0]["finish_reason"], "length") << path << " " << full;
    EXPECT_EQ(full["usage"]["completion_tokens"], 200) << path;
  }
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
