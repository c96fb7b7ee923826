// Ollama's API against the real `hayate serve`: the request/response pairs of
// tests/data/api/ollama/cases.json, written from Ollama's API documentation (docs/api.md of
// ollama/ollama: NDJSON streams by default, "done" objects with durations in nanoseconds,
// {"error": "..."} on failure). "$MODEL" in a case is the served model's name; "$POSITIVE" an
// expected field that must be a positive number.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "server_harness.h"

namespace hayate::test {
namespace {

using json = nlohmann::json;

const json* at_path(const json& root, const std::string& path) { return json_at_path(root, path); }

// Every "$MODEL" in the strings of `j` replaced by the model's name.
json with_model(const json& j, const std::string& model) {
  if (j.is_string()) {
    std::string s = j.get<std::string>();
    for (size_t at; (at = s.find("$MODEL")) != std::string::npos;) s.replace(at, 6, model);
    return s;
  }
  json out = j;
  if (j.is_object() || j.is_array())
    for (auto it = out.begin(); it != out.end(); ++it) *it = with_model(*it, model);
  return out;
}

// The object's fields against `fields` (values, or "$POSITIVE") and `present` (paths).
void check_object(const json& j, const json& fields, const json& present, const std::string& where) {
  for (const auto& p : present) EXPECT_TRUE(at_path(j, p.get<std::string>())) << where << ": " << p << " in " << j;
  for (const auto& [field, want] : fields.items()) {
    const json* got = at_path(j, field);
    ASSERT_TRUE(got) << where << ": " << field << " is missing in " << j;
    if (want == "$POSITIVE")
      EXPECT_TRUE(got->is_number() && got->get<double>() > 0) << where << ": " << field << " in " << j;
    else
      EXPECT_EQ(*got, want) << where << ": " << field << " in " << j;
  }
}

void check_ndjson(const std::string& body, const json& spec) {
  std::vector<json> lines;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) {
    ASSERT_FALSE(line.empty()) << "an empty line in the stream:\n" << body;
    lines.push_back(json::parse(line));
  }
  ASSERT_GE(lines.size(), 2u) << body;
  for (size_t i = 0; i + 1 < lines.size(); ++i)
    check_object(lines[i], spec.value("chunk_fields", json::object()), spec.value("chunk_present", json::array()),
                 "chunk " + std::to_string(i));
  check_object(lines.back(), spec.value("final_fields", json::object()), spec.value("final_present", json::array()),
               "final object");
}

void run_case(int port, const std::string& model, const json& raw) {
  const json c = with_model(raw, model);
  SCOPED_TRACE(c["name"].get<std::string>());
  const std::string method = c.value("method", "POST"), path = c["path"].get<std::string>();
  const HttpResponse r =
      method == "GET" ? http_get(port, path) : http_post(port, path, c.value("body", json::object()).dump());
  ASSERT_EQ(r.status, c["status"].get<int>()) << r.body.substr(0, 2000);
  if (c.contains("ndjson")) {
    EXPECT_EQ(r.header("content-type"), "application/x-ndjson");
    check_ndjson(r.body, c["ndjson"]);
    return;
  }
  EXPECT_EQ(r.header("content-type"), "application/json");
  const json j = json::parse(r.body);
  check_object(j, c.value("fields", json::object()), c.value("present", json::array()), "response");
  for (const auto& p : c.value("absent", json::array()))
    EXPECT_FALSE(at_path(j, p.get<std::string>())) << p << " in " << r.body.substr(0, 2000);
  const json matches = c.value("matches", json::object());  // items() would outlive a temporary
  for (const auto& [field, pattern] : matches.items()) {
    const json* got = at_path(j, field);
    ASSERT_TRUE(got && got->is_string()) << field << " in " << r.body;
    EXPECT_TRUE(std::regex_search(got->get<std::string>(), std::regex(pattern.get<std::string>())))
        << field << " = " << *got << " does not match " << pattern;
  }
  if (c.contains("unit_vectors"))
    for (const json& v : *at_path(j, c["unit_vectors"].get<std::string>())) {
      double norm = 0;
      for (const json& x : v) norm += x.get<double>() * x.get<double>();
      EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-4);
    }
  if (c.contains("says")) {
    // Ollama's error object: one "error" string.
    ASSERT_TRUE(j.contains("error") && j["error"].is_string()) << r.body;
    EXPECT_NE(j["error"].get<std::string>().find(c["says"].get<std::string>()), std::string::npos) << r.body;
  }
}

TEST(OllamaApi, EveryCase) {
  ServerProcess server({});
  const json tags = json::parse(http_get(server.port(), "/api/tags").body);
  std::string model = tags["models"][0]["name"].get<std::string>();
  model = model.substr(0, model.rfind(':'));  // cases say "$MODEL:latest" where they mean the tag
  const json cases = json::parse(read_file(std::string(HAYATE_TESTDATA) + "/api/ollama/cases.json"));
  for (const json& c : cases) run_case(server.port(), model, c);
  EXPECT_GE(cases.size(), 20u);
}

}  // namespace
}  // namespace hayate::test
