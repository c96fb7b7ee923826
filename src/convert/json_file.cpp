#include "convert/json_file.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace hayate::convert {

std::string join_path(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

bool is_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    fail(is_file(path) ? ErrorKind::BadInput : ErrorKind::NotFound, path + ": cannot open");
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail(ErrorKind::BadInput, path + ": read error");
  return text.str();
}

nlohmann::json read_json_file(const std::string& path) {
  const std::string text = read_text_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for huge numbers
    fail(ErrorKind::BadInput, path + ": not valid JSON: " + e.what());
  }
}

std::optional<nlohmann::json> read_json_if_present(const std::string& path) {
  if (!is_file(path)) return std::nullopt;
  return read_json_file(path);
}

namespace {

const nlohmann::json* member(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

[[noreturn]] void wrong_type(const std::string& what, const char* key, const char* expected,
                             const nlohmann::json& got) {
  fail(ErrorKind::BadInput,
       what + ": '" + key + "' should be " + expected + ", not " + got.dump().substr(0, 80));
}

}  // namespace

std::optional<int64_t> json_int(const nlohmann::json& obj, const char* key, const std::string& what) {
  const nlohmann::json* v = member(obj, key);
  if (!v) return std::nullopt;
  if (v->is_number_integer()) return v->get<int64_t>();
  // Some exporters write integral values as floats (e.g. 4096.0).
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
  }
  wrong_type(what, key, "an integer", *v);
}

std::optional<double> json_number(const nlohmann::json& obj, const char* key, const std::string& what) {
  const nlohmann::json* v = member(obj, key);
  if (!v) return std::nullopt;
  if (v->is_number()) return v->get<double>();
  wrong_type(what, key, "a number", *v);
}

std::optional<bool> json_bool(const nlohmann::json& obj, const char* key, const std::string& what) {
  const nlohmann::json* v = member(obj, key);
  if (!v) return std::nullopt;
  if (v->is_boolean()) return v->get<bool>();
  wrong_type(what, key, "true or false", *v);
}

std::optional<std::string> json_string(const nlohmann::json& obj, const char* key, const std::string& what) {
  const nlohmann::json* v = member(obj, key);
  if (!v) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  wrong_type(what, key, "a string", *v);
}

}  // namespace hayate::convert
