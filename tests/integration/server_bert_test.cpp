// /v1/embeddings and /v1/rerank served by converted bert encoders (issue 20), an embedding model
// and a cross-encoder served together by one `hayate serve` through its models table: synthetic
// folders (support/bert_synth.h) whose answers must be the library's own pass over the same file
// (convert_bert_test checks that pass against a naive one), and the reference folders of
// tools/reference/make_bert_models.py, whose vectors and scores must be transformers' within
// 1e-4. Rerank results come sorted by score and cut to top_n; chat to an encoder is a clear 400.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "forward/encoder.h"
#include "forward/encoder_oracle.h"
#include "forward/placement.h"
#include "gguf/gguf.h"
#include "model/bert.h"
#include "model/model.h"
#include "server_harness.h"
#include "support/bert_synth.h"
#include "tokenizer/pair.h"
#include "tokenizer/tokenizer.h"

namespace hayate::test {
namespace {

using json = nlohmann::json;
using test::make_model;
using test::Synthetic;
namespace fs = std::filesystem;

const fs::path kData = fs::path(HAYATE_TESTDATA) / "hf";

std::string convert(const std::string& name) {
  const std::string out = ::testing::TempDir() + "/hayate-bert-" + std::to_string(::getpid()) + "-" + name + ".gguf";
  const auto r = run_command(kHayate + " convert " + (kData / name).string() + " -o " + out + " --outtype f32 2>&1");
  if (r.exit_code != 0) throw std::runtime_error("hayate convert failed: " + r.output);
  return out;
}

json reference(const std::string& name) { return json::parse(std::ifstream(kData / name / "reference.json")); }

std::string convert_synthetic(const Synthetic& s) {
  const std::string out = s.dir + ".gguf";
  const auto r = run_command(kHayate + " convert " + s.dir + " -o " + out + " --outtype f32 2>&1");
  if (r.exit_code != 0) throw std::runtime_error("hayate convert failed: " + r.output);
  return out;
}

TEST(ServerBert, SyntheticEncodersAnswerAsTheLibraryComputes) {
  const std::string embed_path = convert_synthetic(make_model("serve-embed", false, false, false));
  const std::string rerank_path = convert_synthetic(make_model("serve-rerank", false, true, false));
  const std::string config = ::testing::TempDir() + "/hayate-bert-synth-" + std::to_string(::getpid()) + ".toml";
  std::ofstream(config) << "[[models]]\nname = \"embed\"\nfile = \"" << embed_path
                        << "\"\n\n[[models]]\nname = \"rerank\"\nfile = \"" << rerank_path << "\"\n";
  ServerProcess server({"--config", config, "--device", "cpu"}, {}, true, false);
  const int port = server.port();

  const auto embed_file = gguf::File::open(embed_path);
  const auto embed_tok = Tokenizer::from_gguf(*embed_file);
  // The server's pass: forward/encoder.h on the CPU backend, as it places the model.
  const auto embed_full = Model::load(embed_path);
  const BertModel* embed_model = embed_full->encoder.get();
  const auto embed_backend = place_model(*embed_full, "cpu", 1, DeviceOptions{}, {}, nullptr);
  const std::vector<std::string> texts = {"abc de", "Mad cab, bead!", "jig"};
  const HttpResponse e = http_post(port, "/v1/embeddings", json{{"model", "embed"}, {"input", texts}}.dump());
  ASSERT_EQ(e.status, 200) << e.body << server.log();
  const json data = json::parse(e.body).at("data");
  ASSERT_EQ(data.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<int32_t> ids = embed_tok->encode(texts[i], true, false);
    const std::vector<EncoderInput> input = {{ids, {}}};
    const std::vector<float> want = encoder_embed(*embed_model, input, *embed_backend)[0];
    const std::vector<float> oracle = bert_embed(*embed_model, ids);
    const auto got = data[i].at("embedding").get<std::vector<double>>();
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < got.size(); ++k) {
      EXPECT_NEAR(got[k], want[k], 1e-6) << "text " << i;
      EXPECT_NEAR(got[k], oracle[k], 1e-5) << "text " << i;
    }
  }

  const auto rerank_file = gguf::File::open(rerank_path);
  const auto rerank_tok = Tokenizer::from_gguf(*rerank_file);
  const auto rerank_full = Model::load(rerank_path);
  const BertModel* rerank_model = rerank_full->encoder.get();
  const auto rerank_backend = place_model(*rerank_full, "cpu", 1, DeviceOptions{}, {}, nullptr);
  const std::vector<std::string> documents = {"abc", "de fa", "jam", "ham bag", "ace"};
  const json body = {{"model", "rerank"}, {"query", "bad cab"}, {"documents", documents}, {"top_n", 4}};
  const HttpResponse r = http_post(port, "/v1/rerank", body.dump());
  ASSERT_EQ(r.status, 200) << r.body << server.log();
  const json results = json::parse(r.body).at("results");
  ASSERT_EQ(results.size(), 4u);
  double previous = 1e30;
  for (const json& item : results) {
    const size_t index = item.at("index").get<size_t>();
    const EncodedPair pair = encode_pair(*rerank_tok, "bad cab", documents[index]);
    const double score = item.at("relevance_score").get<double>();
    const std::vector<EncoderInput> input = {{pair.ids, pair.types}};
    EXPECT_NEAR(score, encoder_score(*rerank_model, input, *rerank_backend)[0], 1e-6) << "document " << index;
    EXPECT_NEAR(score, bert_score(*rerank_model, pair.ids, pair.types), 1e-5) << "document " << index;
    EXPECT_LE(score, previous) << "results are sorted, most relevant first";
    previous = score;
  }

  const json chat = {{"model", "embed"}, {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}};
  const HttpResponse c = http_post(port, "/v1/chat/completions", chat.dump());
  EXPECT_EQ(c.status, 400) << c.body;
  EXPECT_NE(c.body.find("does not generate text"), std::string::npos) << c.body;
  const HttpResponse wrong = http_post(port, "/v1/embeddings", json{{"model", "rerank"}, {"input", "abc"}}.dump());
  EXPECT_EQ(wrong.status, 400) << wrong.body;
  EXPECT_NE(wrong.body.find("does not embed"), std::string::npos) << wrong.body;
}

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
}

}  // namespace
}  // namespace hayate::test
