// /v1/embeddings and /v1/rerank served by converted bert encoders (issue 20): the reference
// folders of tools/reference/make_bert_models.py (tests/data/hf/bert and bert-rerank) converted
// by `hayate convert`, both served by one `hayate serve` through its models table. The vectors and
// scores must be transformers' within 1e-4, the rerank results sorted by score and cut to top_n,
// and a chat request to an encoder refused with a clear 400.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "server_harness.h"

namespace hayate::test {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

const fs::path kData = fs::path(HAYATE_TESTDATA) / "hf";

std::string convert(const std::string& name) {
  const std::string out = ::testing::TempDir() + "/hayate-bert-" + std::to_string(::getpid()) + "-" + name + ".gguf";
  const auto r = run_command(kHayate + " convert " + (kData / name).string() + " -o " + out + " --outtype f32 2>&1");
  if (r.exit_code != 0) throw std::runtime_error("hayate convert failed: " + r.output);
  return out;
}

json reference(const std::string& name) { return json::parse(std::ifstream(kData / name / "reference.json")); }

TEST(ServerBert, EmbeddingsAndRerankMatchTransformers) {
  if (!fs::exists(kData / "bert" / "reference.json") || !fs::exists(kData / "bert-rerank" / "reference.json"))
    GTEST_SKIP() << "no bert reference folders in " << kData.string();
  const std::string config = ::testing::TempDir() + "/hayate-bert-" + std::to_string(::getpid()) + ".toml";
  std::ofstream(config) << "[[models]]\nname = \"embed\"\nfile = \"" << convert("bert")
                        << "\"\n\n[[models]]\nname = \"rerank\"\nfile = \"" << convert("bert-rerank") << "\"\n";
  ServerProcess server({"--config", config, "--device", "cpu"}, {}, true, false);
  const int port = server.port();

  const json embed_ref = reference("bert");
  const json texts = embed_ref.at("texts");
  const HttpResponse e = http_post(port, "/v1/embeddings", json{{"model", "embed"}, {"input", texts}}.dump());
  ASSERT_EQ(e.status, 200) << e.body << server.log();
  const json data = json::parse(e.body).at("data");
  ASSERT_EQ(data.size(), texts.size());
  double worst = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto got = data[i].at("embedding").get<std::vector<double>>();
    const auto want = embed_ref.at("embeddings")[i].get<std::vector<double>>();
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < got.size(); ++k) worst = std::max(worst, std::fabs(got[k] - want[k]));
  }
  EXPECT_LT(worst, 1e-4);

  const json rerank_ref = reference("bert-rerank");
  const size_t per_query = rerank_ref.at("ranking")[0].size();
  const json pairs = rerank_ref.at("pairs");
  json documents = json::array();
  for (size_t d = 0; d < per_query; ++d) documents.push_back(pairs[d][1]);
  const json body = {{"model", "rerank"}, {"query", pairs[0][0]}, {"documents", documents}, {"top_n", 3}};
  const HttpResponse r = http_post(port, "/v1/rerank", body.dump());
  ASSERT_EQ(r.status, 200) << r.body << server.log();
  const json results = json::parse(r.body).at("results");
  ASSERT_EQ(results.size(), 3u);
  const auto order = rerank_ref.at("ranking")[0].get<std::vector<size_t>>();
  for (size_t k = 0; k < results.size(); ++k) {
    const size_t index = results[k].at("index").get<size_t>();
    EXPECT_EQ(index, order[k]) << "rank " << k;
    EXPECT_NEAR(results[k].at("relevance_score").get<double>(), rerank_ref.at("scores")[index].get<double>(), 1e-4);
  }

  const json chat = {{"model", "embed"}, {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}};
  const HttpResponse c = http_post(port, "/v1/chat/completions", chat.dump());
  EXPECT_EQ(c.status, 400) << c.body;
  EXPECT_NE(c.body.find("does not generate text"), std::string::npos) << c.body;
  const HttpResponse wrong = http_post(port, "/v1/embeddings", json{{"model", "rerank"}, {"input", "abc"}}.dump());
  EXPECT_EQ(wrong.status, 400) << wrong.body;
}

}  // namespace
}  // namespace hayate::test
