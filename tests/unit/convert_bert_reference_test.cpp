// Converted tiny BERT-family encoders against transformers / sentence-transformers. The models
// and their outputs come from tools/reference/make_bert_models.py (run on a machine with torch);
// the test reads the folders of tests/data/hf/ (or $HAYATE_HF_MODELS) whose config.json names an
// encoder class, converts each to f32 and checks: the tokenizer's ids (reference.json's texts with
// [CLS]/[SEP] or <s>/</s>, hf_ids.json's strings without), the last hidden states, the pooled
// embeddings within 1e-4 and the cosine ranking of the documents per query, or the cross-
// encoder's scores within 1e-4 and their ranking; by the oracle (forward/encoder_oracle.h) one
// text at a time, and by the backend pass (forward/encoder.h) with every text in one pass on the
// reference and the fast CPU backends.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "convert/bert.h"
#include "convert/convert.h"
#include "convert/hf_config.h"
#include "convert/json_file.h"
#include "forward/encoder.h"
#include "forward/encoder_oracle.h"
#include "gguf/gguf.h"
#include "model/bert.h"
#include "support/hf_models.h"
#include "support/test_util.h"
#include "tokenizer/pair.h"
#include "tokenizer/tokenizer.h"

namespace hayate::convert {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path models_root() { return test::hf_models_root(); }

std::vector<fs::path> encoder_dirs() {
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(models_root(), ec)) {
    if (!fs::exists(e.path() / "reference.json") || !fs::exists(e.path() / "config.json")) continue;
    const json config = read_json_file((e.path() / "config.json").string());
    if (is_bert_class(hf_architecture(config, "config.json"))) dirs.push_back(e.path());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

std::vector<float> read_f32(const fs::path& path) { return test::read_f32_file(path.string()); }

float max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float d = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

// Documents of each query, most similar first (ties by index, as the script sorts).
std::vector<std::vector<size_t>> ranking(const std::vector<std::vector<double>>& rows) {
  std::vector<std::vector<size_t>> out;
  for (const auto& r : rows) {
    std::vector<size_t> order(r.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return r[a] > r[b]; });
    out.push_back(order);
  }
  return out;
}

// The documents (the embeddings after the first n_queries) of each query by the ranking above,
// the embeddings being normalised: their dot products are the cosines.
std::vector<std::vector<size_t>> cosine_ranking(const std::vector<std::vector<float>>& got, size_t n_queries) {
  std::vector<std::vector<double>> cosine(n_queries);
  for (size_t q = 0; q < n_queries; ++q)
    for (size_t d = n_queries; d < got.size(); ++d) {
      double dot = 0;
      for (size_t k = 0; k < got[q].size(); ++k) dot += static_cast<double>(got[q][k]) * got[d][k];
      cosine[q].push_back(dot);
    }
  return ranking(cosine);
}

struct Converted {
  std::string path;
  std::unique_ptr<gguf::File> file;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<BertModel> model;
};

Converted convert_dir(const fs::path& dir) {
  Converted c;
  c.path = (fs::temp_directory_path() /
            ("hayate_bertref_" + std::to_string(::getpid()) + "_" + dir.filename().string() + ".gguf"))
               .string();
  Options opt;
  opt.out_type = "f32";
  std::ostringstream log;
  convert_hf(dir.string(), c.path, opt, log);
  c.file = gguf::File::open(c.path);
  c.tokenizer = Tokenizer::from_gguf(*c.file);
  c.model = BertModel::load(*c.file);
  return c;
}

void check_hf_ids(const fs::path& dir, const Tokenizer& tokenizer) {
  std::ifstream in(dir / "hf_ids.json");
  const json cases = json::parse(in);
  size_t failures = 0;
  for (const json& c : cases) {
    // Special-token text is matched, as Hugging Face extracts its added tokens from any text.
    const auto got = tokenizer.encode(c.at("text").get<std::string>(), false, true);
    if (got != c.at("ids").get<std::vector<int32_t>>() && ++failures <= 5)
      ADD_FAILURE() << "ids differ for " << c.at("text").dump();
  }
  std::cout << "[ " << dir.filename().string() << " ] tokenizer (" << tokenizer.model_name()
            << "): " << cases.size() - failures << " of " << cases.size() << " texts encode as Hugging Face does\n";
  EXPECT_EQ(failures, 0u);
  EXPECT_GE(cases.size(), 200u);
}

// A CPU backend with the model's matrices prepared (packed where the CPU has a format).
std::unique_ptr<Backend> prepared_backend(const std::string& name, const BertModel& m) {
  auto be = make_backend(name, 2);
  m.for_each_weight([&](const Weight& w, WeightKind kind) {
    if (kind == WeightKind::Matrix) be->prepare_weight(w);
  });
  return be;
}

void check_embeddings(const fs::path& dir, const json& ref, const Converted& c) {
  const auto& texts = ref.at("texts");
  const size_t n_queries = ref.at("queries").get<size_t>();
  std::vector<std::vector<float>> got;
  float worst = 0, worst_hidden = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<int32_t> ids = c.tokenizer->encode(texts[i].get<std::string>(), true, false);
    ASSERT_EQ(ids, ref.at("ids")[i].get<std::vector<int32_t>>()) << "text " << i;
    const std::vector<float> hidden = bert_hidden(*c.model, ids, {});
    const std::vector<float> want_hidden = read_f32(dir / ref.at("hidden")[i].at("file").get<std::string>());
    ASSERT_EQ(hidden.size(), want_hidden.size());
    worst_hidden = std::max(worst_hidden, max_diff(hidden, want_hidden));
    got.push_back(bert_embed(*c.model, ids));
    const std::vector<float> want = ref.at("embeddings")[i].get<std::vector<float>>();
    ASSERT_EQ(got.back().size(), want.size());
    worst = std::max(worst, max_diff(got.back(), want));
  }
  std::cout << "[ " << dir.filename().string() << " ] " << texts.size() << " embeddings: max |diff| " << worst
            << " (hidden states " << worst_hidden << ")\n";
  EXPECT_LT(worst_hidden, 1e-4f);
  EXPECT_LT(worst, 1e-4f);
  EXPECT_EQ(cosine_ranking(got, n_queries), ref.at("ranking").get<std::vector<std::vector<size_t>>>());
}

// The backend pass (forward/encoder.h) of every text at once, on each CPU backend: the same
// tolerances and ranking as the oracle's.
void check_backend_embeddings(const fs::path& dir, const json& ref, const Converted& c) {
  const auto& texts = ref.at("texts");
  const size_t n_queries = ref.at("queries").get<size_t>();
  std::vector<std::vector<int32_t>> ids;
  for (const auto& t : ref.at("ids")) ids.push_back(t.get<std::vector<int32_t>>());
  std::vector<EncoderInput> inputs;
  for (const auto& i : ids) inputs.push_back({i, {}});
  for (const char* name : {"reference", "cpu"}) {
    SCOPED_TRACE(name);
    const auto be = prepared_backend(name, *c.model);
    const std::vector<float> hidden = encoder_hidden(*c.model, inputs, *be);
    const std::vector<std::vector<float>> got = encoder_embed(*c.model, inputs, *be);
    ASSERT_EQ(got.size(), texts.size());
    float worst = 0, worst_hidden = 0;
    size_t row = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      const std::vector<float> want_hidden = read_f32(dir / ref.at("hidden")[i].at("file").get<std::string>());
      ASSERT_LE(row + want_hidden.size(), hidden.size());
      const std::vector<float> mine(hidden.begin() + static_cast<std::ptrdiff_t>(row),
                                    hidden.begin() + static_cast<std::ptrdiff_t>(row + want_hidden.size()));
      row += want_hidden.size();
      worst_hidden = std::max(worst_hidden, max_diff(mine, want_hidden));
      worst = std::max(worst, max_diff(got[i], ref.at("embeddings")[i].get<std::vector<float>>()));
    }
    EXPECT_EQ(row, hidden.size());
    std::cout << "[ " << dir.filename().string() << " ] " << name << " backend, " << texts.size()
              << " texts in one pass: max |diff| " << worst << " (hidden states " << worst_hidden << ")\n";
    EXPECT_LT(worst_hidden, 1e-4f);
    EXPECT_LT(worst, 1e-4f);
    EXPECT_EQ(cosine_ranking(got, n_queries), ref.at("ranking").get<std::vector<std::vector<size_t>>>());
  }
}

void check_scores(const fs::path& dir, const json& ref, const Converted& c) {
  const auto& pairs = ref.at("pairs");
  std::vector<double> scores;
  float worst = 0;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const EncodedPair p = encode_pair(*c.tokenizer, pairs[i][0].get<std::string>(), pairs[i][1].get<std::string>());
    ASSERT_EQ(p.ids, ref.at("ids")[i].get<std::vector<int32_t>>()) << "pair " << i;
    ASSERT_EQ(p.types, ref.at("type_ids")[i].get<std::vector<int32_t>>()) << "pair " << i;
    scores.push_back(bert_score(*c.model, p.ids, p.types));
    worst = std::max(worst, static_cast<float>(std::fabs(scores.back() - ref.at("scores")[i].get<double>())));
  }
  std::cout << "[ " << dir.filename().string() << " ] " << pairs.size() << " rerank scores: max |diff| " << worst
            << "\n";
  EXPECT_LT(worst, 1e-4f);
  std::vector<EncoderInput> inputs;
  std::vector<std::vector<int32_t>> ids, types;
  for (size_t i = 0; i < pairs.size(); ++i) {
    ids.push_back(ref.at("ids")[i].get<std::vector<int32_t>>());
    types.push_back(ref.at("type_ids")[i].get<std::vector<int32_t>>());
  }
  for (size_t i = 0; i < pairs.size(); ++i) inputs.push_back({ids[i], types[i]});
  for (const char* name : {"reference", "cpu"}) {
    SCOPED_TRACE(name);
    const std::vector<float> packed = encoder_score(*c.model, inputs, *prepared_backend(name, *c.model));
    ASSERT_EQ(packed.size(), pairs.size());
    float worst_packed = 0;
    for (size_t i = 0; i < pairs.size(); ++i)
      worst_packed =
          std::max(worst_packed, static_cast<float>(std::fabs(packed[i] - ref.at("scores")[i].get<double>())));
    std::cout << "[ " << dir.filename().string() << " ] " << name << " backend, " << pairs.size()
              << " pairs in one pass: max |diff| " << worst_packed << "\n";
    EXPECT_LT(worst_packed, 1e-4f);
  }
  const size_t per_query = ref.at("ranking")[0].size();
  std::vector<std::vector<double>> rows;
  for (size_t start = 0; start < scores.size(); start += per_query)
    rows.emplace_back(scores.begin() + static_cast<std::ptrdiff_t>(start),
                      scores.begin() + static_cast<std::ptrdiff_t>(start + per_query));
  EXPECT_EQ(ranking(rows), ref.at("ranking").get<std::vector<std::vector<size_t>>>());
}

TEST(ConvertBertReference, EncodersMatchTransformers) {
  const std::vector<fs::path> dirs = encoder_dirs();
  if (dirs.empty()) GTEST_SKIP() << "no encoder reference models in " << models_root().string();
  for (const fs::path& dir : dirs) {
    SCOPED_TRACE(dir.filename().string());
    const Converted c = convert_dir(dir);
    std::ifstream in(dir / "reference.json");
    const json ref = json::parse(in);
    if (fs::exists(dir / "hf_ids.json")) check_hf_ids(dir, *c.tokenizer);
    if (ref.at("kind") == "rerank") {
      EXPECT_TRUE(c.model->is_reranker());
      check_scores(dir, ref, c);
    } else {
      EXPECT_EQ(c.model->hp.pooling, ref.at("pooling") == "cls" ? Pooling::Cls : Pooling::Mean);
      check_embeddings(dir, ref, c);
      check_backend_embeddings(dir, ref, c);
    }
    fs::remove(c.path);
  }
}

}  // namespace
}  // namespace hayate::convert
