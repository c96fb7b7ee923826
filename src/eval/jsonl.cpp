#include "eval/jsonl.h"

#include "core/error.h"

namespace hayate::eval {

using nlohmann::json;

void for_each_jsonl(std::istream& in, const std::string& path, const std::function<void(const json&, int)>& item) {
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(line_no);
    json j;
    try {
      j = json::parse(line);
    } catch (const json::parse_error& e) {
      fail(ErrorKind::BadInput, where + ": not JSON (" + e.what() + ")");
    }
    if (!j.is_object()) fail(ErrorKind::BadInput, where + ": expected a JSON object");
    item(j, line_no);
  }
}

std::ifstream open_input(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(ErrorKind::NotFound, path + ": cannot open");
  return f;
}

std::string string_field(const json& j, const char* key, const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) fail(ErrorKind::BadInput, where + ": \"" + key + "\" must be a string");
  return it->get<std::string>();
}

std::string id_field(const json& j, const char* key, const std::string& where) {
  const auto it = j.find(key);
  if (it != j.end() && it->is_number_integer()) return std::to_string(it->get<int64_t>());
  return string_field(j, key, where);
}

}  // namespace hayate::eval
