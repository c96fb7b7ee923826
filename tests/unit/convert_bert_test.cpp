// BERT-family encoders end to end on tiny synthetic Hugging Face folders: hayate convert, the
// GGUF loader, the oracle forward/encoder_oracle.cpp against a naive float64 pass written here over the tensors as
// Hugging Face lays them out (so the converter's names, shapes and XLM-R's position offset are
// checked too), the engine's Embed / Score requests, and the refusals (CUDA, generation, config
// fields the encoder does not implement).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "convert/convert.h"
#include "convert/safetensors.h"
#include "core/error.h"
#include "engine/engine.h"
#include "forward/encoder.h"
#include "forward/encoder_oracle.h"
#include "forward/forward.h"
#include "forward/placement.h"
#include "model/bert.h"
#include "model/model.h"
#include "support/bert_synth.h"
#include "support/test_util.h"
#include "tokenizer/pair.h"
#include "tokenizer/tokenizer.h"

namespace hayate::convert {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using test::kE;
using test::kF;
using test::kHeads;
using test::kLayers;
using test::kPos;
using test::kSpace;
using test::make_model;
using test::Synthetic;
using test::write_json;

// --- the naive pass, over Hugging Face's layout ------------------------------------------------

using Rows = std::vector<std::vector<double>>;

Rows linear(const Rows& x, const std::vector<float>& w, const std::vector<float>& b) {
  const size_t out = b.size(), in = x[0].size();
  Rows y(x.size(), std::vector<double>(out));
  for (size_t t = 0; t < x.size(); ++t)
    for (size_t o = 0; o < out; ++o) {
      double s = b[o];
      for (size_t i = 0; i < in; ++i) s += x[t][i] * w[o * in + i];
      y[t][o] = s;
    }
  return y;
}

void layer_norm(Rows& x, const std::vector<float>& w, const std::vector<float>& b, double eps) {
  for (auto& v : x) {
    double mean = 0, var = 0;
    for (double a : v) mean += a;
    mean /= static_cast<double>(v.size());
    for (double a : v) var += (a - mean) * (a - mean);
    var /= static_cast<double>(v.size());
    for (size_t i = 0; i < v.size(); ++i) v[i] = (v[i] - mean) / std::sqrt(var + eps) * w[i] + b[i];
  }
}

Rows naive_hidden(const Synthetic& s, const std::vector<int32_t>& ids, const std::vector<int32_t>& types) {
  const std::string pre = s.classifier ? (s.roberta ? "roberta." : "bert.") : "";
  const double eps = s.roberta ? 1e-5 : 1e-12;
  auto W = [&](const std::string& n) -> const std::vector<float>& { return s.w.at(pre + n); };
  Rows x(ids.size(), std::vector<double>(kE));
  for (size_t t = 0; t < ids.size(); ++t) {
    const size_t pos = t + (s.roberta ? static_cast<size_t>(s.pad) + 1 : 0);  // RoBERTa counts from pad + 1
    const size_t type = types.empty() ? 0 : static_cast<size_t>(types[t]);
    for (int64_t i = 0; i < kE; ++i)
      x[t][i] = W("embeddings.word_embeddings.weight")[ids[t] * kE + i] +
                W("embeddings.position_embeddings.weight")[pos * kE + i] +
                W("embeddings.token_type_embeddings.weight")[type * kE + i];
  }
  layer_norm(x, W("embeddings.LayerNorm.weight"), W("embeddings.LayerNorm.bias"), eps);
  const int64_t hd = kE / kHeads;
  for (int64_t l = 0; l < kLayers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    const Rows q = linear(x, W(p + "attention.self.query.weight"), W(p + "attention.self.query.bias"));
    const Rows k = linear(x, W(p + "attention.self.key.weight"), W(p + "attention.self.key.bias"));
    const Rows v = linear(x, W(p + "attention.self.value.weight"), W(p + "attention.self.value.bias"));
    Rows ctx(x.size(), std::vector<double>(kE));
    for (size_t t = 0; t < x.size(); ++t)
      for (int64_t h = 0; h < kHeads; ++h) {
        std::vector<double> a(x.size());
        double top = -1e300, sum = 0;
        for (size_t u = 0; u < x.size(); ++u) {
          for (int64_t i = 0; i < hd; ++i) a[u] += q[t][h * hd + i] * k[u][h * hd + i];
          a[u] /= std::sqrt(static_cast<double>(hd));
          top = std::max(top, a[u]);
        }
        for (double& e : a) sum += (e = std::exp(e - top));
        for (size_t u = 0; u < x.size(); ++u)
          for (int64_t i = 0; i < hd; ++i) ctx[t][h * hd + i] += a[u] / sum * v[u][h * hd + i];
      }
    Rows o = linear(ctx, W(p + "attention.output.dense.weight"), W(p + "attention.output.dense.bias"));
    for (size_t t = 0; t < x.size(); ++t)
      for (int64_t i = 0; i < kE; ++i) o[t][i] += x[t][i];
    layer_norm(o, W(p + "attention.output.LayerNorm.weight"), W(p + "attention.output.LayerNorm.bias"), eps);
    Rows f = linear(o, W(p + "intermediate.dense.weight"), W(p + "intermediate.dense.bias"));
    for (auto& r : f)
      for (double& e : r) e = 0.5 * e * (1.0 + std::erf(e / std::sqrt(2.0)));
    x = linear(f, W(p + "output.dense.weight"), W(p + "output.dense.bias"));
    for (size_t t = 0; t < x.size(); ++t)
      for (int64_t i = 0; i < kE; ++i) x[t][i] += o[t][i];
    layer_norm(x, W(p + "output.LayerNorm.weight"), W(p + "output.LayerNorm.bias"), eps);
  }
  return x;
}

std::string convert(const Synthetic& s) {
  const std::string out = s.dir + ".gguf";
  Options opt;
  opt.out_type = "f32";
  std::ostringstream log;
  convert_hf(s.dir, out, opt, log);
  return out;
}

TEST(ConvertBert, EmbeddingsMatchANaivePass) {
  for (const bool roberta : {false, true}) {
    SCOPED_TRACE(roberta ? "xlm-roberta, cls pooling" : "bert, mean pooling");
    const Synthetic s = make_model(roberta ? "xlmr" : "bert", roberta, false, roberta);
    const auto model = Model::load(convert(s));
    ASSERT_TRUE(model->encoder);
    const BertModel& m = *model->encoder;
    EXPECT_EQ(m.hp.pooling, roberta ? Pooling::Cls : Pooling::Mean);
    EXPECT_EQ(m.hp.n_ctx_train, roberta ? kPos - 2 : kPos);  // RoBERTa's first pad + 1 rows are cut
    const auto tokenizer = Tokenizer::from_gguf(*model->file);
    const std::vector<int32_t> ids = tokenizer->encode("Abc ab  dj, mad", true, false);
    ASSERT_GE(ids.size(), 6u);
    EXPECT_EQ(ids.front(), tokenizer->bos_id());
    EXPECT_EQ(ids.back(), tokenizer->eos_id());
    const Rows want = naive_hidden(s, ids, {});
    const std::vector<float> got = bert_hidden(m, ids, {});
    double worst = 0;
    for (size_t t = 0; t < ids.size(); ++t)
      for (int64_t i = 0; i < kE; ++i) worst = std::max(worst, std::fabs(want[t][i] - got[t * kE + i]));
    EXPECT_LT(worst, 1e-5);
    std::vector<double> pooled(kE, 0.0);
    for (size_t t = 0; t < (roberta ? 1 : ids.size()); ++t)
      for (int64_t i = 0; i < kE; ++i) pooled[i] += want[t][i];
    double norm = 0;
    for (double p : pooled) norm += p * p;
    const std::vector<float> embedding = bert_embed(m, ids);
    for (int64_t i = 0; i < kE; ++i) EXPECT_NEAR(embedding[i], pooled[i] / std::sqrt(norm), 1e-5);
  }
}

TEST(ConvertBert, RerankScoresMatchANaivePass) {
  for (const bool roberta : {false, true}) {
    SCOPED_TRACE(roberta ? "xlm-roberta classifier" : "bert classifier");
    const Synthetic s = make_model(roberta ? "xlmr-rerank" : "bert-rerank", roberta, true, false);
    const auto model = Model::load(convert(s));
    ASSERT_TRUE(model->encoder && model->encoder->is_reranker());
    const auto tokenizer = Tokenizer::from_gguf(*model->file);
    const EncodedPair pair = encode_pair(*tokenizer, "a bc", "de f");
    const Rows h = naive_hidden(s, pair.ids, pair.types);
    const std::string head = roberta ? "classifier.dense." : "bert.pooler.dense.";
    Rows pooled = linear({h[0]}, s.w.at(head + "weight"), s.w.at(head + "bias"));
    for (double& e : pooled[0]) e = std::tanh(e);
    const std::string out = roberta ? "classifier.out_proj." : "classifier.";
    const double want = linear(pooled, s.w.at(out + "weight"), s.w.at(out + "bias"))[0][0];
    EXPECT_NEAR(bert_score(*model->encoder, pair.ids, pair.types), want, 1e-5);
    if (!roberta) {
      EXPECT_EQ(pair.types.back(), 1);  // BERT's second segment is type 1
    }
    EXPECT_THROW(bert_embed(*model->encoder, pair.ids), Error);
  }
}

TEST(ConvertBert, UnigramFusesUnknownCharactersAndCollapsesSpaces) {
  const Synthetic s = make_model("xlmr-tok", true, false, true);
  const auto model = Model::load(convert(s));
  const auto tokenizer = Tokenizer::from_gguf(*model->file);
  EXPECT_EQ(tokenizer->model_name(), "t5");
  const auto ids = [&](const std::string& text) { return tokenizer->encode(text, false, false); };
  EXPECT_EQ(ids("a  b"), ids("a b"));
  const int32_t unk = 3;
  // "▁XYZ": no piece covers "▁" alone, X, Y or Z: one fused <unk>.
  EXPECT_EQ(ids("XYZ"), std::vector<int32_t>{unk});
  // The highest-scoring cut: "▁abc" (one piece) beats "▁a" + "b" + "c".
  const std::vector<int32_t> abc = ids("abc");
  ASSERT_EQ(abc.size(), 1u);
  EXPECT_EQ(tokenizer->token_text(abc[0]), std::string(kSpace) + "abc");
  EXPECT_EQ(tokenizer->decode(ids("abc ab"), false), "abc ab");
}

TEST(ConvertBert, EngineEmbedsScoresAndRefusesGeneration) {
  const Synthetic s = make_model("bert-engine", false, false, false);
  const auto model = Model::load(convert(s));
  const auto tokenizer = Tokenizer::from_gguf(*model->file);
  DeviceOptions cpu;
  Engine engine(*model, place_model(*model, "cpu", 1, cpu, {}, nullptr), tokenizer.get());
  Request r;
  r.kind = RequestKind::Embed;
  r.prompt = tokenizer->encode("abc de", true, false);
  const auto handle = engine.submit(r);
  std::optional<Event> e = handle->next();
  ASSERT_TRUE(e && e->kind == Event::Embedding) << (e && e->kind == Event::Error ? e->error : "");
  // What the engine runs (forward/encoder.h on its CPU backend), and within 1e-5 of the oracle.
  const std::vector<EncoderInput> input = {{r.prompt, {}}};
  EXPECT_EQ(e->embedding, encoder_embed(*model->encoder, input, *place_model(*model, "cpu", 1, cpu, {}, nullptr))[0]);
  const std::vector<float> oracle = bert_embed(*model->encoder, r.prompt);
  ASSERT_EQ(e->embedding.size(), oracle.size());
  for (size_t i = 0; i < oracle.size(); ++i) EXPECT_NEAR(e->embedding[i], oracle[i], 1e-5) << i;
  Request generate;
  generate.prompt = r.prompt;
  try {
    engine.submit(generate);
    FAIL() << "a generation on an encoder must be refused";
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(err.what()).find("does not generate"), std::string::npos) << err.what();
  }
  Request score = r;
  score.kind = RequestKind::Score;
  score.token_types.assign(r.prompt.size(), 0);
  EXPECT_THROW(engine.submit(score), Error);  // an embedding model scores no pairs
  engine.shutdown();

  // The decoder's pass refuses the encoder too (hayate run, eval), rather than read absent weights.
  const auto backend = place_model(*model, "cpu", 1, cpu, {}, nullptr);
  const auto kv = backend->make_kv_cache(model->hp, 1, 16);
  Batch batch;
  batch.sequences.push_back(BatchSequence{{0}});
  batch.add(r.prompt[0], 0, 0, true);
  try {
    forward(*model, batch, *kv, *backend);
    FAIL() << "expected Error(BadInput)";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("is a bert encoder"), std::string::npos) << err.what();
  }
}

// The CUDA backend implements the encoder's operations: --device cuda places an encoder there
// where a GPU is visible, and says why not where none is; it is never split across devices.
TEST(ConvertBert, CudaPlacesTheEncoderOrSaysWhyNot) {
  const Synthetic s = make_model("bert-cuda", false, false, false);
  const auto model = Model::load(convert(s));
  DeviceOptions cuda;
  cuda.device = "cuda";
  if (cuda_built() && cuda_device_count() > 0) {
    EXPECT_EQ(place_model(*model, "cpu", 1, cuda, {}, nullptr)->name(), "cuda");
  } else {
    try {
      place_model(*model, "cpu", 1, cuda, {}, nullptr);
      FAIL() << "expected Error(Unsupported)";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
      EXPECT_NE(std::string(e.what()).find("--device cuda"), std::string::npos) << e.what();
    }
  }
  DeviceOptions auto_device;
  auto_device.device = "auto";
  const std::string expected = cuda_built() && cuda_device_count() > 0 ? "cuda" : "cpu";
  EXPECT_EQ(place_model(*model, "cpu", 1, auto_device, {}, nullptr)->name(), expected);
  DeviceOptions tp = cuda;
  tp.tensor_parallel = 2;
  try {
    place_model(*model, "cpu", 1, tp, {}, nullptr);
    FAIL() << "expected Error(BadInput)";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("runs on one device"), std::string::npos) << e.what();
  }
}

TEST(ConvertBert, RefusesWhatTheEncoderDoesNotRun) {
  Synthetic s = make_model("bert-relu", false, false, false);
  json config = json::parse(std::ifstream(s.dir + "/config.json"));
  config["hidden_act"] = "relu";
  write_json(s.dir + "/config.json", config);
  try {
    convert(s);
    FAIL() << "expected Error(Unsupported)";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("hidden_act 'relu'"), std::string::npos) << e.what();
  }
  Synthetic u = make_model("xlmr-precompiled", true, false, true);
  json tok = json::parse(std::ifstream(u.dir + "/tokenizer.json"));
  tok["normalizer"] = {{"type", "Precompiled"}, {"precompiled_charsmap", "AAAA"}};
  write_json(u.dir + "/tokenizer.json", tok);
  try {
    convert(u);
    FAIL() << "expected Error(Unsupported)";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("Precompiled"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hayate::convert
