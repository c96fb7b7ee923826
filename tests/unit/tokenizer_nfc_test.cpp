// NFC normalization (used before Qwen's pre-tokenizer). Expected strings come from Python's
// unicodedata.normalize("NFC", …); the implementation was also checked against it for every
// code point and 200k random mark sequences when the tables were generated.
#include <gtest/gtest.h>

#include <string>

#include "tokenizer/nfc.h"

namespace hayate {
namespace {

TEST(Nfc, ComposesBaseAndMark) {
  EXPECT_EQ(to_nfc("e\xCC\x81"), "\xC3\xA9");  // e + acute -> é
  EXPECT_EQ(to_nfc("caf"
                   "e\xCC\x81 na"
                   "i\xCC\x88ve"),
            "caf\xC3\xA9 na\xC3\xAFve");       // café naïve
  EXPECT_EQ(to_nfc("A\xCC\x8A"), "\xC3\x85");  // A + ring -> Å
}

TEST(Nfc, SingletonsAndExclusionsDecompose) {
  EXPECT_EQ(to_nfc("\xE2\x84\xAB"), "\xC3\x85");                  // ANGSTROM SIGN -> Å
  EXPECT_EQ(to_nfc("\xCD\x84"), "\xCC\x88\xCC\x81");              // U+0344 stays decomposed
  EXPECT_EQ(to_nfc("\xE0\xA5\x98"), "\xE0\xA4\x95\xE0\xA4\xBC");  // U+0958 is a composition exclusion
}

TEST(Nfc, ReordersMarksBeforeComposing) {
  // a + acute (230) + dot below (220): the dot below sorts first and composes with the a.
  EXPECT_EQ(to_nfc("a\xCC\x81\xCC\xA3"), "\xE1\xBA\xA1\xCC\x81");
  // A second mark of the same class is blocked by the first.
  EXPECT_EQ(to_nfc("a\xCC\x88\xCC\x88"), "\xC3\xA4\xCC\x88");
  EXPECT_EQ(to_nfc("e\xCC\x81\xCC\x81"), "\xC3\xA9\xCC\x81");
}

TEST(Nfc, HangulJamoCompose) {
  EXPECT_EQ(to_nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "\xEA\xB0\x81");  // ᄀ ᅡ ᆨ -> 각
  EXPECT_EQ(to_nfc("\xEA\xB0\x81"), "\xEA\xB0\x81");
}

TEST(Nfc, LeavesNormalTextAlone) {
  EXPECT_EQ(to_nfc(""), "");
  EXPECT_EQ(to_nfc("plain ASCII, 123"), "plain ASCII, 123");
  EXPECT_EQ(to_nfc("\xC3\xA9t\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\xA6\x99"),
            "\xC3\xA9t\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\xA6\x99");
  const std::string zalgo =
      "Z\xCD\x91\xCD\xAB\xCC\x93"
      "a\xCC\x90\xCD\x92";  // already NFC
  EXPECT_EQ(to_nfc(zalgo), zalgo);
}

TEST(Nfc, InvalidBytesPassThroughAndBlockComposition) {
  EXPECT_EQ(to_nfc("e\xFF\xCC\x81"), "e\xFF\xCC\x81");
  EXPECT_EQ(to_nfc("\xC3"), "\xC3");
  EXPECT_EQ(to_nfc("x\xE2\x82 e\xCC\x81"), "x\xE2\x82 \xC3\xA9");
}

}  // namespace
}  // namespace hayate
