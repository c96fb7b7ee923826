// The API conformance suite: each file of tests/data/api/conformance/ is a list of cases
// (request -> status, JSON fields present, absent or equal to a value, text that must parse as
// JSON or match a pattern, the message's words, the SSE event sequence), run against the real `hayate serve` with the
// embedded model.
//
// SSE events are named by what they carry: role, content, text (completions), reasoning,
// tool_call_header, tool_call_arguments, finish:<reason>, usage; repeats of one name count once.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "api/openai.h"
#include "server_harness.h"

namespace hayate::test {
namespace {

using json = nlohmann::json;

const json* at_path(const json& root, const std::string& path) { return json_at_path(root, path); }

std::string event_name(const json& e) {
  if (e.contains("type") && e["type"].is_string()) return e["type"].get<std::string>();  // Responses API
  if (e.contains("usage") && e["choices"].empty()) return "usage";
  const json& c = e["choices"][0];
  if (!c["finish_reason"].is_null()) return "finish:" + c["finish_reason"].get<std::string>();
  if (c.contains("text")) return "text";
  const json& d = c["delta"];
  if (d.contains("role")) return "role";
  if (d.contains("tool_calls")) return d["tool_calls"][0].contains("id") ? "tool_call_header" : "tool_call_arguments";
  if (d.contains("reasoning_content")) return "reasoning";
  if (d.contains("content")) return "content";
  return "other";
}

// The Responses API ends its streams with response.completed, the others with [DONE].
std::vector<std::string> sse_names(const std::string& body, bool ends_with_done) {
  api::SseParser parser;
  parser.feed(body);
  parser.finish();
  EXPECT_EQ(parser.done(), ends_with_done) << "[DONE] at the end";
  std::vector<std::string> names;
  for (const std::string& data : parser.take_events()) {
    const std::string name = event_name(json::parse(data));
    if (names.empty() || names.back() != name) names.push_back(name);
  }
  return names;
}

void run_case(int port, const json& c) {
  SCOPED_TRACE(c["name"].get<std::string>());
  json body = c.value("body", json::object());
  if (c.contains("schema_padding"))
    body["response_format"]["json_schema"]["schema"]["description"] =
        std::string(c["schema_padding"].get<size_t>(), 'x');
  const std::string method = c.value("method", "POST");
  const std::string path = c["path"].get<std::string>();
  const HttpResponse r = method == "GET" ? http_get(port, path) : http_post(port, path, body.dump());
  ASSERT_EQ(r.status, c["status"].get<int>()) << r.body.substr(0, 2000);
  if (c.contains("sse")) {
    EXPECT_EQ(sse_names(r.body, path != "/v1/responses"), c["sse"].get<std::vector<std::string>>())
        << r.body.substr(0, 4000);
    return;
  }
  const json j = json::parse(r.body);
  const json fields = c.value("fields", json::object()), json_fields = c.value("json_fields", json::array()),
             matches = c.value("matches", json::object()), present = c.value("present", json::array()),
             absent = c.value("absent", json::array());
  for (const auto& field : present) EXPECT_TRUE(at_path(j, field.get<std::string>())) << field << " in " << r.body;
  for (const auto& field : absent) EXPECT_FALSE(at_path(j, field.get<std::string>())) << field << " in " << r.body;
  for (const auto& [field, want] : fields.items()) {
    const json* got = at_path(j, field);
    ASSERT_TRUE(got) << field << " is missing: " << r.body;
    EXPECT_EQ(*got, want) << field << " in " << r.body;
  }
  for (const auto& field : json_fields) {
    const json* got = at_path(j, field.get<std::string>());
    ASSERT_TRUE(got && got->is_string()) << field << " in " << r.body;
    EXPECT_FALSE(json::parse(got->get<std::string>(), nullptr, false).is_discarded())
        << field << " does not parse: " << got->get<std::string>();
  }
  for (const auto& [field, pattern] : matches.items()) {
    const json* got = at_path(j, field);
    ASSERT_TRUE(got && got->is_string()) << field << " in " << r.body;
    EXPECT_TRUE(std::regex_search(got->get<std::string>(), std::regex(pattern.get<std::string>())))
        << field << " = " << *got << " does not match " << pattern;
  }
  if (c.contains("says")) {
    const std::string message = j["error"]["message"].get<std::string>();
    EXPECT_NE(message.find(c["says"].get<std::string>()), std::string::npos) << message;
  }
}

TEST(Conformance, EveryCaseOfEveryFile) {
  // The embedded model; bodies up to 20 MB, so that a 10 MB schema reaches the schema's own limit.
  ServerProcess server({"--max-body-bytes", "20000000"}, {}, true, /*tiny=*/false);
  const std::filesystem::path dir = std::filesystem::path(HAYATE_TESTDATA) / "api" / "conformance";
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().filename().string());
    const json cases = json::parse(read_file(entry.path().string()));
    for (const json& c : cases) {
      run_case(server.port(), c);
      ++n;
    }
  }
  EXPECT_GE(n, 30);
}

}  // namespace
}  // namespace hayate::test
