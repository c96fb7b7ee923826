#include "core/json_escape.h"

#include "core/utf8.h"

namespace hayate {
namespace {

void unicode_escape(std::string& out, uint32_t cp) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(cp >> shift) & 0xF];
}

}  // namespace

void append_json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = utf8::valid_length(s, i);
      if (n == 0) {
        unicode_escape(out, 0xFFFD);
        ++i;
        continue;
      }
      if (!ensure_ascii) {
        out.append(s, i, n);
      } else if (const uint32_t cp = utf8::decode(s, i, n); cp >= 0x10000) {
        unicode_escape(out, 0xD800 + ((cp - 0x10000) >> 10));
        unicode_escape(out, 0xDC00 + ((cp - 0x10000) & 0x3FF));
      } else {
        unicode_escape(out, cp);
      }
      i += n;
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          unicode_escape(out, c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

}  // namespace hayate
