// Tokenizers built from tiny hand-made vocabularies, written with gguf::Writer, so that each rule
// (merge order, tie-breaking, byte fallback, special tokens, metadata errors) is seen in isolation.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace hayate {
namespace {

using Metadata = std::vector<std::pair<std::string, gguf::Value>>;
using Ids = std::vector<int32_t>;

std::unique_ptr<Tokenizer> build(const std::string& name, const Metadata& metadata) {
  gguf::Writer writer;
  for (const auto& [key, value] : metadata) writer.set(key, value);
  const std::string path = ::testing::TempDir() + "hayate_tokenizer_" + name + ".gguf";
  writer.write(path);
  return Tokenizer::from_gguf(*gguf::File::open(path));
}

ErrorKind build_error(const std::string& name, const Metadata& metadata, std::string* message = nullptr) {
  try {
    build(name, metadata);
  } catch (const Error& e) {
    if (message != nullptr) *message = e.what();
    return e.kind();
  }
  ADD_FAILURE() << name << ": expected an error";
  return ErrorKind::Internal;
}

// A SentencePiece vocabulary: <unk> <s> </s>, optionally the 256 byte tokens, then `pieces`.
struct Spm {
  std::vector<std::string> tokens{"<unk>", "<s>", "</s>"};
  std::vector<float> scores{0, 0, 0};
  std::vector<int32_t> types{2, 3, 3};

  explicit Spm(bool byte_tokens) {
    if (!byte_tokens) return;
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", b);
      add(name, 0, TokenType::Byte);
    }
  }
  int32_t add(const std::string& text, float score, TokenType type = TokenType::Normal) {
    tokens.push_back(text);
    scores.push_back(score);
    types.push_back(static_cast<int32_t>(type));
    return static_cast<int32_t>(tokens.size() - 1);
  }
  Metadata metadata() const {
    return {{"tokenizer.ggml.model", gguf::Value::string("llama")},
            {"tokenizer.ggml.tokens", gguf::Value::string_array(tokens)},
            {"tokenizer.ggml.scores", gguf::Value::f32_array(scores)},
            {"tokenizer.ggml.token_type", gguf::Value::i32_array(types)}};
  }
};

const std::string kSpace = "\xE2\x96\x81";  // U+2581

TEST(SyntheticSpm, MergesTheHighestScoringPairFirst) {
  for (bool bc_first : {true, false}) {
    Spm spm(false);
    const int32_t space = spm.add(kSpace, -10);
    spm.add("a", -10);
    spm.add("b", -10);
    const int32_t c = spm.add("c", -10);
    const int32_t ab = spm.add("ab", bc_first ? -2 : -1);
    const int32_t bc = spm.add("bc", bc_first ? -1 : -2);
    const int32_t space_a = spm.add(kSpace + "a", -3);
    const auto tokenizer = build("spm_order", spm.metadata());
    // bc first: ▁ a bc, then ▁a. ab first: ▁ ab c, and neither ▁ab nor abc exists.
    const Ids expected = bc_first ? Ids{space_a, bc} : Ids{space, ab, c};
    EXPECT_EQ(tokenizer->encode("abc", false, false), expected) << "bc_first=" << bc_first;
    EXPECT_EQ(tokenizer->decode(expected, false), "abc");
  }
}

TEST(SyntheticSpm, EqualScoresMergeLeftmostFirst) {
  Spm spm(false);
  const int32_t space = spm.add(kSpace, -10);
  const int32_t a = spm.add("a", -10);
  const int32_t aa = spm.add("aa", -1);
  const auto tokenizer = build("spm_ties", spm.metadata());
  EXPECT_EQ(tokenizer->encode("aaa", false, false), (Ids{space, aa, a}));
}

TEST(SyntheticSpm, FallsBackToBytesThenToUnknown) {
  Spm with_bytes(true);
  const int32_t space = with_bytes.add(kSpace, -10);
  const auto tokenizer = build("spm_bytes", with_bytes.metadata());
  const Ids ids = tokenizer->encode("\xC3\xA9", false, false);  // é
  EXPECT_EQ(ids, (Ids{space, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(tokenizer->decode(ids, false), "\xC3\xA9");

  Spm without_bytes(false);
  const int32_t space2 = without_bytes.add(kSpace, -10);
  const auto no_bytes = build("spm_unk", without_bytes.metadata());
  EXPECT_EQ(no_bytes->encode("\xC3\xA9", false, false), (Ids{space2, 0, 0}));
}

TEST(SyntheticSpm, SpacePrefixFollowsTheMetadata) {
  Spm spm(false);
  const int32_t space = spm.add(kSpace, -10);
  const int32_t a = spm.add("a", -10);
  Metadata metadata = spm.metadata();
  EXPECT_EQ(build("spm_prefix", metadata)->encode("a a", false, false), (Ids{space, a, space, a}));
  metadata.emplace_back("tokenizer.ggml.add_space_prefix", gguf::Value::boolean(false));
  const auto tokenizer = build("spm_no_prefix", metadata);
  EXPECT_FALSE(tokenizer->add_space_prefix());
  EXPECT_EQ(tokenizer->encode("a a", false, false), (Ids{a, space, a}));
  EXPECT_EQ(tokenizer->decode({space, a}, false), " a");
}

TEST(SyntheticSpm, SpacePrefixAfterSpecialTokens) {
  // As llama.cpp does: the first fragment and every fragment after a special token get one.
  Spm spm(false);
  const int32_t space = spm.add(kSpace, -10);
  const int32_t a = spm.add("a", -10);
  const int32_t tag = spm.add("<tag>", 0, TokenType::UserDefined);
  const auto tokenizer = build("spm_specials", spm.metadata());
  EXPECT_EQ(tokenizer->encode("a<tag>a", false, false), (Ids{space, a, tag, space, a}));
  EXPECT_EQ(tokenizer->encode("<s>a", true, true), (Ids{1, 1, space, a}));
  EXPECT_EQ(tokenizer->encode("<s>a", false, false), (Ids{space, 0, 0, 0, a}));  // no byte tokens: <unk>
  EXPECT_EQ(tokenizer->decode({tag, a}, false), "<tag>a");
}

TEST(SyntheticSpm, InconsistentMetadataIsRejected) {
  Spm spm(false);
  spm.add(kSpace, -10);
  Metadata short_scores = spm.metadata();
  short_scores[2].second = gguf::Value::f32_array({0, 0});
  std::string message;
  EXPECT_EQ(build_error("spm_short_scores", short_scores, &message), ErrorKind::BadInput);
  EXPECT_NE(message.find("tokenizer.ggml.scores"), std::string::npos) << message;

  Metadata bad_bos = spm.metadata();
  bad_bos.emplace_back("tokenizer.ggml.bos_token_id", gguf::Value::u32(999));
  EXPECT_EQ(build_error("spm_bad_bos", bad_bos), ErrorKind::BadInput);

  Metadata no_model = spm.metadata();
  no_model.erase(no_model.begin());
  EXPECT_EQ(build_error("spm_no_model", no_model), ErrorKind::NotFound);
}

// A byte-level BPE vocabulary of plain ASCII letters (they spell themselves in GPT-2's alphabet).
Metadata bpe(const std::vector<std::string>& tokens, const std::vector<std::string>& merges, const std::string& pre,
             std::vector<int32_t> types = {}) {
  if (types.empty()) types.assign(tokens.size(), static_cast<int32_t>(TokenType::Normal));
  return {{"tokenizer.ggml.model", gguf::Value::string("gpt2")},
          {"tokenizer.ggml.pre", gguf::Value::string(pre)},
          {"tokenizer.ggml.tokens", gguf::Value::string_array(tokens)},
          {"tokenizer.ggml.token_type", gguf::Value::i32_array(types)},
          {"tokenizer.ggml.merges", gguf::Value::string_array(merges)},
          {"tokenizer.ggml.bos_token_id", gguf::Value::u32(0)}};
}

TEST(SyntheticBpe, MergesInRankOrder) {
  const std::vector<std::string> tokens{"a", "b", "c", "ab", "bc", "abc", "\xC4\xA0"};  // Ġ is the space
  EXPECT_EQ(build("bpe_bc", bpe(tokens, {"b c", "a b"}, "gpt-2"))->encode("abc", false, false), (Ids{0, 4}));
  EXPECT_EQ(build("bpe_ab", bpe(tokens, {"a b", "b c"}, "gpt-2"))->encode("abc", false, false), (Ids{3, 2}));
  const auto full = build("bpe_abc", bpe(tokens, {"a b", "ab c"}, "gpt-2"));
  EXPECT_EQ(full->encode("abc abc", false, false), (Ids{5, 6, 5}));
  EXPECT_EQ(full->decode({5, 6, 5}, false), "abc abc");
}

TEST(SyntheticBpe, Llama3LooksUpWholeWordsFirst) {
  const std::vector<std::string> tokens{"a", "b", "c", "abc"};
  // "a b" yields "ab", which is not a token: the characters are used instead.
  EXPECT_EQ(build("bpe_gpt2_word", bpe(tokens, {"a b"}, "gpt-2"))->encode("abc", false, false), (Ids{0, 1, 2}));
  const auto llama3 = build("bpe_llama3_word", bpe(tokens, {"a b"}, "llama-bpe"));
  EXPECT_EQ(llama3->encode("abc", false, false), (Ids{3}));
  // The llama3 family adds BOS unless the metadata says otherwise.
  EXPECT_EQ(llama3->encode("abc", true, false), (Ids{0, 3}));
  Metadata no_bos = bpe(tokens, {"a b"}, "llama-bpe");
  no_bos.emplace_back("tokenizer.ggml.add_bos_token", gguf::Value::boolean(false));
  EXPECT_EQ(build("bpe_llama3_no_bos", no_bos)->encode("abc", true, false), (Ids{3}));
}

TEST(SyntheticBpe, SpecialTokensLongestFirst) {
  const int32_t control = static_cast<int32_t>(TokenType::Control);
  const int32_t normal = static_cast<int32_t>(TokenType::Normal);
  const std::vector<std::string> tokens{"a", "b", "c", "<|im_start|>", "<|im_end|>", "<|im", "x"};
  const auto tokenizer =
      build("bpe_specials", bpe(tokens, {}, "qwen2", {normal, normal, normal, control, control, control, normal}));
  EXPECT_EQ(tokenizer->encode("<|im_start|>a<|im_end|><|imx", false, true), (Ids{3, 0, 4, 5, 6}));
  EXPECT_TRUE(tokenizer->is_end_of_generation(4));
  EXPECT_FALSE(tokenizer->is_end_of_generation(3));
  EXPECT_EQ(tokenizer->decode({3, 0, 4}, true), "<|im_start|>a<|im_end|>");
  EXPECT_EQ(tokenizer->decode({3, 0, 4}, false), "a");
}

TEST(SyntheticBpe, QwenNormalizesToNfcFirst) {
  // "\xC3\x83\xC2\xA9" is é (bytes C3 A9) in GPT-2's byte alphabet.
  const std::vector<std::string> tokens{"e", "\xC3\x83", "\xC2\xA9", "\xC3\x83\xC2\xA9"};
  const auto qwen = build("bpe_qwen_nfc", bpe(tokens, {"\xC3\x83 \xC2\xA9"}, "qwen2"));
  EXPECT_EQ(qwen->encode("e\xCC\x81", false, false), (Ids{3}));  // e + combining acute
  EXPECT_EQ(qwen->encode("\xC3\xA9", false, false), (Ids{3}));
  const auto gpt2 = build("bpe_gpt2_no_nfc", bpe(tokens, {"\xC3\x83 \xC2\xA9"}, "gpt-2"));
  EXPECT_EQ(gpt2->encode("e\xCC\x81", false, false), (Ids{0}));  // the mark's bytes have no tokens
}

TEST(SyntheticBpe, UnknownPreTokenizerIsNamed) {
  std::string message;
  EXPECT_EQ(build_error("bpe_unknown_pre", bpe({"a"}, {}, "mystery-pre"), &message), ErrorKind::Unsupported);
  EXPECT_NE(message.find("mystery-pre"), std::string::npos) << message;
}

TEST(SyntheticBpe, MissingMergesAreRejected) {
  Metadata metadata = bpe({"a"}, {}, "gpt-2");
  metadata.erase(metadata.begin() + 4);
  EXPECT_EQ(build_error("bpe_no_merges", metadata), ErrorKind::BadInput);
}

TEST(SyntheticBpe, AbsentPreMeansDefault) {
  Metadata metadata = bpe({"a", "b"}, {}, "gpt-2");
  metadata.erase(metadata.begin() + 1);
  const auto tokenizer = build("bpe_default_pre", metadata);
  EXPECT_EQ(tokenizer->pre_name(), "default");
  EXPECT_EQ(tokenizer->encode("ab", false, false), (Ids{0, 1}));
}

TEST(SyntheticModels, OtherModelsAreUnsupported) {
  Metadata metadata = bpe({"a"}, {}, "gpt-2");
  metadata[0].second = gguf::Value::string("rwkv");  // "t5" (Unigram) is read since issue 20
  std::string message;
  EXPECT_EQ(build_error("rwkv", metadata, &message), ErrorKind::Unsupported);
  EXPECT_NE(message.find("rwkv"), std::string::npos) << message;
}

}  // namespace
}  // namespace hayate
