// The grammar while it is being built (by the GBNF parser): named rules of alternatives of
// items, code-point classes turned into UTF-8 byte sequences, repetition into helper rules.
// build() checks it and lays it out flat (grammar.h). Internal to grammar/.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "grammar/grammar.h"

namespace hayate::grammar {

struct Item {
  bool is_ref;
  int32_t index;  // a rule (is_ref) or a byte set; -1: a class that matches nothing
};
using Seq = std::vector<Item>;

struct Range {
  uint32_t lo, hi;  // code points, inclusive
};
using Ranges = std::vector<Range>;

// Appends cp as UTF-8; false (nothing appended) for a surrogate or a value above U+10FFFF.
bool append_utf8(std::string& out, uint32_t cp);
// The code points (surrogates excluded) that `ranges` does not hold.
Ranges complement(const Ranges& ranges);

struct RuleSet {
  std::vector<std::string> names;
  std::vector<std::vector<Seq>> alts;
  std::vector<bool> defined;
  std::unordered_map<std::string, int32_t> by_name;
  std::vector<ByteSet> sets;
  std::map<std::array<uint64_t, 4>, int32_t> set_ids;
  std::map<std::vector<uint32_t>, int32_t> class_rules;  // one rule per distinct class
  size_t n_items = 0;
  int32_t n_helpers = 0;

  int32_t id(const std::string& name);      // the rule of that name, declared if new
  int32_t helper(const std::string& base);  // a new, defined rule "base-N"
  void define(int32_t rule, std::vector<Seq> alternatives);
  Item byte_item(uint8_t lo, uint8_t hi);
  // One item matching any of the code points and raw bytes (a byte set when all are single
  // bytes, else a rule of UTF-8 sequences); index -1 when it matches nothing.
  Item class_item(Ranges ranges, const std::vector<std::pair<uint8_t, uint8_t>>& raw_bytes);
  // x{lo,hi} (hi < 0: unbounded) as an item sequence, nested optionals for the bounded part so
  // that a string has one parse.
  Seq repeat(Seq x, int32_t lo, int32_t hi, const std::string& rule);
  void check_size(const Limits& limits) const;
  void inline_leading_refs();

  // Checks (every rule defined, a root, no left recursion, every rule able to finish) and
  // lays the rules reachable from root out flat.
  Grammar build(const Limits& limits);
};

}  // namespace hayate::grammar
