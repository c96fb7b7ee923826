// A context-free grammar over bytes: what structured output (JSON Schema, GBNF, regex,
// json_object, tool calls) compiles to before a matcher walks it token by token (matcher.h).
//
// Every source is first written as GBNF text (llama.cpp's notation, which users of `grammar`
// know), then parsed here into one flat form: rules of alternatives, each alternative a run of
// elements closed by End, an element either a set of bytes or a reference to a rule. Unicode
// code-point classes become alternatives of UTF-8 byte sequences, so the matcher needs no UTF-8
// state and a token's bytes (which may split a character) are matched as they are.
//
// Parsing checks what would make a matcher loop or never finish, so each is a 400 naming the
// rule: a rule used but never defined, left recursion (also through rules that can match
// nothing), a rule that can never finish (recursion without a base case), and size limits.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hayate::grammar {

// 256 bits: which bytes an element matches.
struct ByteSet {
  std::array<uint64_t, 4> bits{};
  bool has(uint8_t b) const { return (bits[b >> 6] >> (b & 63)) & 1; }
  void add(uint8_t lo, uint8_t hi) {
    for (unsigned b = lo; b <= hi; ++b) bits[b >> 6] |= uint64_t{1} << (b & 63);
  }
  bool operator==(const ByteSet& o) const { return bits == o.bits; }
};

struct Element {
  enum Kind : uint8_t { Bytes, Rule, End } kind;
  int32_t index;  // Bytes: into Grammar::sets; Rule: into Grammar::rules; End: the rule it ends
};

struct Grammar {
  struct Rule {
    std::string name;
    std::vector<int32_t> alts;  // the position of each alternative's first element
  };
  std::vector<ByteSet> sets;
  std::vector<Element> elements;  // every alternative of every rule, each closed by End
  std::vector<int32_t> rule_of;   // the rule each element belongs to
  std::vector<Rule> rules;
  int32_t root = 0;
};

// What a grammar may cost; past any of them the compile is Error(BadInput) saying which.
struct Limits {
  size_t max_text_bytes = 1 << 20;  // GBNF text (a JSON schema's is generated from it)
  size_t max_elements = 200000;     // the flat grammar
  int32_t max_repeat = 1000;        // x{m,n}: m and n
  int32_t max_nesting = 64;         // parentheses
};

// Parses GBNF: `name ::= alternatives` rules ("root" is the start), '|' between alternatives,
// "literals" and [classes] (^ negates, a-b ranges) with \n \r \t \\ \" \] \xHH \uHHHH
// \UHHHHHHHH escapes, '.' (any character), ( groups ), postfix * + ? {m} {m,} {m,n}, # comments.
// Error(BadInput) with the line and column of what is wrong.
Grammar parse_gbnf(std::string_view text, const Limits& limits = {});

// A GBNF literal for bytes: "..." with quotes, backslashes and control bytes escaped.
std::string gbnf_literal(std::string_view bytes);

}  // namespace hayate::grammar
