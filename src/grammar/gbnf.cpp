// GBNF text -> rules of code-point items -> the flat byte grammar (grammar.h), then the checks
// (check.cpp).
#include <algorithm>
#include <map>
#include <unordered_map>

#include "core/error.h"
#include "grammar/grammar.h"
#include "grammar/rules.h"

namespace hayate::grammar {
namespace {

class Parser {
 public:
  Parser(std::string_view text, const Limits& limits) : s_(text), limits_(limits) {}

  RuleSet parse() {
    if (s_.size() > limits_.max_text_bytes)
      fail(ErrorKind::BadInput, "grammar: the text is " + std::to_string(s_.size()) + " bytes, over the limit of " +
                                    std::to_string(limits_.max_text_bytes));
    skip_space();
    while (i_ < s_.size()) {
      const size_t at = i_;
      if (s_[i_] == ')') error(at, "unexpected ')'");
      const std::string name = read_name();
      if (name.empty()) error(at, "expected a rule name");
      skip_space();
      if (s_.substr(i_, 3) != "::=") error(i_, "expected '::=' after the rule name '" + name + "'");
      i_ += 3;
      const int32_t id = rules_.id(name);
      if (rules_.defined[id]) error(at, "rule '" + name + "' is defined twice");
      rules_.defined[id] = true;
      rules_.define(id, alternatives(name, 0));
      skip_space();
    }
    return std::move(rules_);
  }

 private:
  [[noreturn]] void error(size_t at, const std::string& what) const {
    size_t line = 1, col = 1;
    for (size_t k = 0; k < at && k < s_.size(); ++k) {
      if (s_[k] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    fail(ErrorKind::BadInput,
         "grammar: line " + std::to_string(line) + ", column " + std::to_string(col) + ": " + what);
  }

  void skip_space() {
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '#') {
        while (i_ < s_.size() && s_[i_] != '\n') ++i_;
      } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++i_;
      } else {
        break;
      }
    }
  }

  static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  }

  std::string read_name() {
    const size_t start = i_;
    while (i_ < s_.size() && name_char(s_[i_])) ++i_;
    return std::string(s_.substr(start, i_ - start));
  }

  // A name followed by '::=' starts the next rule.
  bool at_rule_start() const {
    size_t k = i_;
    while (k < s_.size() && name_char(s_[k])) ++k;
    if (k == i_) return false;
    while (k < s_.size() && (s_[k] == ' ' || s_[k] == '\t' || s_[k] == '\n' || s_[k] == '\r')) ++k;
    return s_.substr(k, 3) == "::=";
  }

  int hex_value(size_t at, int digits) {
    if (i_ + digits > s_.size()) error(at, "a \\x, \\u or \\U escape needs " + std::to_string(digits) + " hex digits");
    uint32_t v = 0;
    for (int d = 0; d < digits; ++d) {
      const char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<uint32_t>(c - 'A' + 10);
      else
        error(i_ - 1, std::string("'") + c + "' is not a hex digit");
    }
    return static_cast<int>(v);
  }

  // One character of a literal or class: a code point, or a raw byte for \xHH (so that
  // grammars can match bytes that are not UTF-8 on their own). Returns the code point; sets
  // raw_byte for \x.
  uint32_t read_char(bool& raw_byte) {
    raw_byte = false;
    const size_t at = i_;
    if (i_ >= s_.size()) error(at, "unexpected end of the grammar");
    const auto c = static_cast<unsigned char>(s_[i_]);
    if (c == '\\') {
      if (++i_ >= s_.size()) error(at, "a backslash ends the grammar");
      const char e = s_[i_++];
      switch (e) {
        case 'n':
          return '\n';
        case 'r':
          return '\r';
        case 't':
          return '\t';
        case 'x':
          raw_byte = true;
          return static_cast<uint32_t>(hex_value(at, 2));
        case 'u':
          return static_cast<uint32_t>(hex_value(at, 4));
        case 'U':
          return static_cast<uint32_t>(hex_value(at, 8));
        case '\\':
        case '"':
        case '[':
        case ']':
        case '-':
        case '^':
        case '/':
        case '\'':
        case '.':
          return static_cast<uint32_t>(e);
        default:
          error(at, std::string("unknown escape '\\") + e + "'");
      }
    }
    // A UTF-8 character.
    size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (len == 0 || i_ + len > s_.size()) error(at, "the grammar is not valid UTF-8");
    uint32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
    for (size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s_[i_ + k]);
      if ((b & 0xC0) != 0x80) error(at, "the grammar is not valid UTF-8");
      cp = (cp << 6) | (b & 0x3F);
    }
    i_ += len;
    return cp;
  }

  Seq literal() {
    const size_t at = i_;
    ++i_;  // the opening quote
    std::string bytes;
    while (true) {
      if (i_ >= s_.size()) error(at, "a string literal is not closed");
      if (s_[i_] == '"') break;
      bool raw = false;
      const uint32_t cp = read_char(raw);
      if (raw)
        bytes += static_cast<char>(cp);
      else if (!append_utf8(bytes, cp))
        error(at, "code point " + std::to_string(cp) + " in a literal is not a Unicode scalar value");
    }
    ++i_;
    Seq seq;
    for (unsigned char b : bytes) seq.push_back(rules_.byte_item(b, b));
    return seq;
  }

  Seq char_class() {
    const size_t at = i_;
    ++i_;  // '['
    bool negate = false;
    if (i_ < s_.size() && s_[i_] == '^') {
      negate = true;
      ++i_;
    }
    Ranges ranges;
    std::vector<std::pair<uint8_t, uint8_t>> raw_bytes;
    bool first = true;
    while (true) {
      if (i_ >= s_.size()) error(at, "a character class is not closed");
      if (s_[i_] == ']' && !first) break;
      first = false;
      bool raw_lo = false, raw_hi = false;
      const uint32_t lo = read_char(raw_lo);
      uint32_t hi = lo;
      if (i_ + 1 < s_.size() && s_[i_] == '-' && s_[i_ + 1] != ']') {
        ++i_;
        hi = read_char(raw_hi);
        if (raw_hi != raw_lo) error(at, "a class range mixes a \\x byte with a character");
      }
      if (hi < lo) error(at, "a class range ends before it starts");
      if (raw_lo) {
        if (negate && lo >= 0x80) error(at, "a negated class cannot hold \\x bytes above \\x7F");
        if (lo < 0x80 && hi < 0x80)
          ranges.push_back({lo, hi});
        else
          raw_bytes.emplace_back(static_cast<uint8_t>(lo), static_cast<uint8_t>(hi));
      } else {
        if (hi > 0x10FFFF) error(at, "a code point above U+10FFFF");
        ranges.push_back({lo, hi});
      }
    }
    ++i_;
    if (negate) ranges = complement(ranges);
    Seq out{rules_.class_item(ranges, raw_bytes)};
    if (out[0].index < 0) error(at, "the character class matches nothing");
    return out;
  }

  Seq primary(const std::string& rule, int depth) {
    const size_t at = i_;
    const char c = s_[i_];
    if (c == '"') return literal();
    if (c == '[') return char_class();
    if (c == '.') {
      ++i_;
      return {rules_.class_item({{0, 0x10FFFF}}, {})};
    }
    if (c == '(') {
      if (depth >= limits_.max_nesting)
        error(at, "parentheses nest deeper than " + std::to_string(limits_.max_nesting));
      ++i_;
      const int32_t group = rules_.helper(rule);
      rules_.define(group, alternatives(rule, depth + 1));
      skip_space();
      if (i_ >= s_.size() || s_[i_] != ')') error(at, "a '(' is not closed");
      ++i_;
      return {Item{true, group}};
    }
    if (name_char(c)) {
      const std::string name = read_name();
      return {Item{true, rules_.id(name)}};
    }
    error(at, std::string("unexpected '") + c + "'");
  }

  int32_t read_int(size_t at) {
    const size_t start = i_;
    int64_t v = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      v = v * 10 + (s_[i_++] - '0');
      if (v > limits_.max_repeat) error(at, "a repetition count is over " + std::to_string(limits_.max_repeat));
    }
    if (i_ == start) error(at, "expected a number in {m,n}");
    return static_cast<int32_t>(v);
  }

  // x followed by * + ? or {m,n}: rules of their own (repeat() in rules.cpp).
  Seq postfix(Seq x, const std::string& rule) {
    while (i_ < s_.size()) {
      const size_t at = i_;
      const char c = s_[i_];
      int32_t lo, hi;  // hi < 0: unbounded
      if (c == '*') {
        lo = 0, hi = -1;
        ++i_;
      } else if (c == '+') {
        lo = 1, hi = -1;
        ++i_;
      } else if (c == '?') {
        lo = 0, hi = 1;
        ++i_;
      } else if (c == '{') {
        ++i_;
        skip_space();
        lo = read_int(at);
        skip_space();
        hi = lo;
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
          skip_space();
          hi = (i_ < s_.size() && s_[i_] == '}') ? -1 : read_int(at);
          skip_space();
        }
        if (i_ >= s_.size() || s_[i_] != '}') error(at, "a '{' repetition is not closed");
        ++i_;
        if (hi >= 0 && hi < lo) error(at, "{m,n} with n below m");
      } else {
        break;
      }
      x = rules_.repeat(x, lo, hi, rule);
    }
    return x;
  }

  std::vector<Seq> alternatives(const std::string& rule, int depth) {
    std::vector<Seq> alts;
    alts.push_back(sequence(rule, depth));
    while (true) {
      skip_space();
      if (i_ < s_.size() && s_[i_] == '|') {
        ++i_;
        alts.push_back(sequence(rule, depth));
      } else {
        break;
      }
    }
    return alts;
  }

  Seq sequence(const std::string& rule, int depth) {
    Seq seq;
    while (true) {
      skip_space();
      if (i_ >= s_.size()) break;
      const char c = s_[i_];
      if (c == '|' || c == ')') break;
      if (name_char(c) && at_rule_start()) break;
      Seq item = postfix(primary(rule, depth), rule);
      seq.insert(seq.end(), item.begin(), item.end());
      rules_.check_size(limits_);
    }
    return seq;
  }

  std::string_view s_;
  size_t i_ = 0;
  const Limits& limits_;
  RuleSet rules_;
};

}  // namespace

Grammar parse_gbnf(std::string_view text, const Limits& limits) {
  RuleSet rules = Parser(text, limits).parse();
  return rules.build(limits);
}

std::string gbnf_literal(std::string_view bytes) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out = "\"";
  for (unsigned char c : bytes) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c >= 0x7F) {  // bytes above 0x7F as raw bytes: exact even when not UTF-8
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace hayate::grammar
