// GBNF parsing and the checks that keep a matcher from looping or never finishing; regular
// expressions through the same path.
#include <gtest/gtest.h>

#include "core/error.h"
#include "grammar/grammar.h"
#include "grammar/matcher.h"
#include "grammar/sources.h"

namespace hayate::grammar {
namespace {

// A one-byte-per-token vocabulary: the matcher then checks text byte by byte.
std::shared_ptr<const Vocabulary> byte_vocab() {
  auto v = std::make_shared<Vocabulary>();
  for (int b = 0; b < 256; ++b) v->tokens.push_back(std::string(1, static_cast<char>(b)));
  return v;
}

bool matches(const std::string& gbnf, const std::string& text) {
  auto compiled = std::make_shared<const CompiledGrammar>(parse_gbnf(gbnf), byte_vocab());
  Matcher m(compiled);
  return m.accept_bytes(text) && m.can_end();
}

std::string error_of(const std::string& gbnf) {
  try {
    parse_gbnf(gbnf);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    return e.what();
  }
  return "";
}

const char kArithmetic[] = R"g(
root ::= expr
expr ::= term (ws [-+] ws term)*
term ::= factor (ws [*/] ws factor)*
factor ::= number | "(" ws expr ws ")"
number ::= [0-9]+ ("." [0-9]+)?
ws ::= " "?   # optional space
)g";

TEST(Gbnf, Arithmetic) {
  for (const char* ok : {"1", "1+2", "(1 + 2) * 3.5", "((4))/2-1", "12 * (3 - 4) / 5"})
    EXPECT_TRUE(matches(kArithmetic, ok)) << ok;
  for (const char* bad : {"", "1+", "(1", "1 ++ 2", "a", "1.", "()"}) EXPECT_FALSE(matches(kArithmetic, bad)) << bad;
}

TEST(Gbnf, RepetitionCountsAndUnicodeClasses) {
  const char* g = R"(root ::= [a-c]{2,3} "-" [α-ω]+ "." [^a-z\n]? [\x00-\x7F]{0,1})";
  EXPECT_TRUE(matches(g, "ab-β."));
  EXPECT_TRUE(matches(g, "abc-αω.Z"));
  EXPECT_TRUE(matches(g, "abc-αω.日~"));
  EXPECT_FALSE(matches(g, "a-β."));
  EXPECT_FALSE(matches(g, "abcc-β."));
  EXPECT_FALSE(matches(g, "ab-b."));
  EXPECT_FALSE(matches(g, "ab-β.qq"));
  EXPECT_TRUE(matches(R"(root ::= "\u00e9" "\x41" [\u0100-\U0001F600]{2})", "éAĀ😀"));
}

TEST(Gbnf, RulesSpanLinesAndGroupsNest) {
  const char* g = "root ::= a\n  | b c\n\na ::= \"x\" ( \"y\" | ( \"z\" ) )*\nb ::= \"b\"\nc ::= \"c\"";
  EXPECT_TRUE(matches(g, "xyzy"));
  EXPECT_TRUE(matches(g, "bc"));
  EXPECT_FALSE(matches(g, "xb"));
}

TEST(Gbnf, ErrorsSayWhatAndWhere) {
  EXPECT_NE(error_of("root ::= foo").find("'foo' is used in 'root' but never defined"), std::string::npos);
  EXPECT_NE(error_of("start ::= \"a\"").find("no 'root' rule"), std::string::npos);
  EXPECT_NE(error_of("root ::= root \"a\" | \"b\"").find("left-recursive (root -> root)"), std::string::npos);
  EXPECT_NE(error_of("root ::= x\nx ::= y? x \"a\" | \"b\"\ny ::= \"c\"").find("left-recursive"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"(\" root \")\"").find("can never finish"), std::string::npos);
  EXPECT_NE(error_of("root ::= a\na ::= \"x\" b\nb ::= \"y\" a").find("can never finish"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"\nroot ::= \"b\"").find("defined twice"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"abc").find("line 1, column 10: a string literal is not closed"), std::string::npos);
  EXPECT_NE(error_of("root ::= [a-").find("not closed"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"{2000}").find("over 1000"), std::string::npos);
  EXPECT_NE(error_of("root ::= [z-a]").find("ends before it starts"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"\n  ) \"b\"").find("unexpected ')'"), std::string::npos);
  std::string deep = "root ::= ";
  for (int i = 0; i < 100; ++i) deep += "(";
  EXPECT_NE(error_of(deep).find("nest deeper"), std::string::npos);
  Limits small;
  small.max_elements = 100;
  try {
    parse_gbnf("root ::= \"a\"{60} \"b\"{60}", small);
    ADD_FAILURE() << "no error for a grammar over the element limit";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than 100 elements"), std::string::npos) << e.what();
  }
}

TEST(Gbnf, LiteralsRoundTrip) {
  const std::string bytes = "quote\" back\\ nl\n tab\t bell\x07 é \xff";
  EXPECT_TRUE(matches("root ::= " + gbnf_literal(bytes), bytes));
}

std::string regex_matches_text(const std::string& pattern) { return "root ::= " + regex_to_gbnf(pattern); }

TEST(Regex, MatchesWholeStrings) {
  const std::string g = regex_to_gbnf("^[A-Z]{2}-\\d{3,4}(x|yz)?$");
  EXPECT_TRUE(matches("root ::= " + g, "AB-123"));
  EXPECT_TRUE(matches("root ::= " + g, "QQ-1234yz"));
  EXPECT_FALSE(matches("root ::= " + g, "AB-12"));
  EXPECT_FALSE(matches("root ::= " + g, "ab-123"));
  EXPECT_TRUE(matches(regex_matches_text("a.c\\.(?:d|e)+?\\s\\w*"), "abc.ded x_9"));
  EXPECT_FALSE(matches(regex_matches_text("a.c"), "a\nc"));
  EXPECT_TRUE(matches(regex_matches_text("[^0-9]+"), "é!"));
}

TEST(Regex, InsideAJsonStringQuotesAreEscaped) {
  // A literal quote is written as \" ; classes and '.' leave quotes and backslashes out.
  const std::string g = "root ::= \"\\\"\" " + regex_to_gbnf("a\"b.[^x]", true) + " \"\\\"\"";
  EXPECT_TRUE(matches(g, "\"a\\\"bcd\""));
  EXPECT_FALSE(matches(g, "\"a\"bcd\""));
  EXPECT_FALSE(matches(g, "\"a\\\"b\"d\""));
}

TEST(Regex, UnsupportedAndInvalidPatternsSaySo) {
  auto kind_and_text = [](const std::string& p) {
    try {
      regex_to_gbnf(p);
    } catch (const Error& e) {
      return std::make_pair(e.kind(), std::string(e.what()));
    }
    return std::make_pair(ErrorKind::Internal, std::string());
  };
  EXPECT_EQ(kind_and_text("a(?=b)").first, ErrorKind::Unsupported);
  EXPECT_NE(kind_and_text("(a)\\1").second.find("backreference"), std::string::npos);
  EXPECT_EQ(kind_and_text("(ab").first, ErrorKind::BadInput);
  EXPECT_NE(kind_and_text("[a-").second.find("not closed"), std::string::npos);
  EXPECT_NE(kind_and_text("*a").second.find("nothing to repeat"), std::string::npos);
  EXPECT_EQ(kind_and_text("a{3,1}").first, ErrorKind::BadInput);
}

}  // namespace
}  // namespace hayate::grammar
