// The fast CPU backend against the reference backend on synthetic models of every architecture,
// and the KV cache / batching invariants of the forward pass.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "backend/backend.h"
#include "core/error.h"
#include "forward/forward.h"
#include "model/synth.h"
#include "support/forward_runs.h"
#include "support/test_util.h"

namespace hayate {
namespace {

std::string make_model(const std::string& arch, const std::string& type, bool tied = false) {
  const std::string path = test::temp_path(arch + "-" + type + (tied ? "-tied" : "") + ".gguf");
  SynthOptions o;
  o.arch = arch;
  o.n_embd = 256;
  o.n_layer = 2;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.head_dim = arch == "qwen3" ? 48 : 0;
  o.n_ff = 512;
  o.n_ctx = 256;
  o.file_type = type;
  o.tie_embeddings = tied;
  o.seed = 7;
  std::ostringstream log;
  synth_model(o, path, log);
  return path;
}

using test::run_tokens;
using test::some_tokens;

class ForwardTest : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(ForwardTest, CpuBackendMatchesReference) {
  const auto [arch, type] = GetParam();
  auto m = Model::load(make_model(arch, type));
  auto ref = make_backend("reference", 1);
  const auto tokens = some_tokens(20, m->hp.n_vocab);
  const auto a = run_tokens(*m, *ref, tokens, tokens.size());
  // Unprepared, the CPU backend reads every weight in the file's layout; prepared (as serve and
  // run do), it regroups Q8_0 matrices for its grouped kernel.
  for (const bool prepared : {false, true}) {
    auto cpu = make_backend("cpu", 2);
    if (prepared) cpu->prepare(*m);
    const auto b = run_tokens(*m, *cpu, tokens, tokens.size());
    ASSERT_EQ(a.size(), b.size());
    const size_t v = static_cast<size_t>(m->hp.n_vocab);
    // Float weights keep f32 activations; the fast path quantizes activations to Q8_0 / Q8_K (one
    // scale per 32 / 256 values) for quantized weights, which costs a few percent at the extreme.
    const bool float_weights = type == "f32" || type == "f16" || type == "bf16";
    int top1 = 0;
    for (size_t p = 0; p < tokens.size(); ++p) {
      const double err = test::max_relative_error(b.data() + p * v, a.data() + p * v, v);
      EXPECT_LT(err, float_weights ? 1e-4 : 6e-2)
          << arch << " " << type << " position " << p << " prepared " << prepared;
      top1 += test::argmax(a.data() + p * v, v) == test::argmax(b.data() + p * v, v);
    }
    EXPECT_GE(top1, static_cast<int>(tokens.size()) - (float_weights ? 0 : 2)) << "prepared " << prepared;
  }
}

INSTANTIATE_TEST_SUITE_P(AllArchsAndTypes, ForwardTest,
                         ::testing::Combine(::testing::Values("llama", "qwen2", "qwen3"),
                                            ::testing::Values("f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q5_k_m",
                                                              "q6_k", "q3_k_s", "q2_k_pure", "q3_k_pure", "q4_k_pure",
                                                              "q5_k_pure")),
                         [](const auto& info) { return std::get<0>(info.param) + "_" + std::get<1>(info.param); });

TEST(Forward, IncrementalDecodingEqualsOneBatch) {
  for (const std::string arch : {"llama", "qwen2", "qwen3"}) {
    auto m = Model::load(make_model(arch, "f32"));
    auto ref = make_backend("reference", 1);
    const auto tokens = some_tokens(24, m->hp.n_vocab);
    const auto whole = run_tokens(*m, *ref, tokens, tokens.size());
    const auto one_by_one = run_tokens(*m, *ref, tokens, 1);
    const auto in_fives = run_tokens(*m, *ref, tokens, 5);
    const size_t v = static_cast<size_t>(m->hp.n_vocab);
    for (size_t p = 0; p < tokens.size(); ++p) {
      EXPECT_LT(test::max_relative_error(one_by_one.data() + p * v, whole.data() + p * v, v), 1e-5) << arch << p;
      EXPECT_LT(test::max_relative_error(in_fives.data() + p * v, whole.data() + p * v, v), 1e-5) << arch << p;
    }
  }
}

class TwoSequences : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

// Batch invariance at the model level, with the file's layout and with packed matrices
// (prepared: quant/packed.h), for each type that has a packed format.
TEST_P(TwoSequences, InOneBatchEqualSeparateRuns) {
  const auto [type, prepared] = GetParam();
  auto m = Model::load(make_model("llama", type));
  auto cpu = make_backend("cpu", 2);
  if (prepared) cpu->prepare(*m);
  const auto a = some_tokens(9, m->hp.n_vocab);
  auto b = some_tokens(13, m->hp.n_vocab);
  for (auto& t : b) t = (t + 5) % m->hp.n_vocab;
  const auto alone_a = run_tokens(*m, *cpu, a, a.size());
  const auto alone_b = run_tokens(*m, *cpu, b, b.size());

  auto kv = cpu->make_kv_cache(m->hp, 8, 16);
  Batch batch;
  batch.sequences.push_back({{3}});
  batch.sequences.push_back({{5}});
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {  // interleaved on purpose
    if (i < a.size()) batch.add(a[i], static_cast<int32_t>(i), 0, true);
    if (i < b.size()) batch.add(b[i], static_cast<int32_t>(i), 1, true);
  }
  const auto together = forward(*m, batch, *kv, *cpu);
  const size_t v = static_cast<size_t>(m->hp.n_vocab);
  size_t row = 0, ia = 0, ib = 0;
  for (size_t i = 0; i < batch.size(); ++i, ++row) {
    const float* want = batch.seq[i] == 0 ? alone_a.data() + (ia++) * v : alone_b.data() + (ib++) * v;
    EXPECT_LT(test::max_relative_error(together.data() + row * v, want, v), 1e-5) << "token " << i;
  }
  // And one token at a time (decoding) gives the same as the whole prompt at once.
  const auto one_by_one = run_tokens(*m, *cpu, a, 1);
  for (size_t p = 0; p < a.size(); ++p)
    EXPECT_LT(test::max_relative_error(one_by_one.data() + p * v, alone_a.data() + p * v, v), 1e-5) << "position " << p;
}

INSTANTIATE_TEST_SUITE_P(FileLayoutAndPrepared, TwoSequences,
                         ::testing::Combine(::testing::Values("q8_0", "q4_k_m", "f16", "bf16"), ::testing::Bool()),
                         [](const auto& info) {
                           return std::get<0>(info.param) + (std::get<1>(info.param) ? "_Prepared" : "_FileLayout");
                         });

// Tied Q8_0 embeddings: the output matrix is regrouped and its file pages dropped from memory,
// while get_rows keeps reading the token table from the file.
TEST(Forward, TiedQ8_0EmbeddingsAfterPrepare) {
  auto m = Model::load(make_model("llama", "q8_0", true));
  ASSERT_EQ(m->output.data, m->tok_embd.data);
  auto ref = make_backend("reference", 1);
  auto cpu = make_backend("cpu", 2);
  cpu->prepare(*m);
  const auto tokens = some_tokens(12, m->hp.n_vocab);
  const auto a = run_tokens(*m, *ref, tokens, tokens.size());
  const auto b = run_tokens(*m, *cpu, tokens, 1);
  const size_t v = static_cast<size_t>(m->hp.n_vocab);
  for (size_t p = 0; p < tokens.size(); ++p)
    EXPECT_LT(test::max_relative_error(b.data() + p * v, a.data() + p * v, v), 6e-2) << "position " << p;
}

TEST(Forward, TiedEmbeddingsUseTokenTable) {
  auto m = Model::load(make_model("llama", "f32", true));
  EXPECT_EQ(m->output.data, m->tok_embd.data);
  auto ref = make_backend("reference", 1);
  const auto out = run_tokens(*m, *ref, some_tokens(3, m->hp.n_vocab), 3);
  for (float x : out) ASSERT_TRUE(std::isfinite(x));
}

TEST(Forward, RejectsTokenOutsideVocabulary) {
  auto m = Model::load(make_model("llama", "f32"));
  auto ref = make_backend("reference", 1);
  auto kv = ref->make_kv_cache(m->hp, 2, 16);
  Batch b;
  b.sequences.push_back({{0, 1}});
  b.add(m->hp.n_vocab, 0, 0, true);
  try {
    forward(*m, b, *kv, *ref);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("outside the vocabulary"), std::string::npos) << e.what();
  }
}

// HAYATE_KV_TYPE=f16 / q8_0: K and V rounded to f16 (within 2^-11 each) move the logits of
// float weights by about 1.5e-3 of their largest, to Q8_0 (within 1/254 of their block's
// largest) by about 1e-2; the greedy token stays; a prompt in one batch, in chunks of five and
// one token at a time still agree bit for bit (each token gets its own bits in the AVX-512
// attention tiles).
TEST(Forward, F16AndQ8_0KvCachesStayCloseAndBatchInvariant) {
  for (const auto& [kv, float_tol] : {std::pair<std::string, double>{"f16", 5e-3}, {"q8_0", 3e-2}}) {
    ::setenv("HAYATE_KV_TYPE", kv.c_str(), 1);
    auto cpu = make_backend("cpu", 2);
    ::unsetenv("HAYATE_KV_TYPE");
    for (const std::string type : {"f32", "q8_0"}) {
      auto m = Model::load(make_model("llama", type));
      cpu->prepare(*m);
      auto ref = make_backend("reference", 1);
      const auto tokens = some_tokens(37, m->hp.n_vocab);
      const auto a = run_tokens(*m, *ref, tokens, tokens.size());
      const auto whole = run_tokens(*m, *cpu, tokens, tokens.size());
      const auto one_by_one = run_tokens(*m, *cpu, tokens, 1);
      const auto in_fives = run_tokens(*m, *cpu, tokens, 5);
      const size_t v = static_cast<size_t>(m->hp.n_vocab);
      double worst = 0;
      for (size_t p = 0; p < tokens.size(); ++p) {
        const double err = test::max_relative_error(whole.data() + p * v, a.data() + p * v, v);
        worst = std::max(worst, err);
        EXPECT_LT(err, type == "f32" ? float_tol : 6e-2) << kv << " cache, " << type << " position " << p;
        if (type == "f32") {
          EXPECT_EQ(test::argmax(whole.data() + p * v, v), test::argmax(a.data() + p * v, v)) << kv << " " << p;
        }
        EXPECT_EQ(std::memcmp(one_by_one.data() + p * v, whole.data() + p * v, v * sizeof(float)), 0) << kv << p;
        EXPECT_EQ(std::memcmp(in_fives.data() + p * v, whole.data() + p * v, v * sizeof(float)), 0) << kv << p;
      }
      std::printf("%s KV cache, %s weights: max relative error %.3g\n", kv.c_str(), type.c_str(), worst);
    }
  }
}

// Without HAYATE_KV_TYPE the fast backend keeps K and V in f16 (2 bytes a value) for a model of
// quantized matrices, in f32 (4 bytes) for one of float matrices and before prepare(), whichever
// model it was prepared for last; the variable wins.
TEST(Forward, KvCacheIsF16ForQuantizedWeights) {
  ::unsetenv("HAYATE_KV_TYPE");
  // Bytes per stored value of a 4-block cache of 16-slot blocks that `be` makes for `m`.
  const auto bytes_per_value = [](Backend& be, const Model& m) {
    return be.make_kv_cache(m.hp, 4, 16)->bytes / (size_t{2} * m.hp.n_layer * 4 * 16 * m.hp.kv_dim());
  };
  auto cpu = make_backend("cpu", 1);
  const auto prepared = [&](const Model& m) {
    cpu->prepare(m);
    return bytes_per_value(*cpu, m);
  };
  auto q8 = Model::load(make_model("llama", "q8_0"));
  EXPECT_EQ(bytes_per_value(*cpu, *q8), 4u);  // not prepared yet
  EXPECT_EQ(prepared(*q8), 2u);
  for (const std::string type : {"f32", "f16", "bf16"})
    EXPECT_EQ(prepared(*Model::load(make_model("llama", type))), 4u) << type;
  EXPECT_EQ(prepared(*Model::load(make_model("llama", "q4_k_m"))), 2u);
  EXPECT_EQ(bytes_per_value(*make_backend("reference", 1), *q8), 4u);

  ::setenv("HAYATE_KV_TYPE", "f32", 1);
  auto pinned = make_backend("cpu", 1);
  ::unsetenv("HAYATE_KV_TYPE");
  pinned->prepare(*q8);
  EXPECT_EQ(bytes_per_value(*pinned, *q8), 4u);
}

TEST(Forward, Q8_0KvCacheNeedsWholeBlocksPerHead) {
  auto m = Model::load(make_model("qwen3", "f32"));  // head size 48
  ::setenv("HAYATE_KV_TYPE", "q8_0", 1);
  auto cpu = make_backend("cpu", 1);
  ::unsetenv("HAYATE_KV_TYPE");
  try {
    cpu->make_kv_cache(m->hp, 4, 16);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("multiple of 32; this model's is 48"), std::string::npos) << e.what();
  }
}

TEST(Forward, UnknownKvTypeIsRejected) {
  ::setenv("HAYATE_KV_TYPE", "q3", 1);  // not a KV type
  try {
    make_backend("cpu", 1);
    ::unsetenv("HAYATE_KV_TYPE");
    FAIL() << "no error";
  } catch (const Error& e) {
    ::unsetenv("HAYATE_KV_TYPE");
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("HAYATE_KV_TYPE=q3"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hayate
