// Helpers shared by the api sources: byte-stable JSON output.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace hayate::api::detail {

using ojson = nlohmann::ordered_json;

// Compact, non-ASCII kept as UTF-8, invalid UTF-8 replaced by U+FFFD.
std::string dump(const ojson& j);
// A float as the double whose shortest form is the float's shortest form (0.1f prints 0.1).
double stable_float(float f);

}  // namespace hayate::api::detail
