// The task endpoints (issue 18) on the real server with a random-weight model: whatever it would
// say, classify answers only one of the labels given and extract only JSON its schema accepts
// (the grammar constrains them); bad requests say what is wrong.
#include <nlohmann/json.hpp>

#include "server_harness.h"

namespace hayate::test {
namespace {

using json = nlohmann::json;

TEST(Tasks, ClassifyAnswersOnlyTheGivenLabels) {
  ServerProcess server({});
  const json labels = {"billing", "shipping", "technical support"};
  for (int seed = 0; seed < 6; ++seed) {
    const HttpResponse r =
        http_post(server.port(), "/v1/tasks/classify",
                  json{{"text", "My parcel never arrived, where is it? (" + std::to_string(seed) + ")"},
                       {"labels", labels},
                       {"temperature", 1.0},
                       {"seed", seed}}
                      .dump());
    ASSERT_EQ(r.status, 200) << r.body;
    const json out = json::parse(r.body);
    EXPECT_NE(std::find(labels.begin(), labels.end(), out["label"]), labels.end()) << r.body;
    EXPECT_EQ(out["result"]["label"], out["label"]);
    EXPECT_GT(out["confidence"].get<double>(), 0.0);
    EXPECT_LE(out["confidence"].get<double>(), 1.0);
    EXPECT_GT(out["usage"]["prompt_tokens"].get<int>(), 0);
  }
}

TEST(Tasks, ExtractAnswersJsonItsSchemaAccepts) {
  ServerProcess server({});
  const json schema = {{"type", "object"},
                       {"properties",
                        {{"name", {{"type", "string"}, {"maxLength", 12}}},
                         {"age", {{"type", "integer"}}},
                         {"member", {{"type", "boolean"}}}}},
                       {"required", {"name", "age", "member"}},
                       {"additionalProperties", false}};
  for (int seed = 0; seed < 4; ++seed) {
    const HttpResponse r = http_post(
        server.port(), "/v1/tasks/extract",
        json{{"text", "Ada, 36, joined the club last year."}, {"schema", schema}, {"temperature", 1.0}, {"seed", seed}}
            .dump());
    ASSERT_EQ(r.status, 200) << r.body;
    const json result = json::parse(r.body)["result"];
    ASSERT_TRUE(result.is_object()) << r.body;
    EXPECT_EQ(result.size(), 3u) << result;
    ASSERT_TRUE(result["name"].is_string()) << result;
    size_t code_points = 0;  // maxLength counts characters, not bytes
    for (const char ch : result["name"].get<std::string>())
      code_points += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
    EXPECT_LE(code_points, 12u) << result;
    EXPECT_TRUE(result["age"].is_number_integer()) << result;
    EXPECT_TRUE(result["member"].is_boolean()) << result;
  }
}

TEST(Tasks, TheOtherTasksAndBadRequests) {
  ServerProcess server({});
  const int p = server.port();
  const HttpResponse s = http_post(p, "/v1/tasks/sentiment", json{{"text", "I love it"}}.dump());
  ASSERT_EQ(s.status, 200) << s.body;
  const std::string sentiment = json::parse(s.body)["result"]["sentiment"];
  EXPECT_TRUE(sentiment == "positive" || sentiment == "negative" || sentiment == "neutral") << s.body;
  const HttpResponse k =
      http_post(p, "/v1/tasks/keywords", json{{"text", "cats and dogs"}, {"max_keywords", 3}}.dump());
  ASSERT_EQ(k.status, 200) << k.body;
  EXPECT_LE(json::parse(k.body)["result"]["keywords"].size(), 3u) << k.body;
  const HttpResponse sum =
      http_post(p, "/v1/tasks/summarize", json{{"text", "A long story."}, {"max_tokens", 8}}.dump());
  ASSERT_EQ(sum.status, 200) << sum.body;
  EXPECT_TRUE(json::parse(sum.body)["result"].is_string());
  EXPECT_EQ(http_post(p, "/v1/tasks/translate",
                      json{{"text", "Hello"}, {"target_language", "French"}, {"max_tokens", 4}}.dump())
                .status,
            200);
  const HttpResponse no_labels = http_post(p, "/v1/tasks/classify", json{{"text", "x"}}.dump());
  EXPECT_EQ(no_labels.status, 400);
  EXPECT_NE(no_labels.body.find("labels"), std::string::npos) << no_labels.body;
  EXPECT_EQ(http_post(p, "/v1/tasks/translate", json{{"text", "x"}}.dump()).status, 400);  // no target_language
  const HttpResponse unknown = http_post(p, "/v1/tasks/poetry", json{{"text", "x"}}.dump());
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.body.find("summarize"), std::string::npos) << unknown.body;
}

}  // namespace
}  // namespace hayate::test
