// The pre-tokenizer regex families: each known name compiles and cuts text into pieces that
// cover it exactly; a few hand-checked splits pin down the differences between families.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizer/pretokenizer.h"

namespace hayate {
namespace {

std::vector<std::string> pieces(std::string_view name, std::string_view text) {
  std::vector<std::string> out;
  for (const Span& span : PreTokenizer(name).split(text))
    out.emplace_back(text.substr(span.begin, span.end - span.begin));
  return out;
}

using Pieces = std::vector<std::string>;

TEST(PreTokenizer, EveryKnownNameCoversTheText) {
  const std::string text =
      "Hello, y'all! DON'T 1234567 naïve café 你好世界 안녕 \t\n\n   x \xF0\x9F\xA6\x99 $+<=>^~| end  \xFF";
  const std::vector<std::string> names = PreTokenizer::known_names();
  EXPECT_GE(names.size(), 40u);
  for (const std::string& name : names) {
    const std::vector<Span> spans = PreTokenizer(name).split(text);
    size_t pos = 0;
    for (const Span& span : spans) {
      EXPECT_EQ(span.begin, pos) << name;
      EXPECT_LT(span.begin, span.end) << name;
      pos = span.end;
    }
    EXPECT_EQ(pos, text.size()) << name;
  }
}

TEST(PreTokenizer, UnknownNameIsUnsupported) {
  try {
    PreTokenizer("no-such-pre");
    FAIL() << "expected Error(Unsupported)";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("no-such-pre"), std::string::npos) << e.what();
  }
}

TEST(PreTokenizer, Gpt2) {
  EXPECT_EQ(pieces("gpt-2", "I'm don't  Hello 123"), (Pieces{"I", "'m", " don", "'t", " ", " Hello", " 123"}));
  // Contractions are case-sensitive in GPT-2.
  EXPECT_EQ(pieces("gpt-2", "DON'T"), (Pieces{"DON", "'", "T"}));
  EXPECT_EQ(pieces("gpt-2",
                   "ab\xFF"
                   "cd"),
            (Pieces{"ab", "\xFF", "cd"}));
}

TEST(PreTokenizer, Llama3) {
  for (const char* name : {"llama3", "llama-bpe", "llama-v3"}) {
    EXPECT_EQ(pieces(name, "Hello world 12345 !!\n\n  x"),
              (Pieces{"Hello", " world", " ", "123", "45", " !!\n\n", " ", " x"}))
        << name;
    EXPECT_EQ(pieces(name, "DON'T"), (Pieces{"DON", "'T"})) << name;
    EXPECT_EQ(pieces(name, "naïve café  "), (Pieces{"naïve", " café", "  "})) << name;
  }
  EXPECT_TRUE(PreTokenizer("llama-bpe").ignore_merges());
  EXPECT_TRUE(PreTokenizer("llama3").add_bos_default());
  EXPECT_FALSE(PreTokenizer("gpt-2").add_bos_default());
}

TEST(PreTokenizer, Qwen2SplitsEveryDigit) {
  EXPECT_EQ(pieces("qwen2", "x 12345"), (Pieces{"x", " ", "1", "2", "3", "4", "5"}));
  EXPECT_EQ(pieces("qwen2", "Hi\n\nthere"), (Pieces{"Hi", "\n\n", "there"}));
  // Qwen's tokenizer.json normalizes to NFC before splitting; Llama 3's does not.
  EXPECT_TRUE(PreTokenizer("qwen2").nfc());
  EXPECT_FALSE(PreTokenizer("llama-bpe").nfc());
}

TEST(PreTokenizer, SequencesApplyEachRegexToThePreviousPieces) {
  // deepseek-coder: newlines first, then letters, punctuation, CJK, single digits.
  EXPECT_EQ(pieces("deepseek-coder", "ab\ncd 42!"), (Pieces{"ab", "\n", "cd", " ", "4", "2", "!"}));
  // falcon: punctuation runs are cut out before the GPT-2 rules see them, and digits are
  // grouped in threes from the left afterwards.
  EXPECT_EQ(pieces("falcon", "a+=b 1234"), (Pieces{"a", "+=", "b", " ", "123", "4"}));
  // starcoder: digits one by one.
  EXPECT_EQ(pieces("starcoder", "v12"), (Pieces{"v", "1", "2"}));
}

}  // namespace
}  // namespace hayate
