// The matcher's masks against brute force (every token tried on a copy of the state), and
// random walks under grammars from every source that always end in text the grammar accepts.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "grammar/grammar.h"
#include "grammar/matcher.h"
#include "grammar/sources.h"

namespace hayate::grammar {
namespace {

// Single bytes, JSON-ish pieces, pieces that cross rule ends ("\",\"", "]}"), split UTF-8, and
// random strings over JSON's characters; id 0 is the end of generation, id 1 a control token.
std::shared_ptr<const Vocabulary> test_vocab() {
  auto v = std::make_shared<Vocabulary>();
  v->tokens = {"", ""};
  v->end_ids = {0};
  for (int b = 1; b < 256; ++b) v->tokens.push_back(std::string(1, static_cast<char>(b)));
  for (const char* t :
       {"{\"", "\":", "\":\"", "\",\"", "\"}", "]}",   "}]",   "},{", "true", "false", "null", "12",   "3.",
        "e+",  "ab",  "\\n",   "\\u00", " \"", "\xc3", "\xa9", "é",   "日本", ", ",    "\n  ", "name", "\"name\"",
        "-1",  "0.5", "1e",    "[\"",   "\"]", "(1",   "+2)",  "*3",  "a,b",  ",\n",   "x\"y", "\"\"", "\\\""})
    v->tokens.push_back(t);
  std::mt19937 rng(7);
  const std::string alphabet = "{}[]\":,ab1230.-e \\n";
  for (int i = 0; i < 400; ++i) {
    std::string t;
    const int len = 2 + static_cast<int>(rng() % 5);
    for (int k = 0; k < len; ++k) t += alphabet[rng() % alphabet.size()];
    v->tokens.push_back(t);
  }
  return v;
}

std::vector<uint64_t> brute_force(const Matcher& m, const Vocabulary& v) {
  std::vector<uint64_t> bits((v.tokens.size() + 63) / 64, 0);
  for (size_t id = 0; id < v.tokens.size(); ++id) {
    Matcher copy = m;
    if (copy.accept(static_cast<int32_t>(id))) bits[id / 64] |= uint64_t{1} << (id % 64);
  }
  return bits;
}

// Walks the grammar with random allowed tokens, checking each mask against brute force, until
// it ends (or max_steps); returns the text.
std::string walk(const std::shared_ptr<const CompiledGrammar>& g, uint32_t seed, int max_steps, bool check) {
  std::mt19937 rng(seed);
  Matcher m(g);
  std::string text;
  std::vector<uint64_t> bits;
  for (int step = 0; step < max_steps && !m.done(); ++step) {
    m.fill_allowed(bits);
    if (check) {
      EXPECT_EQ(bits, brute_force(m, g->vocab())) << "step " << step << " after '" << text << "'";
    }
    std::vector<int32_t> allowed;
    for (size_t id = 0; id < g->vocab().tokens.size(); ++id)
      if ((bits[id / 64] >> (id % 64)) & 1) allowed.push_back(static_cast<int32_t>(id));
    if (allowed.empty()) {
      ADD_FAILURE() << "no token allowed after '" << text << "'";
      break;
    }
    // Prefer continuing over ending, so that walks explore.
    int32_t id = allowed[rng() % allowed.size()];
    if (id == 0 && allowed.size() > 1 && rng() % 4) id = allowed[1 + rng() % (allowed.size() - 1)];
    EXPECT_TRUE(m.accept(id));
    if (id == 0) break;
    text += g->vocab().tokens[static_cast<size_t>(id)];
  }
  return text;
}

std::shared_ptr<const CompiledGrammar> compile(const std::string& gbnf) {
  return std::make_shared<const CompiledGrammar>(parse_gbnf(gbnf), test_vocab());
}

bool full_match(const std::shared_ptr<const CompiledGrammar>& g, const std::string& text) {
  Matcher m(g);
  return m.accept_bytes(text) && m.can_end();
}

TEST(Matcher, MasksEqualBruteForceUnderJsonSchemas) {
  const auto schema = nlohmann::ordered_json::parse(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string", "maxLength": 6},
      "tags": {"type": "array", "items": {"enum": ["a", "b,c", 12]}, "maxItems": 3},
      "n": {"type": "integer", "minimum": -5, "maximum": 120},
      "sub": {"type": "object", "properties": {"x": {"type": "number"}, "ok": {"type": "boolean"}}, "required": ["ok"]}
    },
    "required": ["name", "sub"]
  })");
  const auto g = compile(json_schema_to_gbnf(schema));
  for (uint32_t seed = 0; seed < 12; ++seed) {
    const std::string text = walk(g, seed, 200, true);
    if (!full_match(g, text)) continue;  // the walk ran out of steps
    const auto j = nlohmann::ordered_json::parse(text);
    ASSERT_TRUE(j.contains("name") && j["name"].is_string()) << text;
    size_t chars = 0;
    for (unsigned char c : j["name"].get<std::string>()) chars += (c & 0xC0) != 0x80;
    EXPECT_LE(chars, 6u) << text;
    EXPECT_EQ(j.begin().key(), "name") << "properties in the schema's order: " << text;
    EXPECT_TRUE(j["sub"].contains("ok")) << text;
    if (j.contains("n")) {
      EXPECT_TRUE(j["n"].get<int>() >= -5 && j["n"].get<int>() <= 120) << text;
    }
  }
}

TEST(Matcher, MasksEqualBruteForceUnderGbnfAndJsonObject) {
  const char* arithmetic = "root ::= expr\nexpr ::= term ([-+*/] term)*\nterm ::= [0-9]+ | \"(\" expr \")\"";
  for (const std::string& gbnf :
       {std::string(arithmetic), json_object_gbnf(), "root ::= " + regex_to_gbnf("[a-c]{1,3}(,[0-9]+)*")}) {
    const auto g = compile(gbnf);
    for (uint32_t seed = 0; seed < 6; ++seed) walk(g, seed, 60, true);
  }
}

TEST(Matcher, EndsOnlyWhereTheGrammarMay) {
  const auto g = compile("root ::= \"ab\" \"c\"?");
  Matcher m(g);
  std::vector<uint64_t> bits;
  m.fill_allowed(bits);
  EXPECT_FALSE(bits[0] & 1) << "the end token before anything was written";
  EXPECT_FALSE(m.accept(0));
  EXPECT_TRUE(m.accept_bytes("ab"));
  EXPECT_TRUE(m.can_end());
  EXPECT_FALSE(m.done());
  m.fill_allowed(bits);
  EXPECT_TRUE(bits[0] & 1);
  EXPECT_FALSE(bits[0] & 2) << "control tokens (no bytes) are never allowed";
  EXPECT_TRUE(m.accept_bytes("c"));
  EXPECT_TRUE(m.done());
  EXPECT_FALSE(m.accept_bytes("c"));
}

TEST(Matcher, MaskSetsForbiddenLogitsToMinusInfinity) {
  const auto g = compile("root ::= \"x\"");
  Matcher m(g);
  std::vector<float> logits(g->vocab().tokens.size() + 3, 1.0f);
  m.mask(logits);
  int allowed = 0;
  for (size_t i = 0; i < logits.size(); ++i)
    if (logits[i] == 1.0f) {
      ++allowed;
      EXPECT_EQ(g->vocab().tokens[i], "x");
    }
  EXPECT_EQ(allowed, 1);
}

TEST(Matcher, CompileWorkIsBounded) {
  CompileLimits tight;
  tight.max_steps = 1000;
  try {
    CompiledGrammar(parse_gbnf(json_object_gbnf()), test_vocab(), tight);
    ADD_FAILURE() << "no error past the step limit";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("more than 1000 steps"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hayate::grammar
