// Regular expressions -> GBNF expressions, by recursive descent over the pattern.
#include <cstdio>

#include "core/error.h"
#include "grammar/grammar.h"
#include "grammar/rules.h"
#include "grammar/sources.h"

namespace hayate::grammar {
namespace {

constexpr int kMaxNesting = 64;
constexpr int kMaxCount = 1000;

class RegexReader {
 public:
  RegexReader(std::string_view p, bool json) : p_(p), json_(json) {}

  std::string read() {
    if (i_ < p_.size() && p_[i_] == '^') ++i_;
    std::string out = alternation(0);
    if (i_ < p_.size()) error("unexpected ')'");
    return out;
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail(ErrorKind::BadInput, "regex: " + what + " (at offset " + std::to_string(i_) + " of the pattern)");
  }
  [[noreturn]] void unsupported(const std::string& what) const {
    fail(ErrorKind::Unsupported,
         "regex: " + what + " is not supported (at offset " + std::to_string(i_) + " of the pattern)");
  }

  bool at_end_anchor() const { return i_ + 1 == p_.size() && p_[i_] == '$'; }

  std::string alternation(int depth) {
    std::vector<std::string> alts{concatenation(depth)};
    while (i_ < p_.size() && p_[i_] == '|') {
      ++i_;
      alts.push_back(concatenation(depth));
    }
    if (alts.size() == 1) return alts[0];
    std::string out = "(";
    for (size_t k = 0; k < alts.size(); ++k) out += (k ? " | " : "") + alts[k];
    return out + ")";
  }

  std::string concatenation(int depth) {
    std::string out;
    while (i_ < p_.size() && p_[i_] != '|' && p_[i_] != ')') {
      if (at_end_anchor()) {
        ++i_;
        break;
      }
      std::string item = quantified(atom(depth));
      if (!item.empty()) out += (out.empty() ? "" : " ") + item;
    }
    return out.empty() ? "\"\"" : out;
  }

  int count() {
    const size_t start = i_;
    int v = 0;
    while (i_ < p_.size() && p_[i_] >= '0' && p_[i_] <= '9') {
      v = v * 10 + (p_[i_++] - '0');
      if (v > kMaxCount) error("a repetition count is over " + std::to_string(kMaxCount));
    }
    if (i_ == start) error("expected a number in {m,n}");
    return v;
  }

  std::string quantified(std::string atom) {
    while (i_ < p_.size()) {
      const char c = p_[i_];
      std::string q;
      if (c == '*' || c == '+' || c == '?') {
        q = c;
        ++i_;
      } else if (c == '{') {
        ++i_;
        const int lo = count();
        int hi = lo;
        bool open = false;
        if (i_ < p_.size() && p_[i_] == ',') {
          ++i_;
          if (i_ < p_.size() && p_[i_] == '}')
            open = true;
          else
            hi = count();
        }
        if (i_ >= p_.size() || p_[i_] != '}') error("a '{' repetition is not closed");
        ++i_;
        if (!open && hi < lo) error("{m,n} with n below m");
        q = "{";
        q += std::to_string(lo);
        if (open) q += ",";
        if (!open && hi != lo) {
          q += ',';
          q += std::to_string(hi);
        }
        q += "}";
      } else {
        break;
      }
      // Lazy quantifiers match the same strings; possessive ones are another matter.
      if (i_ < p_.size() && p_[i_] == '?') ++i_;
      if (i_ < p_.size() && p_[i_] == '+') unsupported("a possessive quantifier");
      atom = "(" + atom + ")" + q;
    }
    return atom;
  }

  uint32_t read_utf8() {
    const auto c = static_cast<unsigned char>(p_[i_]);
    const size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (len == 0 || i_ + len > p_.size()) error("the pattern is not valid UTF-8");
    uint32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(p_[i_ + k]) & 0x3F);
    i_ += len;
    return cp;
  }

  uint32_t hex(int digits) {
    if (i_ + static_cast<size_t>(digits) > p_.size())
      error("an escape needs " + std::to_string(digits) + " hex digits");
    uint32_t v = 0;
    for (int d = 0; d < digits; ++d) {
      const char c = p_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= uint32_t(c - 'A' + 10);
      else
        error("bad hex digit");
    }
    return v;
  }

  // An escape after '\': a class (\d ...) into `ranges` and true, or one character.
  bool escape(Ranges& ranges, uint32_t& cp) {
    if (i_ >= p_.size()) error("the pattern ends with a backslash");
    const char e = p_[i_++];
    const Ranges digit{{'0', '9'}}, word{{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}},
        space{{'\t', '\r'}, {' ', ' '}, {0xA0, 0xA0}, {0x2028, 0x2029}, {0xFEFF, 0xFEFF}};
    switch (e) {
      case 'd':
        ranges = digit;
        return true;
      case 'w':
        ranges = word;
        return true;
      case 's':
        ranges = space;
        return true;
      case 'D':
        ranges = complement(digit);
        return true;
      case 'W':
        ranges = complement(word);
        return true;
      case 'S':
        ranges = complement(space);
        return true;
      case 'n':
        cp = '\n';
        return false;
      case 'r':
        cp = '\r';
        return false;
      case 't':
        cp = '\t';
        return false;
      case 'f':
        cp = '\f';
        return false;
      case 'v':
        cp = '\v';
        return false;
      case '0':
        cp = 0;
        return false;
      case 'x':
        cp = hex(2);
        return false;
      case 'u':
        cp = hex(4);
        return false;
      case 'b':
      case 'B':
        unsupported("a word boundary (\\b, \\B)");
      default:
        if (e >= '1' && e <= '9') unsupported("a backreference");
        if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) unsupported(std::string("the escape \\") + e);
        --i_;
        cp = read_utf8();
        return false;
    }
  }

  // In a JSON string, the characters that must be escaped are left out of classes.
  Ranges json_safe(const Ranges& r) const {
    if (!json_) return r;
    Ranges out;
    for (const Range& x : r) {
      uint32_t lo = std::max<uint32_t>(x.lo, 0x20);
      for (uint32_t cut : {uint32_t('"'), uint32_t('\\')}) {
        if (lo <= cut && x.hi >= cut) {
          if (lo < cut) out.push_back({lo, cut - 1});
          lo = cut + 1;
        }
      }
      if (lo <= x.hi) out.push_back({lo, x.hi});
    }
    return out;
  }

  std::string class_text(const Ranges& r) const {
    const Ranges safe = json_safe(r);
    if (safe.empty())
      error("a class that matches nothing" + std::string(json_ ? " a JSON string can hold unescaped" : ""));
    std::string out = "[";
    char buf[16];
    for (const Range& x : safe) {
      std::snprintf(buf, sizeof buf, "\\U%08X", x.lo);
      out += buf;
      if (x.hi != x.lo) {
        std::snprintf(buf, sizeof buf, "-\\U%08X", x.hi);
        out += buf;
      }
    }
    return out + "]";
  }

  std::string literal(uint32_t cp) const {
    std::string bytes;
    if (json_ && (cp < 0x20 || cp == '"' || cp == '\\')) {
      // The JSON escape that stands for the character.
      if (cp == '"' || cp == '\\') {
        bytes = {'\\', static_cast<char>(cp)};
      } else {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", cp);
        bytes = buf;
      }
    } else if (!append_utf8(bytes, cp)) {
      error("a code point that is not a character");
    }
    return gbnf_literal(bytes);
  }

  std::string char_class() {
    ++i_;  // '['
    bool negate = false;
    if (i_ < p_.size() && p_[i_] == '^') {
      negate = true;
      ++i_;
    }
    Ranges ranges;
    bool first = true;
    while (true) {
      if (i_ >= p_.size()) error("a class is not closed");
      if (p_[i_] == ']' && !first) break;
      first = false;
      uint32_t lo;
      Ranges sub;
      if (p_[i_] == '\\') {
        ++i_;
        if (escape(sub, lo)) {
          ranges.insert(ranges.end(), sub.begin(), sub.end());
          continue;
        }
      } else {
        lo = read_utf8();
      }
      uint32_t hi = lo;
      if (i_ + 1 < p_.size() && p_[i_] == '-' && p_[i_ + 1] != ']') {
        ++i_;
        if (p_[i_] == '\\') {
          ++i_;
          if (escape(sub, hi)) error("a class range ends in a class escape");
        } else {
          hi = read_utf8();
        }
        if (hi < lo) error("a class range ends before it starts");
      }
      ranges.push_back({lo, hi});
    }
    ++i_;
    return class_text(negate ? complement(ranges) : ranges);
  }

  std::string atom(int depth) {
    const char c = p_[i_];
    if (c == '(') {
      if (depth >= kMaxNesting) error("groups nest deeper than " + std::to_string(kMaxNesting));
      ++i_;
      if (i_ < p_.size() && p_[i_] == '?') {
        ++i_;
        if (i_ < p_.size() && p_[i_] == ':') {
          ++i_;
        } else if (i_ < p_.size() && (p_[i_] == '<' || p_[i_] == 'P') && i_ + 1 < p_.size() && p_[i_ + 1] != '=' &&
                   p_[i_ + 1] != '!') {
          while (i_ < p_.size() && p_[i_] != '>') ++i_;  // a named group is a group
          if (i_ >= p_.size()) error("a group name is not closed");
          ++i_;
        } else {
          unsupported("lookaround and inline flags ((?=, (?!, (?<=, (?<!, (?i)");
        }
      }
      std::string inner = alternation(depth + 1);
      if (i_ >= p_.size() || p_[i_] != ')') error("a '(' is not closed");
      ++i_;
      return "(" + inner + ")";
    }
    if (c == '[') return char_class();
    if (c == '.') {
      ++i_;
      return class_text(complement({{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}}));
    }
    if (c == '^') unsupported("'^' other than at the start");
    if (c == '$') unsupported("'$' other than at the end");
    if (c == '*' || c == '+' || c == '?' || c == '{') error(std::string("nothing to repeat before '") + c + "'");
    if (c == '\\') {
      ++i_;
      Ranges r;
      uint32_t cp;
      if (escape(r, cp)) return class_text(r);
      return literal(cp);
    }
    return literal(read_utf8());
  }

  std::string_view p_;
  bool json_;
  size_t i_ = 0;
};

}  // namespace

std::string regex_to_gbnf(std::string_view pattern, bool in_json_string) {
  if (pattern.size() > 65536) fail(ErrorKind::BadInput, "regex: the pattern is over 64 KiB");
  return RegexReader(pattern, in_json_string).read();
}

}  // namespace hayate::grammar
