// Lossless compression with the embedded demo model: exact round trips of the varied corpus,
// the same bytes whatever the thread count and the batch, and clear errors for another model's
// file. (The 1 MB round trip with the model is a benchmark, bench/compress/run.sh; 1 MB through
// the coder and the container runs in compress_coder_test with a toy source, and 64 KB with the
// model through the CLI in compress_cli_test.)
#include <gtest/gtest.h>

#include <memory>

#include "backend/backend.h"
#include "compress/alphabet.h"
#include "compress/container.h"
#include "compress/lossless.h"
#include "compress/model_logits.h"
#include "core/error.h"
#include "model/model.h"
#include "support/compress_corpus.h"
#include "support/engine_support.h"
#include "tokenizer/tokenizer.h"

namespace hayate::compress {
namespace {

struct Demo {
  std::unique_ptr<Model> model = Model::load(HAYATE_SOURCE_DIR "/assets/demo-q8_0.gguf");
  std::unique_ptr<Tokenizer> tokenizer = Tokenizer::from_gguf(*model->file);
  Alphabet alphabet{*tokenizer};
};

const Demo& demo() {
  static Demo d;
  return d;
}

// The demo model on the CPU backend with `threads` workers.
struct Coder {
  explicit Coder(int threads, ModelLogitsOptions o = {}) : backend(make_backend("cpu", threads)) {
    backend->prepare(*demo().model);
    source = std::make_unique<ModelLogits>(*demo().model, *backend, demo().alphabet, o);
  }
  std::vector<uint8_t> compress(std::string_view s) { return compress_lossless(s, *source, demo().alphabet); }
  std::string decompress(const std::vector<uint8_t>& f) {
    return compress::decompress(f, source.get(), &demo().alphabet);
  }
  std::unique_ptr<Backend> backend;
  std::unique_ptr<ModelLogits> source;
};

// Makes a batch-invariant source look batch-dependent, so the coder takes the lockstep schedule
// that GPU backends get.
class Lockstep final : public LogitSource {
 public:
  explicit Lockstep(LogitSource& s) : s_(s) {}
  int32_t n_vocab() const override { return s_.n_vocab(); }
  int32_t n_ctx() const override { return s_.n_ctx(); }
  int32_t max_sequences() const override { return s_.max_sequences(); }
  int32_t max_step_tokens() const override { return s_.max_step_tokens(); }
  bool batch_invariant() const override { return false; }
  uint32_t model_id() const override { return s_.model_id(); }
  uint16_t compute_id() const override { return s_.compute_id(); }
  std::string compute_path() const override { return s_.compute_path(); }
  void reset(int32_t seq) override { s_.reset(seq); }
  std::vector<float> step(std::span<const FeedPart> parts) override { return s_.step(parts); }

 private:
  LogitSource& s_;
};

TEST(CompressLossless, CorpusRoundTripsAndIsTheSameWithOneAndTwoThreads) {
  Coder one(1), two(2);
  for (const auto& [name, text] : test::compress_corpus()) {
    SCOPED_TRACE(name);
    const std::vector<uint8_t> a = one.compress(text);
    const std::vector<uint8_t> b = two.compress(text);
    EXPECT_EQ(a, b) << "the thread count changed the compressed bytes";
    EXPECT_EQ(two.decompress(a), text);
    EXPECT_EQ(one.decompress(b), text);
  }
}

TEST(CompressLossless, ProseCompressesFarBelowItsSize) {
  Coder c(2);
  const std::string text = test::prose() + test::prose();
  const std::vector<uint8_t> f = c.compress(text);
  EXPECT_LT(f.size() * 4, text.size()) << f.size() << " bytes for " << text.size();
  EXPECT_EQ(read_container(f).method, Method::Model);
}

TEST(CompressLossless, ManyWindowsInSeveralRoundsRoundTripAcrossThreadCounts) {
  // Short windows, few side by side: decompression runs many rounds and refills sequences as
  // windows end. (64 KB with full windows is in compress_cli_test, outside the sanitizer run.)
  const std::string text = test::mixed(2500);
  Coder one(1, ModelLogitsOptions{64, 4, 256}), two(2, ModelLogitsOptions{64, 4, 256});
  const std::vector<uint8_t> f = one.compress(text);
  const Container c = read_container(f);
  EXPECT_GT(c.windows.size(), 16u);
  EXPECT_EQ(c.model.window_tokens, 64u);
  EXPECT_EQ(two.decompress(f), text);
  EXPECT_EQ(two.compress(text), f);
}

TEST(CompressLossless, ABatchGivesEachInputTheBytesItGetsAlone) {
  Coder c(2, ModelLogitsOptions{0, 3, 200});  // 3 sequences, small steps: windows share and split steps
  std::vector<std::string> texts;
  for (const auto& [name, text] : test::compress_corpus()) texts.push_back(text);
  texts.push_back(test::mixed(1500));
  const std::vector<std::string_view> views(texts.begin(), texts.end());
  const auto batch = compress_lossless(views, *c.source, demo().alphabet);
  Coder alone(2);
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(batch[i], alone.compress(texts[i])) << "input " << i;
    EXPECT_EQ(c.decompress(batch[i]), texts[i]);
  }
}

TEST(CompressLossless, LockstepScheduleForBatchDependentBackendsRoundTrips) {
  Coder c(2, ModelLogitsOptions{64, 4, 512});
  Lockstep lock(*c.source);
  const std::string text = test::mixed(1500);
  const std::vector<uint8_t> f = compress_lossless(text, lock, demo().alphabet);
  EXPECT_EQ(read_container(f).model.lockstep, 4);
  EXPECT_EQ(decompress(f, &lock, &demo().alphabet), text);
  // Its logits are batch-invariant after all, so the batched coder made the same payloads.
  Container a = read_container(f), b = read_container(c.compress(text));
  ASSERT_EQ(a.windows.size(), b.windows.size());
  for (size_t i = 0; i < a.windows.size(); ++i) EXPECT_EQ(a.windows[i].payload, b.windows[i].payload);
}

TEST(CompressLossless, AnotherModelsFileIsAClearError) {
  Coder c(2);
  const std::vector<uint8_t> f = c.compress(test::prose());
  const test::TinyModel other = test::make_tiny_model("compress-other.gguf", 64, 1, 128, 256);
  auto backend = make_backend("cpu", 1);
  backend->prepare(*other.model);
  const Alphabet alphabet(*other.tokenizer);
  ModelLogits source(*other.model, *backend, alphabet);
  try {
    decompress(f, &source, &alphabet);
    FAIL() << "decompressed with the wrong model";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("another model"), std::string::npos) << e.what();
  }
}

TEST(CompressLossless, DamagedFilesAreClearErrors) {
  Coder c(2);
  std::vector<uint8_t> f = c.compress(test::prose());
  for (size_t cut : {size_t{0}, size_t{3}, f.size() / 2, f.size() - 1}) {
    EXPECT_THROW(c.decompress(std::vector<uint8_t>(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(cut))), Error);
  }
  for (size_t at = 0; at < f.size(); ++at) {
    std::vector<uint8_t> g = f;
    g[at] ^= 0x10;
    try {
      c.decompress(g);
      ADD_FAILURE() << "a flipped bit at byte " << at << " went unnoticed";
    } catch (const Error& e) {
      EXPECT_TRUE(e.kind() == ErrorKind::BadInput || e.kind() == ErrorKind::Unsupported) << e.what();
    }
  }
}

}  // namespace
}  // namespace hayate::compress
