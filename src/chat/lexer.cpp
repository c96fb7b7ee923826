#include "chat/lexer.h"

#include <cstdlib>

#include "chat/text.h"
#include "core/error.h"

namespace hayate::chat {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

bool only_whitespace(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); i = text::next_offset(s, i)) {
    if (!text::is_space(text::decode_at(s, i))) return false;
  }
  return true;
}

std::string rstrip_whitespace(std::string_view s) { return text::strip(s, std::nullopt, false, true); }

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  explicit Lexer(const Source& source) : src_(source), s_(source.text) {}

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < s_.size()) {
      const size_t tag = find_tag(pos_);
      std::string_view text = std::string_view(s_).substr(pos_, (tag == std::string::npos ? s_.size() : tag) - pos_);
      if (tag == std::string::npos) {
        emit_text(std::string(text), pos_);
        break;
      }
      const char kind = s_[tag + 1];  // '{', '%' or '#'
      const char sign = tag + 2 < s_.size() && (s_[tag + 2] == '-' || s_[tag + 2] == '+') ? s_[tag + 2] : 0;
      std::string kept(text);
      if (sign == '-') {
        kept = rstrip_whitespace(text);
      } else if (sign != '+' && kind != '{') {
        const size_t line_begin = text.rfind('\n') == std::string_view::npos ? 0 : text.rfind('\n') + 1;
        if ((line_begin > 0 || line_starting) && only_whitespace(text.substr(line_begin))) {
          kept = std::string(text.substr(0, line_begin));
        }
      }
      emit_text(std::move(kept), pos_);
      pos_ = tag + 2 + (sign ? 1 : 0);
      if (kind == '#') {
        line_starting = skip_comment(tag);
      } else if (kind == '%' && raw_begin()) {
        line_starting = read_raw(tag);
      } else {
        line_starting = read_tag(kind == '{', tag);
      }
    }
    tokens_.push_back(Token{Tok::Eof, "", 0, 0, s_.size()});
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t i = s_.find('{', from); i != std::string::npos && i + 1 < s_.size(); i = s_.find('{', i + 1)) {
      const char c = s_[i + 1];
      if (c == '{' || c == '%' || c == '#') return i;
    }
    return std::string::npos;
  }

  void emit_text(std::string text, size_t offset) {
    if (!text.empty()) tokens_.push_back(Token{Tok::Text, std::move(text), 0, 0, offset});
  }

  // Past Python's \s (Unicode whitespace) from p.
  size_t skip_space(size_t p) const {
    while (p < s_.size() && text::is_space(text::decode_at(s_, p))) p = text::next_offset(s_, p);
    return p;
  }

  // After a `%}` (or `#}`, `{% endraw %}`): `-` eats all following whitespace, `+` nothing, else
  // trim_blocks eats one newline. Returns whether the consumed end ends with a newline.
  bool block_end_suffix(char sign) {
    const size_t before = pos_;
    if (sign == '-') {
      pos_ = skip_space(pos_);
    } else if (sign != '+' && pos_ < s_.size() && s_[pos_] == '\n') {
      ++pos_;
    }
    if (pos_ > before) return s_[pos_ - 1] == '\n';
    return false;
  }

  bool skip_comment(size_t tag) {
    size_t end = s_.find("#}", pos_);
    if (end == std::string::npos) src_.fail_at(tag, "missing end of comment tag '#}'");
    const char sign = end > pos_ && (s_[end - 1] == '-' || s_[end - 1] == '+') ? s_[end - 1] : 0;
    pos_ = end + 2;
    return block_end_suffix(sign);
  }

  // `{%-? raw -?%}`: the begin tag, with no trim_blocks newline after it.
  bool raw_begin() {
    size_t p = skip_space(pos_);
    if (s_.compare(p, 3, "raw") != 0 || (p + 3 < s_.size() && is_name_char(s_[p + 3]))) return false;
    p = skip_space(p + 3);
    if (s_.compare(p, 3, "-%}") == 0) {
      pos_ = skip_space(p + 3);
      return true;
    }
    if (s_.compare(p, 2, "%}") == 0) {
      pos_ = p + 2;
      return true;
    }
    return false;
  }

  bool read_raw(size_t tag) {
    for (size_t at = s_.find("{%", pos_); at != std::string::npos; at = s_.find("{%", at + 1)) {
      size_t p = at + 2;
      const char sign = p < s_.size() && (s_[p] == '-' || s_[p] == '+') ? s_[p] : 0;
      if (sign) ++p;
      p = skip_space(p);
      if (s_.compare(p, 6, "endraw") != 0) continue;
      p = skip_space(p + 6);
      char end_sign = 0;
      if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) end_sign = s_[p++];
      if (s_.compare(p, 2, "%}") != 0) continue;
      std::string_view body = std::string_view(s_).substr(pos_, at - pos_);
      std::string kept(body);
      if (sign == '-') {
        kept = rstrip_whitespace(body);
      } else if (sign != '+') {
        const size_t line_begin = body.rfind('\n') == std::string_view::npos ? 0 : body.rfind('\n') + 1;
        if (line_begin > 0 && only_whitespace(body.substr(line_begin))) kept = std::string(body.substr(0, line_begin));
      }
      emit_text(std::move(kept), pos_);
      pos_ = p + 2;
      return block_end_suffix(end_sign);
    }
    src_.fail_at(tag, "missing end of raw directive ({% endraw %})");
  }

  bool read_tag(bool variable, size_t tag) {
    tokens_.push_back(Token{variable ? Tok::VarBegin : Tok::BlockBegin, "", 0, 0, tag});
    std::vector<char> brackets;
    while (true) {
      pos_ = skip_space(pos_);
      if (pos_ >= s_.size()) {
        src_.fail_at(tag, variable ? "unexpected end of template: '{{' has no '}}'"
                                   : "unexpected end of template: '{%' has no '%}'");
      }
      if (brackets.empty()) {
        const size_t at = pos_;
        if (variable && (s_.compare(pos_, 3, "-}}") == 0 || s_.compare(pos_, 2, "}}") == 0)) {
          const bool strip = s_[pos_] == '-';
          pos_ += strip ? 3 : 2;
          const size_t end = pos_;
          if (strip) pos_ = skip_space(pos_);
          tokens_.push_back(Token{Tok::VarEnd, "", 0, 0, at});
          return pos_ > end && s_[pos_ - 1] == '\n';
        }
        if (!variable && ((s_[pos_] == '-' || s_[pos_] == '+') && s_.compare(pos_ + 1, 2, "%}") == 0)) {
          const char sign = s_[pos_];
          pos_ += 3;
          tokens_.push_back(Token{Tok::BlockEnd, "", 0, 0, at});
          return block_end_suffix(sign);
        }
        if (!variable && s_.compare(pos_, 2, "%}") == 0) {
          pos_ += 2;
          tokens_.push_back(Token{Tok::BlockEnd, "", 0, 0, at});
          return block_end_suffix(0);
        }
      }
      read_token(brackets);
    }
  }

  void read_token(std::vector<char>& brackets) {
    const size_t start = pos_;
    const char c = s_[pos_];
    if (is_digit(c)) {
      read_number();
    } else if (is_name_start(c)) {
      while (pos_ < s_.size() && is_name_char(s_[pos_])) ++pos_;
      tokens_.push_back(Token{Tok::Name, s_.substr(start, pos_ - start), 0, 0, start});
    } else if (c == '\'' || c == '"') {
      read_string();
    } else {
      static const char* const kOps[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[",
                                         "]",  "(",  ")",  "{",  "}",  "<",  ">", "=", ".", ":", "|", ",", ";"};
      for (const char* op : kOps) {
        const std::string_view o(op);
        if (s_.compare(pos_, o.size(), o) != 0) continue;
        if (o == "(" || o == "[" || o == "{") {
          brackets.push_back(o == "(" ? ')' : o == "[" ? ']' : '}');
        } else if (o == ")" || o == "]" || o == "}") {
          if (brackets.empty()) src_.fail_at(start, "unexpected '" + std::string(o) + "'");
          if (brackets.back() != o[0]) {
            src_.fail_at(start, "unexpected '" + std::string(o) + "', expected '" + brackets.back() + "'");
          }
          brackets.pop_back();
        }
        pos_ += o.size();
        tokens_.push_back(Token{Tok::Op, std::string(o), 0, 0, start});
        return;
      }
      src_.fail_at(start, "unexpected character '" + std::string(1, c) + "'");
    }
  }

  // Digits with single underscores between them, as Python and Jinja allow ("1_000").
  size_t digit_run(size_t p, int base) const {
    auto ok = [&](char ch) { return hex_value(ch) >= 0 && hex_value(ch) < base; };
    if (p >= s_.size() || !ok(s_[p])) return p;
    ++p;
    while (p < s_.size()) {
      if (ok(s_[p])) {
        ++p;
      } else if (s_[p] == '_' && p + 1 < s_.size() && ok(s_[p + 1])) {
        p += 2;
      } else {
        break;
      }
    }
    return p;
  }

  static std::string without_underscores(std::string_view s) {
    std::string out;
    for (char ch : s) {
      if (ch != '_') out += ch;
    }
    return out;
  }

  void read_number() {
    const size_t start = pos_;
    const bool after_dot = start > 0 && s_[start - 1] == '.';
    // float: digits, then ".digits" and/or an exponent
    size_t p = digit_run(start, 10);
    size_t float_end = 0;
    if (!after_dot) {
      size_t q = p;
      if (q + 1 < s_.size() && s_[q] == '.' && is_digit(s_[q + 1])) q = digit_run(q + 1, 10);
      size_t e = q;
      if (e < s_.size() && (s_[e] == 'e' || s_[e] == 'E')) {
        size_t d = e + 1;
        if (d < s_.size() && (s_[d] == '+' || s_[d] == '-')) ++d;
        if (d < s_.size() && is_digit(s_[d])) q = digit_run(d, 10);
      }
      if (q > p) float_end = q;
    }
    if (float_end) {
      const std::string digits = without_underscores(std::string_view(s_).substr(start, float_end - start));
      tokens_.push_back(Token{Tok::Float, digits, 0, std::strtod(digits.c_str(), nullptr), start});
      pos_ = float_end;
      return;
    }
    int base = 10;
    size_t digits_at = start;
    if (s_[start] == '0' && start + 1 < s_.size()) {
      const char x = static_cast<char>(s_[start + 1] | 0x20);
      base = x == 'b' ? 2 : x == 'o' ? 8 : x == 'x' ? 16 : 10;
      if (base != 10) {
        digits_at = start + 2;
        if (digits_at < s_.size() && s_[digits_at] == '_') ++digits_at;
      }
    }
    size_t end;
    if (base != 10) {
      end = digit_run(digits_at, base);
      if (end == digits_at) {  // "0x" without digits is the integer 0 followed by a name
        end = start + 1;
        base = 10;
        digits_at = start;
      }
    } else if (s_[start] == '0') {
      end = start + 1;  // "0", "00", "0_0": a decimal may not start with 0
      while (end < s_.size() && (s_[end] == '0' || (s_[end] == '_' && end + 1 < s_.size() && s_[end + 1] == '0'))) {
        end += s_[end] == '_' ? 2 : 1;
      }
    } else {
      end = p;
    }
    const std::string digits = without_underscores(std::string_view(s_).substr(digits_at, end - digits_at));
    errno = 0;
    char* stop = nullptr;
    const unsigned long long value = std::strtoull(digits.c_str(), &stop, base);
    if (errno == ERANGE || value > static_cast<unsigned long long>(INT64_MAX)) {
      src_.fail_at(start, "integer literal " + digits + " is too large (64-bit integers only)");
    }
    tokens_.push_back(Token{Tok::Int, digits, static_cast<int64_t>(value), 0, start});
    pos_ = end;
  }

  // A quoted literal with Python's escapes (\n, \t, \\, \', \", \xhh, \uhhhh, \Uhhhhhhhh, octal).
  void read_string() {
    const size_t start = pos_;
    const char quote = s_[pos_++];
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) src_.fail_at(start, "unterminated string literal");
      const char c = s_[pos_++];
      if (c == quote) break;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) src_.fail_at(start, "unterminated string literal");
      const char e = s_[pos_++];
      switch (e) {
        case '\n':
          break;  // a backslash at the end of a line continues it
        case '\\':
          out += '\\';
          break;
        case '\'':
          out += '\'';
          break;
        case '"':
          out += '"';
          break;
        case 'a':
          out += '\a';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'v':
          out += '\v';
          break;
        case 'x':
        case 'u':
        case 'U': {
          const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          char32_t cp = 0;
          for (int i = 0; i < n; ++i) {
            if (pos_ >= s_.size() || hex_value(s_[pos_]) < 0) {
              src_.fail_at(pos_ - 2 - i, std::string("truncated \\") + e + " escape in string literal");
            }
            cp = cp * 16 + static_cast<char32_t>(hex_value(s_[pos_++]));
          }
          if (cp > 0x10FFFF) src_.fail_at(pos_ - n - 2, "escape beyond U+10FFFF in string literal");
          text::append_utf8(out, cp);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            char32_t cp = static_cast<char32_t>(e - '0');
            for (int i = 0; i < 2 && pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '7'; ++i) {
              cp = cp * 8 + static_cast<char32_t>(s_[pos_++] - '0');
            }
            text::append_utf8(out, cp);
          } else {
            out += '\\';  // unknown escapes keep their backslash, as in Python
            out += e;
          }
      }
    }
    tokens_.push_back(Token{Tok::String, std::move(out), 0, 0, start});
  }

  const Source& src_;
  const std::string& s_;
  size_t pos_ = 0;
  std::vector<Token> tokens_;
};

}  // namespace

std::string Source::where(size_t offset) const {
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  const size_t column = text::length(std::string_view(text).substr(line_start, offset - line_start)) + 1;
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

void Source::fail_at(size_t offset, const std::string& what) const {
  fail(ErrorKind::BadInput, "chat template " + where(offset) + ": " + what);
}

Source normalize_source(std::string_view raw) {
  Source source;
  source.text.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\r') {
      source.text += '\n';
      if (i + 1 < raw.size() && raw[i + 1] == '\n') ++i;
    } else {
      source.text += raw[i];
    }
  }
  if (!source.text.empty() && source.text.back() == '\n') source.text.pop_back();
  return source;
}

std::vector<Token> lex(const Source& source) { return Lexer(source).run(); }

}  // namespace hayate::chat
