// Python str operations on UTF-8 text: Jinja templates index, slice, strip and split strings by
// code point, with Python's idea of whitespace. Invalid UTF-8 bytes count as one code point each
// (U+FFFD stands for them only where a code point value is needed) and are copied unchanged.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hayate::chat::text {

// Byte offsets of the code points of s, plus s.size() at the end.
std::vector<size_t> code_point_offsets(std::string_view s);
size_t length(std::string_view s);
size_t next_offset(std::string_view s, size_t offset);  // where the code point after s[offset] starts
char32_t decode_at(std::string_view s, size_t offset);  // U+FFFD for a bad sequence
void append_utf8(std::string& out, char32_t cp);

bool is_space(char32_t cp);  // str.isspace()

// str.strip / lstrip / rstrip; chars == nullopt strips whitespace, otherwise any of those code points.
std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right);
// str.split(sep, maxsplit) and str.rsplit; sep == nullopt splits on runs of whitespace.
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit,
                               bool from_right = false);
// str.replace(old, new, count); count < 0 replaces all.
std::string replace(std::string_view s, std::string_view from, std::string_view to, int64_t count);

// Case mapping for ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic and full-width Latin.
std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string capitalize(std::string_view s);   // str.capitalize()
std::string title(std::string_view s);        // str.title()
std::string jinja_title(std::string_view s);  // the title filter: words begin after whitespace, - ( { [ <

}  // namespace hayate::chat::text
