// Reading the suites' JSONL files: one object a line, blank lines skipped, every error naming
// path:line.
#pragma once

#include <fstream>
#include <functional>
#include <istream>
#include <nlohmann/json.hpp>
#include <string>

namespace hayate::eval {

// Calls `item` with each line's object and its 1-based line number. Error(BadInput) for a line
// that is not JSON or not an object.
void for_each_jsonl(std::istream& in, const std::string& path,
                    const std::function<void(const nlohmann::json&, int)>& item);

// The file opened for reading, or Error(NotFound) "<path>: cannot open".
std::ifstream open_input(const std::string& path);

// j[key] as a string, or Error(BadInput) "<where>: \"key\" must be a string".
std::string string_field(const nlohmann::json& j, const char* key, const std::string& where);

// j[key] as a string, or an integer written out, the types ids come in ("q_id": 0 or "0").
std::string id_field(const nlohmann::json& j, const char* key, const std::string& where);

}  // namespace hayate::eval
