// The JSON files of a Hugging Face directory, read with errors that name the file and the key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace hayate::convert {

std::string join_path(const std::string& dir, const std::string& name);
bool is_file(const std::string& path);
std::string read_text_file(const std::string& path);  // Error(NotFound / BadInput)

// Error(NotFound) when missing, Error(BadInput) quoting the parser's message when malformed.
nlohmann::json read_json_file(const std::string& path);
std::optional<nlohmann::json> read_json_if_present(const std::string& path);

// Typed look-ups in a JSON object. `what` names the file in messages ("config.json").
// Absent or null keys give the fallback; a value of the wrong type is an Error(BadInput).
std::optional<int64_t> json_int(const nlohmann::json& obj, const char* key, const std::string& what);
std::optional<double> json_number(const nlohmann::json& obj, const char* key, const std::string& what);
std::optional<bool> json_bool(const nlohmann::json& obj, const char* key, const std::string& what);
std::optional<std::string> json_string(const nlohmann::json& obj, const char* key, const std::string& what);

}  // namespace hayate::convert
