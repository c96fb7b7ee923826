// Real GGUF files written by llama.cpp: every vocabulary in the shared test data must read,
// with a tokenizer model we know and per-token arrays of one length.
#include <algorithm>
#include <filesystem>
#include <set>

#include "unit/gguf_test_util.h"

namespace hayate::gguf {
namespace {

std::vector<std::string> vocab_files() {
  std::vector<std::string> paths;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(HAYATE_SHARED_VOCAB, ec))
    if (entry.path().extension() == ".gguf") paths.push_back(entry.path().string());
  std::sort(paths.begin(), paths.end());
  return paths;
}

TEST(GgufVocab, EverySharedVocabularyReads) {
  const auto paths = vocab_files();
  if (paths.empty()) GTEST_SKIP() << "no vocabularies in " << HAYATE_SHARED_VOCAB;
  const std::set<std::string> known_models = {"llama", "gpt2", "bert"};
  for (const auto& path : paths) {
    SCOPED_TRACE(path);
    const auto f = File::open(path);
    EXPECT_TRUE(f->version() == 2 || f->version() == 3);
    EXPECT_FALSE(f->get_string("general.architecture", "").empty());
    const std::string model = f->get_string("tokenizer.ggml.model", "");
    EXPECT_TRUE(known_models.count(model)) << "tokenizer.ggml.model is " << model;

    const Value& tokens = f->get("tokenizer.ggml.tokens");
    ASSERT_EQ(tokens.array_type(), ValueType::String);
    const size_t n = tokens.as_array().size();
    EXPECT_GT(n, 1000u);
    for (const char* key : {"tokenizer.ggml.scores", "tokenizer.ggml.token_type"}) {
      if (const Value* v = f->find(key)) {
        EXPECT_EQ(v->as_array(key).size(), n) << key;
      }
    }
    if (const Value* merges = f->find("tokenizer.ggml.merges")) {
      EXPECT_EQ(merges->array_type(), ValueType::String);
      EXPECT_EQ(model, "gpt2");
    }
    for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"}) {
      if (f->find(key)) {
        EXPECT_LT(f->get_u64(key, 0), n) << key;
      }
    }
  }
}

TEST(GgufVocab, KnownFacts) {
  const std::string path = std::string(HAYATE_SHARED_VOCAB) + "/ggml-vocab-llama-spm.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is missing";
  const auto f = File::open(path);
  EXPECT_EQ(f->get_string("tokenizer.ggml.model", ""), "llama");
  const auto& tokens = f->get("tokenizer.ggml.tokens").as_array();
  ASSERT_EQ(tokens.size(), 32000u);
  EXPECT_EQ(tokens[1].as_string(), "<s>");
  EXPECT_EQ(tokens[2].as_string(), "</s>");
  EXPECT_EQ(f->get_u64("tokenizer.ggml.bos_token_id", 0), 1u);
}

// Re-writing a real file with our writer reproduces it byte for byte (llama.cpp's writer and
// ours agree on the layout).
TEST(GgufVocab, RewriteIsByteIdentical) {
  for (const auto& path : vocab_files()) {
    SCOPED_TRACE(path);
    const auto f = File::open(path);
    Writer w(f->alignment());
    w.copy_metadata(*f);
    for (const TensorInfo& t : f->tensors()) w.add_tensor(t.name, t.type, t.shape, t.data);
    const std::string out = gguf_test::temp_path("rewrite.gguf");
    w.write(out);
    const auto original = gguf_test::read_bytes(path);
    const auto rewritten = gguf_test::read_bytes(out);
    std::remove(out.c_str());
    if (f->version() != 3) continue;  // the writer always writes v3
    // llama.cpp may or may not pad a tensorless file to the alignment; compare the common part.
    const size_t n = std::min(original.size(), rewritten.size());
    EXPECT_TRUE(std::equal(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(n), rewritten.begin()));
    EXPECT_LT(std::max(original.size(), rewritten.size()) - n, f->alignment());
  }
}

}  // namespace
}  // namespace hayate::gguf
