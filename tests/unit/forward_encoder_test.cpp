// The encoder pass on the backends (forward/encoder.h) on synthetic BERT-family models: inputs of
// several lengths packed into one pass give what each gives alone, bit for bit, and what the
// double-precision oracle (forward/encoder_oracle.h) gives, on the reference and the fast CPU
// backends; a Q8_0 quantized encoder's embeddings stay close to f32's; the engine runs embeddings
// submitted together as one pass, each within 1e-5 of the embedding it gets alone.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "convert/convert.h"
#include "engine/engine.h"
#include "forward/encoder.h"
#include "forward/encoder_oracle.h"
#include "model/bert.h"
#include "model/model.h"
#include "model/synth.h"
#include "support/bert_inputs.h"
#include "support/bert_synth.h"
#include "support/wrapped_backend.h"

namespace hayate {
namespace {

using test::as_inputs;
using test::convert_f32;
using test::make_inputs;

double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, std::fabs(double{a[i]} - b[i]));
  return d;
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += double{a[i]} * b[i];
    aa += double{a[i]} * a[i];
    bb += double{b[i]} * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

std::unique_ptr<Backend> prepared(const std::string& name, const Model& model) {
  auto be = make_backend(name, 2);
  check_runs(*be, model.hp);
  be->prepare(model);
  return be;
}

TEST(ForwardEncoder, PackedInputsEqualEachAloneAndTheOracle) {
  for (const bool roberta : {false, true}) {
    SCOPED_TRACE(roberta ? "xlm-roberta, cls pooling" : "bert, mean pooling");
    const auto model =
        Model::load(convert_f32(test::make_model(roberta ? "enc-xlmr" : "enc-bert", roberta, false, roberta)));
    const BertModel& m = *model->encoder;
    const auto ids = make_inputs(m, {1, 5, 17, m.hp.n_ctx_train, 3, 9});
    for (const char* name : {"reference", "cpu"}) {
      SCOPED_TRACE(name);
      const auto be = prepared(name, *model);
      const std::vector<float> packed = encoder_hidden(m, as_inputs(ids), *be);
      const std::vector<std::vector<float>> embeddings = encoder_embed(m, as_inputs(ids), *be);
      ASSERT_EQ(embeddings.size(), ids.size());
      size_t row = 0;
      for (size_t i = 0; i < ids.size(); ++i) {
        const std::vector<float> alone = encoder_hidden(m, as_inputs({ids[i]}), *be);
        const auto rows = static_cast<ptrdiff_t>(ids[i].size() * static_cast<size_t>(m.hp.n_embd));
        EXPECT_EQ(alone, std::vector<float>(packed.begin() + static_cast<ptrdiff_t>(row),
                                            packed.begin() + static_cast<ptrdiff_t>(row) + rows))
            << "input " << i;
        row += static_cast<size_t>(rows);
        EXPECT_LT(max_diff(alone, bert_hidden(m, ids[i], {})), 1e-5) << "input " << i;
        EXPECT_LT(max_diff(embeddings[i], bert_embed(m, ids[i])), 1e-5) << "input " << i;
      }
      EXPECT_EQ(row, packed.size());
    }
  }
}

TEST(ForwardEncoder, PackedPairsScoreAsTheOracle) {
  for (const bool roberta : {false, true}) {
    SCOPED_TRACE(roberta ? "xlm-roberta classifier" : "bert classifier");
    const auto model =
        Model::load(convert_f32(test::make_model(roberta ? "enc-xlmr-rank" : "enc-bert-rank", roberta, true, false)));
    const BertModel& m = *model->encoder;
    const auto ids = make_inputs(m, {6, 2, 13, 8});
    std::vector<std::vector<int32_t>> types;
    for (const auto& in : ids) {  // a second segment of type 1 where the model has that type
      types.emplace_back(in.size(), 0);
      if (m.hp.n_token_types > 1)
        for (size_t t = in.size() / 2; t < in.size(); ++t) types.back()[t] = 1;
    }
    for (const char* name : {"reference", "cpu"}) {
      SCOPED_TRACE(name);
      const auto be = prepared(name, *model);
      const std::vector<float> scores = encoder_score(m, as_inputs(ids, types), *be);
      ASSERT_EQ(scores.size(), ids.size());
      for (size_t i = 0; i < ids.size(); ++i) {
        EXPECT_EQ(scores[i], encoder_score(m, as_inputs({ids[i]}, {types[i]}), *be)[0]) << "pair " << i;
        EXPECT_NEAR(scores[i], bert_score(m, ids[i], types[i]), 1e-5) << "pair " << i;
      }
      EXPECT_THROW(encoder_embed(m, as_inputs(ids), *be), Error);
    }
  }
}

TEST(ForwardEncoder, BadInputsAreRefusedByName) {
  const auto model = Model::load(convert_f32(test::make_model("enc-bad", false, false, false)));
  const BertModel& m = *model->encoder;
  const auto be = prepared("cpu", *model);
  const std::vector<int32_t> too_long(static_cast<size_t>(m.hp.n_ctx_train) + 1, 5), outside = {m.hp.n_vocab};
  try {
    encoder_embed(m, as_inputs({{5, 6}, too_long}), *be);
    FAIL() << "expected Error(BadInput)";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("takes at most"), std::string::npos) << e.what();
  }
  EXPECT_THROW(encoder_embed(m, as_inputs({outside}), *be), Error);
  EXPECT_THROW(encoder_embed(m, {}, *be), Error);
}

// Q8_0 matrices (hayate quantize) run through the quantized kernels; the embeddings keep their
// direction (cosine >= 0.999 against f32), on both CPU backends.
TEST(ForwardEncoder, Q8_0EmbeddingsStayCloseToF32) {
  const test::BertShape shape{64, 128, 4, 64, 2};
  const test::Synthetic s = test::make_model("enc-q8", false, false, false, shape);
  const std::string f32 = convert_f32(s), q8 = s.dir + "-q8_0.gguf";
  std::ostringstream log;
  quantize_model(f32, q8, "q8_0", 1, log);
  const auto full = Model::load(f32);
  const auto quantized = Model::load(q8);
  for (const BertLayer& l : quantized->encoder->layers)
    for (const Weight* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_up, &l.ffn_down}) EXPECT_EQ(w->type, GgmlType::Q8_0);
  // 20 inputs, 705 tokens: more than one pass of 512, each input's result what it gives alone.
  std::vector<int32_t> lengths;
  for (int32_t i = 0; i < 20; ++i) lengths.push_back(i % 4 == 2 ? 64 : 3 + 5 * i % 60);
  const auto ids = make_inputs(*full->encoder, lengths);
  for (const char* name : {"reference", "cpu"}) {
    SCOPED_TRACE(name);
    const auto want = encoder_embed(*full->encoder, as_inputs(ids), *prepared(name, *full));
    const auto be = prepared(name, *quantized);
    const auto got = encoder_embed(*quantized->encoder, as_inputs(ids), *be);
    ASSERT_EQ(got.size(), ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      EXPECT_GE(cosine(got[i], want[i]), 0.999) << "input " << i;
      EXPECT_GT(max_diff(got[i], want[i]), 0.0) << "input " << i << ": the quantized weights were not used";
      EXPECT_EQ(got[i], encoder_embed(*quantized->encoder, as_inputs({ids[i]}), *be)[0]) << "input " << i;
    }
  }
}

// Records each encoder pass's sequence lengths (its first layer's attention).
class PassRecorder : public test::WrappedBackend {
 public:
  using WrappedBackend::WrappedBackend;
  void reset_scratch() override {
    passes.emplace_back();
    WrappedBackend::reset_scratch();
  }
  void encoder_attention(Tensor q, Tensor k, Tensor v, std::span<const int32_t> seq_lens, int32_t n_head,
                         Tensor out) override {
    if (!passes.empty() && passes.back().empty()) passes.back().assign(seq_lens.begin(), seq_lens.end());
    WrappedBackend::encoder_attention(q, k, v, seq_lens, n_head, out);
  }
  std::vector<std::vector<int32_t>> passes;  // read once the engine has answered
};

std::vector<float> embedding_of(const std::shared_ptr<RequestHandle>& h) {
  const auto e = h->next(std::chrono::seconds(60));
  EXPECT_TRUE(e && e->kind == Event::Embedding) << (e && e->kind == Event::Error ? e->error : "");
  const auto done = h->next(std::chrono::seconds(60));
  EXPECT_TRUE(done && done->kind == Event::Done);
  return e && e->kind == Event::Embedding ? e->embedding : std::vector<float>{};
}

TEST(ForwardEncoder, EngineEmbedsRequestsSubmittedTogetherInOnePass) {
  const auto model = Model::load(convert_f32(test::make_model("enc-engine", false, false, false)));
  auto recorder = std::make_unique<PassRecorder>(prepared("cpu", *model));
  PassRecorder* passes = recorder.get();
  Engine engine(*model, std::move(recorder), nullptr);
  const auto ids = make_inputs(*model->encoder, {4, 11, 2, 24, 7, 15});
  auto request = [](const std::vector<int32_t>& prompt) {
    Request r;
    r.kind = RequestKind::Embed;
    r.prompt = prompt;
    return r;
  };
  std::vector<std::vector<float>> alone;
  for (const auto& in : ids) alone.push_back(embedding_of(engine.submit(request(in))));
  const size_t passes_alone = passes->passes.size();
  EXPECT_EQ(passes_alone, ids.size());

  std::vector<Request> requests;
  for (const auto& in : ids) requests.push_back(request(in));
  requests.push_back(request(std::vector<int32_t>(25, 3)));  // over the model's 24 positions
  const auto subs = engine.submit_together(std::move(requests));
  ASSERT_EQ(subs.size(), ids.size() + 1);
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_TRUE(subs[i].handle) << i;
    const std::vector<float> together = embedding_of(subs[i].handle);
    ASSERT_EQ(together.size(), alone[i].size());
    for (size_t d = 0; d < together.size(); ++d) EXPECT_NEAR(together[d], alone[i][d], 1e-5) << i << " " << d;
  }
  // The over-long input is refused by itself (at submit or with an Error event), not with the others.
  if (subs.back().handle) {
    const auto e = subs.back().handle->next(std::chrono::seconds(60));
    ASSERT_TRUE(e && e->kind == Event::Error);
    EXPECT_NE(e->error.find("takes at most"), std::string::npos) << e->error;
  }
  engine.shutdown();
  ASSERT_EQ(passes->passes.size(), passes_alone + 1);
  std::vector<int32_t> lengths;
  for (const auto& in : ids) lengths.push_back(static_cast<int32_t>(in.size()));
  EXPECT_EQ(passes->passes.back(), lengths) << "the inputs submitted together run as one pass";
}

}  // namespace
}  // namespace hayate
