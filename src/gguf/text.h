// Small text helpers shared by the GGUF reader, `Value::to_display` and the info printers.
// Names and strings come from untrusted files, so everything shown to a user is escaped.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace hayate::gguf::text {

bool is_valid_utf8(std::string_view s);

// A name from a file made safe for an error message: control and invalid bytes become \xNN,
// and a very long name is cut (a corrupt file can hold a megabyte "key").
std::string printable(std::string_view s, size_t max_chars = 120);

// A double-quoted, escaped string for display; longer strings are cut at a character
// boundary and end in "...".
std::string quoted(std::string_view s, size_t max_chars);

// A JSON string literal (with quotes). Invalid UTF-8 bytes become U+FFFD so the output
// always parses.
std::string json_string(std::string_view s);

}  // namespace hayate::gguf::text
