// The BERT-family encoder on the CUDA backend (ArchFeature::Encoder): LayerNorm, GELU and the
// bidirectional attention over packed sequences against the reference backend on awkward shapes
// (outputs poisoned with NaN first), the same errors as the reference for bad arguments, and
// whole synthetic encoders whose embeddings and scores match the reference's, packed or alone.
// The CUDA tests skip when the build has no CUDA or no device is visible; the errors of the CPU
// backends are checked everywhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend_cuda_support.h"
#include "convert/convert.h"
#include "core/error.h"
#include "engine/engine.h"
#include "forward/encoder.h"
#include "model/bert.h"
#include "model/model.h"
#include "support/bert_inputs.h"
#include "support/bert_synth.h"

namespace hayate {
namespace {

using test::HostWeight;

// A LayerNorm weight or bias: 1 x cols normal values around `mean`.
HostWeight norm_vector(int64_t cols, uint32_t seed, float mean, const std::string& name) {
  HostWeight h;
  std::vector<float> v = test::random_floats(static_cast<size_t>(cols), seed, 0.5f);
  for (float& x : v) x += mean;
  h.bytes.resize(v.size() * sizeof(float));
  std::memcpy(h.bytes.data(), v.data(), h.bytes.size());
  h.w = Weight{name, GgmlType::F32, cols, 1, h.bytes.data()};
  return h;
}

std::unique_ptr<Backend> cuda_backend() {
  DeviceOptions opt;
  opt.device = "cuda";
  return make_cuda_backend(opt);
}

TEST(CudaEncoderOps, LayerNormMatchesReference) {
  HAYATE_SKIP_WITHOUT_CUDA();
  auto be = cuda_backend();
  auto ref = make_backend("reference", 1);
  // 384 and 1024: bge-small's and bge-large's rows; 300 and 37: not a multiple of the block.
  // The backend knows a weight by its host address: every vector lives to the end of the test, so
  // that a freed one's address, reused by a later vector, cannot name the earlier upload.
  std::vector<HostWeight> weights;
  weights.reserve(8);
  for (const int64_t cols : {int64_t{384}, int64_t{300}, int64_t{1024}, int64_t{37}}) {
    SCOPED_TRACE(cols);
    const int64_t rows = 29;
    const HostWeight& w = weights.emplace_back(norm_vector(cols, 61, 1.0f, "norm.weight"));
    const HostWeight& b = weights.emplace_back(norm_vector(cols, 62, 0.0f, "norm.bias"));
    // Rows far from zero mean: a one-pass variance would lose digits here.
    std::vector<float> x = test::random_floats(static_cast<size_t>(rows * cols), 63, 3.0f);
    for (float& v : x) v += 40.0f;
    be->prepare_weight(w.w);
    be->prepare_weight(b.w);
    be->reset_scratch();
    Tensor xt = test::upload(*be, x, rows, cols);
    Tensor out = test::poisoned(*be, rows, cols);
    be->layer_norm(xt, w.w, b.w, 1e-12f, out);
    be->layer_norm(xt, w.w, b.w, 1e-12f, xt);  // in place, as the encoder calls it
    const auto got = test::download(*be, out), got_in_place = test::download(*be, xt);
    Tensor hx = test::upload(*ref, x, rows, cols), hout = ref->alloc(rows, cols);
    ref->layer_norm(hx, w.w, b.w, 1e-12f, hout);
    const auto want = test::download(*ref, hout);
    ASSERT_TRUE(test::all_finite(got));
    EXPECT_LT(test::relative_l2(got, want), 1e-5);
    EXPECT_EQ(got_in_place, got);
  }
}

TEST(CudaEncoderOps, GeluMatchesReference) {
  HAYATE_SKIP_WITHOUT_CUDA();
  auto be = cuda_backend();
  auto ref = make_backend("reference", 1);
  const int64_t rows = 7, cols = 1543;
  const auto x = test::random_floats(static_cast<size_t>(rows * cols), 71, 3.0f);
  be->reset_scratch();
  Tensor xt = test::upload(*be, x, rows, cols);
  Tensor out = test::poisoned(*be, rows, cols);
  be->gelu(xt, out);
  be->gelu(xt, xt);
  const auto got = test::download(*be, out), got_in_place = test::download(*be, xt);
  Tensor hx = test::upload(*ref, x, rows, cols), hout = ref->alloc(rows, cols);
  ref->gelu(hx, hout);
  ASSERT_TRUE(test::all_finite(got));
  EXPECT_LT(test::relative_l2(got, test::download(*ref, hout)), 1e-6);
  EXPECT_EQ(got_in_place, got);
}

struct AttentionCase {
  std::vector<int32_t> lens;
  int32_t n_head, head_dim;
};

// q, k and v of the packed sequences (seeded), and the attention of `be` over them.
std::vector<float> attention_on(Backend& be, const AttentionCase& c, uint32_t seed) {
  int64_t rows = 0;
  for (const int32_t len : c.lens) rows += len;
  const int64_t cols = int64_t{c.n_head} * c.head_dim;
  const auto n = static_cast<size_t>(rows * cols);
  be.reset_scratch();
  // Queries of scale 2: sharper weights than random keys give at scale 1.
  Tensor q = test::upload(be, test::random_floats(n, seed, 2.0f), rows, cols);
  Tensor k = test::upload(be, test::random_floats(n, seed + 1), rows, cols);
  Tensor v = test::upload(be, test::random_floats(n, seed + 2), rows, cols);
  Tensor out = test::poisoned(be, rows, cols);
  be.encoder_attention(q, k, v, c.lens, c.n_head, out);
  return test::download(be, out);
}

// Rows [first, first + len) of a packed result of `cols` floats a row.
std::vector<float> rows_of(const std::vector<float>& x, int64_t first, int64_t len, int64_t cols) {
  return {x.begin() + first * cols, x.begin() + (first + len) * cols};
}

TEST(CudaEncoderOps, AttentionOverPackedSequencesMatchesReference) {
  HAYATE_SKIP_WITHOUT_CUDA();
  auto be = cuda_backend();
  auto ref = make_backend("reference", 1);
  // 12 x 32 (bge-small, MiniLM) and 6 x 64 (bge-base's head size); 48 and 100: head sizes that
  // are not a multiple of a warp, padded inside the kernel.
  const std::vector<AttentionCase> cases = {
      {{1, 7, 130, 512}, 12, 32}, {{512, 1, 33, 7}, 6, 64}, {{17, 1, 64, 65}, 5, 48}, {{31, 200}, 3, 100}};
  for (const AttentionCase& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.n_head << " heads of " << c.head_dim);
    const auto got = attention_on(*be, c, 81);
    const auto want = attention_on(*ref, c, 81);
    ASSERT_TRUE(test::all_finite(got));
    EXPECT_LT(test::relative_l2(got, want), 1e-5);
    // Each sequence alone (its own rows of the same q, k and v) gives the same bits as packed:
    // a sequence's tiles read nothing of the others.
    const int64_t cols = int64_t{c.n_head} * c.head_dim;
    int64_t first = 0, rows = 0;
    for (const int32_t len : c.lens) rows += len;
    const auto n = static_cast<size_t>(rows * cols);
    const auto all_q = test::random_floats(n, 81, 2.0f), all_k = test::random_floats(n, 82),
               all_v = test::random_floats(n, 83);
    for (size_t i = 0; i < c.lens.size(); ++i) {
      const int32_t len = c.lens[i];
      be->reset_scratch();
      Tensor qt = test::upload(*be, rows_of(all_q, first, len, cols), len, cols);
      Tensor kt = test::upload(*be, rows_of(all_k, first, len, cols), len, cols);
      Tensor vt = test::upload(*be, rows_of(all_v, first, len, cols), len, cols);
      Tensor out = test::poisoned(*be, len, cols);
      const std::vector<int32_t> one = {len};
      be->encoder_attention(qt, kt, vt, one, c.n_head, out);
      EXPECT_EQ(test::download(*be, out), rows_of(got, first, len, cols)) << "sequence " << i << " of " << len;
      first += len;
    }
  }
}

using test::error_of;

// Bad arguments to each operation, on `be`; the messages in order.
std::vector<std::string> bad_argument_errors(Backend& be) {
  const HostWeight w = norm_vector(48, 91, 1.0f, "norm.weight"), b = norm_vector(48, 92, 0.0f, "norm.bias");
  const HostWeight short_b = norm_vector(40, 93, 0.0f, "short.bias");
  HostWeight f16 = test::make_weight(GgmlType::F16, 1, 48, 94, "half.weight");
  be.prepare_weight(w.w);
  be.prepare_weight(b.w);
  be.prepare_weight(short_b.w);
  be.reset_scratch();
  Tensor x = be.alloc(10, 48), out = be.alloc(10, 48), short_out = be.alloc(9, 48);
  const std::vector<int32_t> lens = {3, 7}, short_lens = {3, 6}, empty_seq = {3, 0, 7};
  return {
      error_of([&] { be.encoder_attention(x, x, x, short_lens, 4, out); }),
      error_of([&] { be.encoder_attention(x, x, x, empty_seq, 4, out); }),
      error_of([&] { be.encoder_attention(x, x, x, lens, 5, out); }),
      error_of([&] { be.encoder_attention(x, short_out, x, lens, 4, out); }),
      error_of([&] { be.encoder_attention(x, x, x, lens, 4, short_out); }),
      error_of([&] { be.layer_norm(x, w.w, short_b.w, 1e-5f, out); }),
      error_of([&] { be.layer_norm(x, w.w, b.w, 1e-5f, short_out); }),
      error_of([&] { be.layer_norm(x, f16.w, b.w, 1e-5f, out); }),
      error_of([&] { be.gelu(x, short_out); }),
  };
}

TEST(CudaEncoderOps, BadArgumentsGiveTheReferenceErrors) {
  auto ref = make_backend("reference", 1);
  const std::vector<std::string> want = bad_argument_errors(*ref);
  for (const std::string& e : want) {
    EXPECT_FALSE(e.empty()) << "an argument the reference backend took";
    std::cout << "  " << e << "\n";
  }
  EXPECT_NE(want[0].find("sum to 9 rows, but q has 10"), std::string::npos) << want[0];
  EXPECT_NE(want[1].find("sequence 1 has length 0"), std::string::npos) << want[1];
  EXPECT_NE(want[7].find("half.weight has type f16"), std::string::npos) << want[7];
  EXPECT_EQ(bad_argument_errors(*make_backend("cpu", 2)), want);
  HAYATE_SKIP_WITHOUT_CUDA();
  auto be = cuda_backend();
  EXPECT_EQ(bad_argument_errors(*be), want);
}

using test::as_inputs;
using test::convert_f32;
using test::make_inputs;

std::unique_ptr<Backend> prepared(std::unique_ptr<Backend> be, const Model& model) {
  check_runs(*be, model.hp);
  be->prepare(model);
  return be;
}

// Synthetic encoders of 12 heads of 32 (bge-small's head shape, 2 layers) and 4 heads of 64, f32
// weights: every input's embedding on CUDA within 1e-4 (relative) of the reference's, packed in one
// pass or alone, and each packed one within 1e-5 of what it gives alone on CUDA.
TEST(CudaEncoder, EmbeddingsMatchReferencePackedAndAlone) {
  HAYATE_SKIP_WITHOUT_CUDA();
  for (const test::BertShape shape : {test::BertShape{384, 768, 12, 512, 2}, test::BertShape{256, 512, 4, 512, 2}}) {
    SCOPED_TRACE(::testing::Message() << shape.heads << " heads of " << shape.e / shape.heads);
    const auto model = Model::load(
        convert_f32(test::make_model("cuda-enc-" + std::to_string(shape.heads), false, false, false, shape)));
    const BertModel& m = *model->encoder;
    const auto ids = make_inputs(m, {1, 7, 130, 512, 3, 9});
    auto ref = prepared(make_backend("reference", 1), *model);
    auto be = prepared(cuda_backend(), *model);
    const auto want = encoder_embed(m, as_inputs(ids), *ref);
    const auto got = encoder_embed(m, as_inputs(ids), *be);
    ASSERT_EQ(got.size(), ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      SCOPED_TRACE(::testing::Message() << "input " << i << " of " << ids[i].size() << " tokens");
      ASSERT_TRUE(test::all_finite(got[i]));
      EXPECT_LT(test::relative_l2(got[i], want[i]), 1e-4);
      const auto alone = encoder_embed(m, as_inputs({ids[i]}), *be);
      EXPECT_LT(test::relative_l2(alone[0], want[i]), 1e-4);
      EXPECT_LT(test::relative_l2(got[i], alone[0]), 1e-5);
    }
  }
}

// A cross-encoder (xlm-roberta shape, token types of one kind) scores pairs on CUDA as the
// reference does, packed (one pass) or one by one.
TEST(CudaEncoder, RerankerScoresMatchReference) {
  HAYATE_SKIP_WITHOUT_CUDA();
  const test::BertShape shape{128, 256, 4, 130, 2};
  const auto model = Model::load(convert_f32(test::make_model("cuda-enc-rank", true, true, false, shape)));
  const BertModel& m = *model->encoder;
  const auto ids = make_inputs(m, {6, 2, 113, 8});
  auto ref = prepared(make_backend("reference", 1), *model);
  auto be = prepared(cuda_backend(), *model);
  const auto want = encoder_score(m, as_inputs(ids), *ref);
  const auto got = encoder_score(m, as_inputs(ids), *be);
  ASSERT_EQ(got.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], 1e-4 * std::max(1.0, std::fabs(double{want[i]}))) << "pair " << i;
    // Alone, the pass's matmuls run at other row counts (other kernels, other summation orders)
    // than packed, so the score is held to the same bound against the reference, not to the bits.
    EXPECT_NEAR(encoder_score(m, as_inputs({ids[i]}), *be)[0], want[i], 1e-4 * std::max(1.0, std::fabs(double{want[i]})))
        << "pair " << i << " alone";
  }
}

// The engine serving an embedding model on CUDA (what `hayate serve --device cuda` runs): requests
// submitted together answer with the reference's embeddings.
TEST(CudaEncoder, EngineEmbedsOnTheGpu) {
  HAYATE_SKIP_WITHOUT_CUDA();
  const auto model = Model::load(convert_f32(test::make_model("cuda-enc-engine", false, false, false)));
  const auto ids = make_inputs(*model->encoder, {4, 11, 2, 24, 7, 15});
  const auto want = encoder_embed(*model->encoder, as_inputs(ids), *prepared(make_backend("reference", 1), *model));
  Engine engine(*model, prepared(cuda_backend(), *model), nullptr);
  std::vector<Request> requests;
  for (const auto& in : ids) {
    Request r;
    r.kind = RequestKind::Embed;
    r.prompt = in;
    requests.push_back(std::move(r));
  }
  const auto subs = engine.submit_together(std::move(requests));
  ASSERT_EQ(subs.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_TRUE(subs[i].handle) << i;
    const auto e = subs[i].handle->next(std::chrono::seconds(60));
    ASSERT_TRUE(e && e->kind == Event::Embedding) << i << ": " << (e && e->kind == Event::Error ? e->error : "");
    EXPECT_LT(test::relative_l2(e->embedding, want[i]), 1e-4) << "input " << i;
  }
  engine.shutdown();
}

}  // namespace
}  // namespace hayate
