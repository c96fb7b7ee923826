#include "gguf/text.h"

#include <cstdint>
#include <cstdio>

#include "core/json_escape.h"
#include "core/utf8.h"

namespace hayate::gguf::text {
namespace {

void append_hex_escape(std::string& out, const char* prefix, unsigned value, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%s%0*X", prefix, digits, value);
  out += buf;
}

// Escapes one string for a human: printable text stays, the rest is \n, \t, \" or \xNN.
// Stops after max_chars characters and reports whether it had to cut.
bool escape_into(std::string& out, std::string_view s, size_t max_chars, bool quote_marks) {
  size_t chars = 0;
  for (size_t i = 0; i < s.size();) {
    if (chars == max_chars) return true;
    ++chars;
    const auto c = static_cast<uint8_t>(s[i]);
    if (c >= 0x80) {
      const size_t len = utf8::valid_length(s, i);
      if (len == 0) {
        append_hex_escape(out, "\\x", c, 2);
        ++i;
      } else {
        out.append(s.substr(i, len));
        i += len;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\\':
        out += quote_marks ? "\\\\" : "\\";
        break;
      case '"':
        out += quote_marks ? "\\\"" : "\"";
        break;
      default:
        if (c < 0x20 || c == 0x7F)
          append_hex_escape(out, "\\x", c, 2);
        else
          out += static_cast<char>(c);
    }
  }
  return false;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t len = utf8::valid_length(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string printable(std::string_view s, size_t max_chars) {
  std::string out;
  if (escape_into(out, s, max_chars, false)) out += "...";
  return out;
}

std::string quoted(std::string_view s, size_t max_chars) {
  std::string out = "\"";
  const bool cut = escape_into(out, s, max_chars, true);
  out += '"';
  if (cut) out += "...";
  return out;
}

std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s, false);
  return out;
}

}  // namespace hayate::gguf::text
