// JSON string literals, written once for every producer of JSON text by hand (the GGUF printer,
// the chat templates' tojson). Input need not be valid UTF-8: a byte that does not start a valid
// sequence becomes U+FFFD, so the output is always valid JSON.
#pragma once

#include <string>
#include <string_view>

namespace hayate {

// Appends s as a quoted JSON string. ensure_ascii escapes every non-ASCII code point as \uXXXX
// (surrogate pairs above U+FFFF), as Python's json.dumps does by default; otherwise UTF-8 stays.
void append_json_string(std::string& out, std::string_view s, bool ensure_ascii);

}  // namespace hayate
