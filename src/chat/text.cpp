#include "chat/text.h"

#include <algorithm>

#include "core/utf8.h"

namespace hayate::chat::text {
namespace {

// Length of the UTF-8 sequence starting at s[i], 1 for a byte that does not start a valid one.
size_t sequence_length(std::string_view s, size_t i) { return std::max<size_t>(1, utf8::valid_length(s, i)); }

// A pair of ranges where lower = upper + delta.
struct CaseRange {
  char32_t upper_first, upper_last;
  int delta;
};
constexpr CaseRange kContiguous[] = {
    {U'A', U'Z', 32},   {0xC0, 0xD6, 32},   {0xD8, 0xDE, 32},   {0x391, 0x3A1, 32}, {0x3A3, 0x3AB, 32},
    {0x388, 0x38A, 37}, {0x38E, 0x38F, 63}, {0x410, 0x42F, 32}, {0x400, 0x40F, 80}, {0xFF21, 0xFF3A, 32},
};
// Blocks where upper and lower case alternate (lower = upper + 1); `upper_even`: the upper case is even.
struct AlternatingRange {
  char32_t first, last;
  bool upper_even;
};
constexpr AlternatingRange kAlternating[] = {
    {0x100, 0x12F, true},  {0x132, 0x137, true}, {0x139, 0x148, false}, {0x14A, 0x177, true},
    {0x179, 0x17E, false}, {0x460, 0x481, true}, {0x48A, 0x4BF, true},
};

char32_t to_upper(char32_t c) {
  if (c >= U'a' && c <= U'z') return c - 32;
  if (c < 0x80) return c;
  for (const auto& r : kContiguous) {
    if (c >= r.upper_first + r.delta && c <= r.upper_last + r.delta) return c - r.delta;
  }
  for (const auto& r : kAlternating) {
    if (c >= r.first && c <= r.last && ((c % 2 == 0) != r.upper_even)) return c - 1;
  }
  switch (c) {
    case 0xB5:
      return 0x39C;
    case 0xFF:
      return 0x178;
    case 0x131:
      return U'I';
    case 0x17F:
      return U'S';
    case 0x3C2:
      return 0x3A3;
    case 0x3AC:
      return 0x386;
    case 0x3CC:
      return 0x38C;
    default:
      return c;
  }
}

char32_t to_lower(char32_t c) {
  if (c >= U'A' && c <= U'Z') return c + 32;
  if (c < 0x80) return c;
  for (const auto& r : kContiguous) {
    if (c >= r.upper_first && c <= r.upper_last) return c + r.delta;
  }
  for (const auto& r : kAlternating) {
    if (c >= r.first && c <= r.last && ((c % 2 == 0) == r.upper_even)) return c + 1;
  }
  switch (c) {
    case 0x178:
      return 0xFF;
    case 0x386:
      return 0x3AC;
    case 0x38C:
      return 0x3CC;
    default:
      return c;
  }
}

bool is_cased(char32_t c) { return c == 0xDF || to_upper(c) != c || to_lower(c) != c; }

void append_upper(std::string& out, char32_t c) {
  if (c == 0xDF) {
    out += "SS";  // German sharp s has no single upper-case letter
  } else {
    append_utf8(out, to_upper(c));
  }
}

template <typename Fn>
void for_each_code_point(std::string_view s, Fn fn) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = sequence_length(s, i);
    fn(s.substr(i, n), n == 1 && static_cast<unsigned char>(s[i]) >= 0x80 ? char32_t{0xFFFD} : decode_at(s, i));
    i += n;
  }
}

template <typename Map>
std::string map_case(std::string_view s, Map map) {
  std::string out;
  out.reserve(s.size());
  for_each_code_point(s, [&](std::string_view bytes, char32_t cp) {
    if (cp == 0xFFFD && bytes != "\xEF\xBF\xBD") {
      out += bytes;
    } else {
      map(out, cp);
    }
  });
  return out;
}

bool in_set(char32_t cp, const std::vector<char32_t>& set) {
  return std::find(set.begin(), set.end(), cp) != set.end();
}

std::vector<char32_t> code_points(std::string_view s) {
  std::vector<char32_t> cps;
  for_each_code_point(s, [&](std::string_view, char32_t cp) { cps.push_back(cp); });
  return cps;
}

}  // namespace

std::vector<size_t> code_point_offsets(std::string_view s) {
  std::vector<size_t> offsets;
  offsets.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size(); i += sequence_length(s, i)) offsets.push_back(i);
  offsets.push_back(s.size());
  return offsets;
}

size_t length(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); i += sequence_length(s, i)) ++n;
  return n;
}

size_t next_offset(std::string_view s, size_t offset) { return offset + sequence_length(s, offset); }

char32_t decode_at(std::string_view s, size_t i) {
  const size_t n = utf8::valid_length(s, i);
  return n == 0 ? char32_t{0xFFFD} : utf8::decode(s, i, n);
}

void append_utf8(std::string& out, char32_t cp) { utf8::append_codepoint(out, cp); }

bool is_space(char32_t c) {
  return (c >= 0x9 && c <= 0xD) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right) {
  const std::vector<char32_t> set = chars ? code_points(*chars) : std::vector<char32_t>{};
  auto strippable = [&](char32_t cp) { return chars ? in_set(cp, set) : is_space(cp); };
  const std::vector<size_t> at = code_point_offsets(s);
  size_t begin = 0, end = at.size() - 1;  // code point indices
  if (left) {
    while (begin < end && strippable(decode_at(s, at[begin]))) ++begin;
  }
  if (right) {
    while (end > begin && strippable(decode_at(s, at[end - 1]))) --end;
  }
  return std::string(s.substr(at[begin], at[end] - at[begin]));
}

std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit,
                               bool from_right) {
  std::vector<std::string> parts;
  if (sep) {
    if (from_right) {
      size_t end = s.size();
      while (maxsplit != 0) {
        const size_t at = end >= sep->size() ? s.rfind(*sep, end - sep->size()) : std::string_view::npos;
        if (at == std::string_view::npos) break;
        parts.emplace_back(s.substr(at + sep->size(), end - at - sep->size()));
        end = at;
        --maxsplit;
      }
      parts.emplace_back(s.substr(0, end));
      std::reverse(parts.begin(), parts.end());
      return parts;
    }
    size_t begin = 0;
    while (maxsplit != 0) {
      const size_t at = s.find(*sep, begin);
      if (at == std::string_view::npos) break;
      parts.emplace_back(s.substr(begin, at - begin));
      begin = at + sep->size();
      --maxsplit;
    }
    parts.emplace_back(s.substr(begin));
    return parts;
  }
  // Whitespace runs separate words; leading and trailing whitespace gives no empty words.
  const std::vector<size_t> at = code_point_offsets(s);
  const size_t n = at.size() - 1;
  auto space = [&](size_t i) { return is_space(decode_at(s, at[i])); };
  if (from_right) {
    size_t end = n;
    while (true) {
      while (end > 0 && space(end - 1)) --end;
      if (end == 0) break;
      if (maxsplit == 0) {
        parts.emplace_back(strip(s.substr(0, at[end]), std::nullopt, true, false));
        break;
      }
      size_t begin = end;
      while (begin > 0 && !space(begin - 1)) --begin;
      parts.emplace_back(s.substr(at[begin], at[end] - at[begin]));
      end = begin;
      --maxsplit;
    }
    std::reverse(parts.begin(), parts.end());
    return parts;
  }
  size_t i = 0;
  while (true) {
    while (i < n && space(i)) ++i;
    if (i == n) break;
    if (maxsplit == 0) {
      parts.emplace_back(strip(s.substr(at[i]), std::nullopt, false, true));
      break;
    }
    size_t end = i;
    while (end < n && !space(end)) ++end;
    parts.emplace_back(s.substr(at[i], at[end] - at[i]));
    i = end;
    --maxsplit;
  }
  return parts;
}

std::string replace(std::string_view s, std::string_view from, std::string_view to, int64_t count) {
  std::string out;
  if (from.empty()) {
    // Python inserts `to` before every code point and at the end.
    const std::vector<size_t> at = code_point_offsets(s);
    for (size_t i = 0; i + 1 < at.size(); ++i) {
      if (count != 0) {
        out += to;
        --count;
      }
      out += s.substr(at[i], at[i + 1] - at[i]);
    }
    if (count != 0) out += to;
    return out;
  }
  size_t begin = 0;
  while (count != 0) {
    const size_t at = s.find(from, begin);
    if (at == std::string_view::npos) break;
    out += s.substr(begin, at - begin);
    out += to;
    begin = at + from.size();
    --count;
  }
  out += s.substr(begin);
  return out;
}

std::string upper(std::string_view s) {
  return map_case(s, [](std::string& out, char32_t cp) { append_upper(out, cp); });
}

std::string lower(std::string_view s) {
  return map_case(s, [](std::string& out, char32_t cp) { append_utf8(out, to_lower(cp)); });
}

std::string capitalize(std::string_view s) {
  bool first = true;
  return map_case(s, [&](std::string& out, char32_t cp) {
    if (first) {
      append_upper(out, cp);
    } else {
      append_utf8(out, to_lower(cp));
    }
    first = false;
  });
}

std::string title(std::string_view s) {
  bool previous_cased = false;
  return map_case(s, [&](std::string& out, char32_t cp) {
    if (previous_cased) {
      append_utf8(out, to_lower(cp));
    } else {
      append_upper(out, cp);
    }
    previous_cased = is_cased(cp);
  });
}

std::string jinja_title(std::string_view s) {
  bool word_start = true;
  return map_case(s, [&](std::string& out, char32_t cp) {
    const bool separator = is_space(cp) || cp == U'-' || cp == U'(' || cp == U'{' || cp == U'[' || cp == U'<';
    if (word_start && !separator) {
      append_upper(out, cp);
      word_start = false;
    } else {
      append_utf8(out, separator ? cp : to_lower(cp));
    }
    if (separator) word_start = true;
  });
}

}  // namespace hayate::chat::text
