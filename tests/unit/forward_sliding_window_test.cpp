// Sliding-window attention (Mistral's attention.sliding_window): a token attends to the last
// `window` positions, itself included. Checked against a direct windowed computation: RoPE makes
// attention depend only on relative positions, so in a one-layer model a token's windowed logits
// are the logits of a plain causal model run on just its window, from position 0.
#include <gtest/gtest.h>

#include <sstream>

#include "backend/backend.h"
#include "core/error.h"
#include "forward/forward.h"
#include "model/synth.h"
#include "support/forward_runs.h"
#include "support/test_util.h"

namespace hayate {
namespace {

constexpr int32_t kWindow = 8;

std::unique_ptr<Model> make_model(int32_t n_layer, int32_t window, const std::string& type = "f32") {
  const std::string path =
      test::temp_path("swa-" + std::to_string(n_layer) + "-" + std::to_string(window) + "-" + type + ".gguf");
  SynthOptions o;
  o.arch = "llama";
  o.n_embd = 128;
  o.n_layer = n_layer;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_ff = 256;
  o.n_ctx = 256;
  o.file_type = type;
  o.sliding_window = window;
  o.seed = 11;  // the same weights with and without a window
  std::ostringstream log;
  synth_model(o, path, log);
  return Model::load(path);
}

std::vector<int32_t> some_tokens(int n, int vocab) { return test::some_tokens(n, vocab, 53, 5); }

std::vector<float> run(const Model& m, Backend& be, const std::vector<int32_t>& tokens, size_t chunk) {
  return test::run_tokens(m, be, tokens, chunk);
}

TEST(SlidingWindow, LoadsFromGguf) {
  EXPECT_EQ(make_model(1, kWindow)->hp.sliding_window, kWindow);
  EXPECT_EQ(make_model(1, 0)->hp.sliding_window, 0);
}

TEST(SlidingWindow, LogitsPastTheWindowEqualADirectWindowedComputation) {
  const auto windowed = make_model(1, kWindow);
  const auto plain = make_model(1, 0);
  const size_t v = static_cast<size_t>(windowed->hp.n_vocab);
  const std::vector<int32_t> tokens = some_tokens(40, windowed->hp.n_vocab);
  for (const char* backend : {"reference", "cpu"}) {
    auto be = make_backend(backend, 2);
    be->prepare(*windowed);
    const std::vector<float> got = run(*windowed, *be, tokens, tokens.size());
    const std::vector<float> full = run(*plain, *be, tokens, tokens.size());
    for (size_t p = 0; p < tokens.size(); ++p) {
      const float* row = got.data() + p * v;
      if (p < kWindow) {  // the window holds the whole prefix: the same computation, bit for bit
        EXPECT_EQ(std::memcmp(row, full.data() + p * v, v * sizeof(float)), 0) << backend << " position " << p;
        continue;
      }
      const std::vector<int32_t> window(tokens.begin() + static_cast<long>(p) - kWindow + 1,
                                        tokens.begin() + static_cast<long>(p) + 1);
      const std::vector<float> direct = run(*plain, *be, window, window.size());
      EXPECT_LT(test::max_relative_error(row, direct.data() + (kWindow - 1) * v, v), 1e-4)
          << backend << " position " << p;
      // Attending to the whole prefix instead is far off: the window matters here.
      EXPECT_GT(test::max_relative_error(row, full.data() + p * v, v), 1e-2) << backend << " position " << p;
    }
  }
}

// Several layers (each widens what a token sees by window - 1 positions): the fast backend
// against the reference one, a prompt at once against token by token.
TEST(SlidingWindow, CpuMatchesReferenceAndDecodingMatchesPrompt) {
  for (const char* type : {"f32", "q8_0"}) {
    const auto m = make_model(3, kWindow, type);
    const size_t v = static_cast<size_t>(m->hp.n_vocab);
    const std::vector<int32_t> tokens = some_tokens(45, m->hp.n_vocab);
    auto ref = make_backend("reference", 1);
    auto cpu = make_backend("cpu", 2);
    cpu->prepare(*m);
    const std::vector<float> want = run(*m, *ref, tokens, tokens.size());
    const std::vector<float> prompt = run(*m, *cpu, tokens, tokens.size());
    const std::vector<float> decoded = run(*m, *cpu, tokens, 1);
    const std::vector<float> chunks = run(*m, *cpu, tokens, 7);
    const double tolerance = std::string(type) == "f32" ? 1e-4 : 5e-2;
    for (size_t p = 0; p < tokens.size(); ++p) {
      EXPECT_LT(test::max_relative_error(prompt.data() + p * v, want.data() + p * v, v), tolerance)
          << type << " position " << p;
      // A token's logits do not depend on how the sequence was cut into steps.
      EXPECT_EQ(std::memcmp(prompt.data() + p * v, decoded.data() + p * v, v * sizeof(float)), 0)
          << type << " position " << p;
      EXPECT_EQ(std::memcmp(prompt.data() + p * v, chunks.data() + p * v, v * sizeof(float)), 0)
          << type << " position " << p;
    }
  }
}

// A backend whose attention does not window (it leaves the cache's window at 0, as the CUDA
// backend does) is refused, not run past the window.
TEST(SlidingWindow, ACacheWithoutTheWindowIsRefused) {
  const auto m = make_model(1, kWindow);
  auto be = make_backend("reference", 1);
  HParams unwindowed = m->hp;
  unwindowed.sliding_window = 0;
  auto kv = be->make_kv_cache(unwindowed, 1, 16);
  Batch b;
  b.sequences.push_back({{0}});
  b.add(1, 0, 0, true);
  try {
    forward(*m, b, *kv, *be);
    FAIL() << "a cache without the model's window was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("sliding-window"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hayate
