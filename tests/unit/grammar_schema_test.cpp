// JSON Schema -> grammar: what each keyword allows, and the schemas that must be a 400 (or an
// unsupported-feature error naming the keyword) rather than silently ignored.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "grammar/grammar.h"
#include "grammar/matcher.h"
#include "grammar/sources.h"

namespace hayate::grammar {
namespace {

using ojson = nlohmann::ordered_json;

std::shared_ptr<const Vocabulary> byte_vocab() {
  auto v = std::make_shared<Vocabulary>();
  for (int b = 0; b < 256; ++b) v->tokens.push_back(std::string(1, static_cast<char>(b)));
  return v;
}

struct Schema {
  std::shared_ptr<const CompiledGrammar> g;
  explicit Schema(const char* text)
      : g(std::make_shared<const CompiledGrammar>(parse_gbnf(json_schema_to_gbnf(ojson::parse(text))), byte_vocab())) {}
  bool allows(const std::string& json) const {
    Matcher m(g);
    return m.accept_bytes(json) && m.can_end();
  }
};

std::pair<ErrorKind, std::string> error_of(const std::string& schema) {
  try {
    parse_gbnf(json_schema_to_gbnf(ojson::parse(schema)));
  } catch (const Error& e) {
    return {e.kind(), e.what()};
  }
  return {ErrorKind::Internal, "no error"};
}

TEST(JsonSchema, ObjectsFollowPropertiesAndRequired) {
  const Schema s(R"({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"},
                     "c": {"type": "boolean"}}, "required": ["b"], "additionalProperties": false})");
  EXPECT_TRUE(s.allows(R"({"b":"x"})"));
  EXPECT_TRUE(s.allows(R"({"a": 1, "b": "x", "c": true})"));
  EXPECT_TRUE(s.allows(R"({ "b" : "x" , "c" : false })"));
  EXPECT_FALSE(s.allows(R"({"a": 1})"));
  EXPECT_FALSE(s.allows(R"({"a": 1,, "b": "x"})"));
  EXPECT_FALSE(s.allows(R"({"b": "x", "d": 1})"));
  EXPECT_FALSE(s.allows(R"({"b": 1})"));
}

TEST(JsonSchema, EnumsConstArraysAndRefs) {
  const Schema s(R"({"$defs": {"node": {"type": "object", "properties": {"v": {"enum": ["x", 2, null]},
      "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2}}, "required": ["v"]}},
      "type": "array", "items": {"anyOf": [{"$ref": "#/$defs/node"}, {"const": {"k": [1]}}]},
      "minItems": 1, "maxItems": 3})");
  EXPECT_TRUE(s.allows(R"([{"v":"x"}])"));
  EXPECT_TRUE(s.allows(R"([{"v":2,"kids":[{"v":null},{"v":"x","kids":[]}]},{"k":[1]}])"));
  EXPECT_FALSE(s.allows("[]"));
  EXPECT_FALSE(s.allows(R"([{"v":3}])"));
  EXPECT_FALSE(s.allows(R"([{"v":"x"},{"v":"x"},{"v":"x"},{"v":"x"}])"));
  EXPECT_FALSE(s.allows(R"([{"v":2,"kids":[{"v":null},{"v":null},{"v":null}]}])"));
}

TEST(JsonSchema, StringLengthsFormatsAndPatterns) {
  const Schema len(R"({"type": "string", "minLength": 2, "maxLength": 3})");
  EXPECT_TRUE(len.allows(R"("ab")"));
  EXPECT_TRUE(len.allows(R"("a\n日")"));
  EXPECT_FALSE(len.allows(R"("a")"));
  EXPECT_FALSE(len.allows(R"("abcd")"));
  const Schema date(R"({"type": "string", "format": "date"})");
  EXPECT_TRUE(date.allows(R"("2024-02-28")"));
  EXPECT_FALSE(date.allows(R"("2024-13-01")"));
  const Schema pattern(R"({"type": "string", "pattern": "^[a-z]+-[0-9]{2}$"})");
  EXPECT_TRUE(pattern.allows(R"("ab-12")"));
  EXPECT_FALSE(pattern.allows(R"("ab-1")"));
}

TEST(JsonSchema, IntegerRangesAreExact) {
  for (const auto& [lo, hi] : std::vector<std::pair<int, int>>{{-15, 123}, {0, 9}, {7, 7}, {-130, -12}, {95, 1005}}) {
    const std::string text = ojson{{"type", "integer"}, {"minimum", lo}, {"maximum", hi}}.dump();
    const Schema s(text.c_str());
    for (int v = lo - 30; v <= hi + 30; ++v) EXPECT_EQ(s.allows(std::to_string(v)), v >= lo && v <= hi) << text << v;
    EXPECT_FALSE(s.allows("007"));
  }
  const Schema open(R"({"type": "integer", "exclusiveMinimum": 9})");
  EXPECT_FALSE(open.allows("9"));
  EXPECT_TRUE(open.allows("10"));
  EXPECT_TRUE(open.allows("123456789"));
  EXPECT_FALSE(open.allows("-1"));
}

TEST(JsonSchema, UnsupportedFeaturesAreNamed) {
  for (const auto& [schema, keyword] : std::vector<std::pair<const char*, const char*>>{
           {R"({"type": "object", "patternProperties": {"a": {}}})", "'patternProperties'"},
           {R"({"not": {"type": "string"}})", "'not'"},
           {R"({"type": "array", "uniqueItems": true})", "'uniqueItems': true"},
           {R"({"type": "string", "format": "hostname"})", "format '\"hostname\"'"},
           {R"({"type": "number", "maximum": 3})", "bounds on a 'number'"},
           {R"({"allOf": [{"type": "string"}, {"maxLength": 3}]})", "'allOf'"},
           {R"({"$ref": "https://example.com/s.json"})", "the $ref"}}) {
    const auto [kind, what] = error_of(schema);
    EXPECT_EQ(kind, ErrorKind::Unsupported) << schema << ": " << what;
    EXPECT_NE(what.find(keyword), std::string::npos) << what;
    EXPECT_NE(what.find("is not supported"), std::string::npos) << what;
  }
}

TEST(JsonSchema, BadSchemasAreBadInput) {
  // Recursion without a base case: a node must hold a node.
  auto [kind, what] = error_of(R"({"$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}},
      "required": ["next"]}}, "$ref": "#/$defs/n"})");
  EXPECT_EQ(kind, ErrorKind::BadInput);
  EXPECT_NE(what.find("can never finish"), std::string::npos) << what;
  std::tie(kind, what) = error_of(R"({"type": "string", "pattern": "(ab"})");
  EXPECT_EQ(kind, ErrorKind::BadInput);
  EXPECT_NE(what.find("regex"), std::string::npos) << what;
  std::tie(kind, what) = error_of(R"({"$ref": "#/$defs/missing"})");
  EXPECT_NE(what.find("points at nothing"), std::string::npos) << what;
  std::tie(kind, what) = error_of(R"({"type": "string", "minLength": 5, "maxLength": 2})");
  EXPECT_NE(what.find("below"), std::string::npos) << what;

  // 10 MB of schema is refused before any work.
  ojson big = {{"type", "object"}, {"properties", ojson::object()}};
  for (int i = 0; i < 1000; ++i)
    big["properties"][std::to_string(i)] = {{"type", "string"}, {"description", std::string(10'000, 'd')}};
  ASSERT_GT(big.dump().size(), 10'000'000u);
  try {
    json_schema_to_gbnf(big);
    ADD_FAILURE() << "a 10 MB schema compiled";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("over the limit"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hayate::grammar
