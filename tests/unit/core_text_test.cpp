// The shared UTF-8 and JSON-string helpers of core/, which the tokenizers, the chat templates and
// the GGUF printer all rely on.
#include <gtest/gtest.h>

#include <string>

#include "core/json_escape.h"
#include "core/utf8.h"

namespace hayate {
namespace {

std::string json(std::string_view s, bool ensure_ascii) {
  std::string out;
  append_json_string(out, s, ensure_ascii);
  return out;
}

TEST(CoreUtf8, ValidLengthIsZeroForBrokenSequences) {
  EXPECT_EQ(utf8::valid_length("a", 0), 1u);
  EXPECT_EQ(utf8::valid_length("\xC3\xA9", 0), 2u);          // é
  EXPECT_EQ(utf8::valid_length("\xE2\x82\xAC", 0), 3u);      // €
  EXPECT_EQ(utf8::valid_length("\xF0\x9F\x98\x80", 0), 4u);  // 😀
  EXPECT_EQ(utf8::valid_length("\x80", 0), 0u);              // stray continuation byte
  EXPECT_EQ(utf8::valid_length("\xC0\xAF", 0), 0u);          // overlong '/'
  EXPECT_EQ(utf8::valid_length("\xED\xA0\x80", 0), 0u);      // UTF-16 surrogate
  EXPECT_EQ(utf8::valid_length("\xF4\x90\x80\x80", 0), 0u);  // above U+10FFFF
  EXPECT_EQ(utf8::valid_length("\xE2\x82", 0), 0u);          // cut short
}

TEST(CoreJson, EscapesControlCharactersAndQuotes) {
  EXPECT_EQ(json("a\"b\\c\n\r\t\b\f", false), R"("a\"b\\c\n\r\t\b\f")");
  EXPECT_EQ(json(std::string("\x01\x1f", 2), false), R"("\u0001\u001f")");
  EXPECT_EQ(json("", true), R"("")");
}

TEST(CoreJson, KeepsOrEscapesNonAscii) {
  EXPECT_EQ(json("caf\xC3\xA9", false), "\"caf\xC3\xA9\"");
  EXPECT_EQ(json("caf\xC3\xA9", true), R"("caf\u00e9")");
  EXPECT_EQ(json("\xF0\x9F\x98\x80", true), R"("\ud83d\ude00")");  // a surrogate pair, as json.dumps writes
}

TEST(CoreJson, BrokenUtf8BecomesReplacementCharacter) {
  EXPECT_EQ(json("a\xFF"
                 "b",
                 false),
            R"("a\ufffdb")");
  EXPECT_EQ(json("\xE2\x82", true), R"("\ufffd\ufffd")");
}

}  // namespace
}  // namespace hayate
