// Every way a request to `hayate serve` can be refused, each answered with OpenAI's error JSON:
// bad bodies, limits, unknown routes and models, API keys, rate limits and a full queue.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "integration/server_harness.h"

namespace hayate::test {
namespace {

using nlohmann::json;

const std::string kKey = "sk-test-0123456789";
const HeaderList kAuth = {{"Authorization", "Bearer " + kKey}};

ServerProcess* server = nullptr;

class ServerErrors : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The key comes from the environment, the body limit from a flag.
    server = new ServerProcess({"--max-body-bytes", "65536"}, {{"HAYATE_API_KEYS", kKey}});
  }
  static void TearDownTestSuite() {
    if (!server) return;  // SetUpTestSuite failed, and said why
    EXPECT_EQ(server->stop(), 0);
    delete server;
    server = nullptr;
  }
};

// The response must be an OpenAI error with this status, type and param (empty: null).
json expect_error(const HttpResponse& r, int status, const std::string& param = "", const std::string& code = "") {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  const json j = json::parse(r.body);
  EXPECT_TRUE(j["error"]["message"].is_string() && !j["error"]["message"].get<std::string>().empty()) << r.body;
  EXPECT_TRUE(j["error"]["type"].is_string()) << r.body;
  if (param.empty()) {
    EXPECT_TRUE(j["error"]["param"].is_null()) << r.body;
  } else {
    EXPECT_EQ(j["error"]["param"], param) << r.body;
  }
  if (!code.empty()) {
    EXPECT_EQ(j["error"]["code"], code) << r.body;
  }
  return j;
}

HttpResponse chat_raw(const std::string& body) {
  return http_post(server->port(), "/v1/chat/completions", body, kAuth);
}

std::string chat(const json& extra) {
  json body = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 2}};
  body.update(extra);
  return body.dump();
}

TEST_F(ServerErrors, MalformedJson) {
  const json j = expect_error(chat_raw("{\"messages\": [}"), 400);
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  expect_error(chat_raw(""), 400);
  expect_error(chat_raw("[]"), 400);
}

TEST_F(ServerErrors, NaNIsNotJson) {
  expect_error(chat_raw(R"({"messages": [{"role": "user", "content": "hi"}], "temperature": NaN})"), 400);
  // A number too large for a double reads as infinity, which no range admits.
  expect_error(chat_raw(R"({"messages": [{"role": "user", "content": "hi"}], "temperature": 1e999})"), 400);
  expect_error(chat_raw(chat({{"temperature", -0.5}})), 400, "temperature");
}

TEST_F(ServerErrors, WrongTypes) {
  expect_error(chat_raw(chat({{"messages", "hi"}})), 400, "messages");
  expect_error(chat_raw(chat({{"temperature", "hot"}})), 400, "temperature");
  expect_error(chat_raw(chat({{"stream", "yes"}})), 400, "stream");
  expect_error(chat_raw(chat({{"messages", {{{"role", "user"}, {"content", 5}}}}})), 400, "messages[0].content");
}

TEST_F(ServerErrors, MaxTokensOutOfRange) {
  expect_error(chat_raw(chat({{"max_tokens", -1}})), 400, "max_tokens");
  expect_error(chat_raw(chat({{"max_tokens", 0}})), 400, "max_tokens");
  expect_error(chat_raw(chat({{"max_tokens", 1000000000}})), 400, "max_tokens");
  expect_error(chat_raw(chat({{"max_completion_tokens", 99999}})), 400, "max_completion_tokens");
}

TEST_F(ServerErrors, InvalidUtf8) {
  expect_error(chat_raw("{\"messages\": [{\"role\": \"user\", \"content\": \"bad \xff\xfe bytes\"}]}"), 400);
}

TEST_F(ServerErrors, EmptyMessages) { expect_error(chat_raw(chat({{"messages", json::array()}})), 400, "messages"); }

TEST_F(ServerErrors, UnknownModel) {
  expect_error(chat_raw(chat({{"model", "gpt-17"}})), 404, "model", "model_not_found");
}

TEST_F(ServerErrors, PromptOverTheContext) {
  const std::string big(3000, 'a');  // 3000 byte tokens, over the 2048-token context
  const json j = expect_error(chat_raw(chat({{"messages", {{{"role", "user"}, {"content", big}}}}})), 400, "messages",
                              "context_length_exceeded");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("2048"), std::string::npos) << "names the limit";
  expect_error(http_post(server->port(), "/v1/embeddings", json({{"input", big}}).dump(), kAuth), 400, "input",
               "context_length_exceeded");
}

TEST_F(ServerErrors, BodyOverTheLimit) {
  const std::string big = chat({{"messages", {{{"role", "user"}, {"content", std::string(100000, 'a')}}}}});
  const json j = expect_error(chat_raw(big), 413);
  EXPECT_NE(j["error"]["message"].get<std::string>().find("65536"), std::string::npos);
}

TEST_F(ServerErrors, UnknownRouteAndWrongMethod) {
  expect_error(http_get(server->port(), "/v1/nothing", kAuth), 404);
  const HttpResponse r = http_get(server->port(), "/v1/chat/completions", kAuth);
  expect_error(r, 405);
  EXPECT_NE(r.header("allow").find("POST"), std::string::npos);
}

TEST_F(ServerErrors, MalformedHttp) {
  HttpClient c("127.0.0.1", server->port());
  const HttpResponse r = c.raw("THIS IS NOT HTTP\r\n\r\n");
  expect_error(r, 400);
}

TEST_F(ServerErrors, ApiKeys) {
  const int port = server->port();
  const std::string body = chat(json::object());
  expect_error(http_post(port, "/v1/chat/completions", body), 401, "", "invalid_api_key");
  expect_error(http_post(port, "/v1/chat/completions", body, {{"Authorization", "Bearer sk-wrong-0123456789"}}), 401,
               "", "invalid_api_key");
  expect_error(http_post(port, "/v1/chat/completions", body, {{"Authorization", kKey}}), 401);
  expect_error(http_get(port, "/v1/models"), 401);
  EXPECT_EQ(http_post(port, "/v1/chat/completions", body, kAuth).status, 200);
  EXPECT_EQ(http_get(port, "/health").status, 200) << "health checks need no key";
  EXPECT_EQ(http_get(port, "/metrics").status, 200) << "scrapes need no key";
}

TEST(ServerLimits, RateLimitPerKey) {
  ServerProcess s(
      {"--api-keys", "sk-one-0123456789,sk-two-0123456789", "--rate-limit-rpm", "6", "--rate-limit-burst", "2"});
  const HeaderList one = {{"Authorization", "Bearer sk-one-0123456789"}};
  const HeaderList two = {{"Authorization", "Bearer sk-two-0123456789"}};
  EXPECT_EQ(http_get(s.port(), "/v1/models", one).status, 200);
  EXPECT_EQ(http_get(s.port(), "/v1/models", one).status, 200);
  const HttpResponse limited = http_get(s.port(), "/v1/models", one);
  expect_error(limited, 429, "", "rate_limit_exceeded");
  ASSERT_FALSE(limited.header("retry-after").empty());
  const int retry = std::stoi(limited.header("retry-after"));
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 10) << "one request every 10 s";
  EXPECT_EQ(http_get(s.port(), "/v1/models", two).status, 200) << "each key has its own bucket";
  EXPECT_EQ(s.stop(), 0);
}

TEST(ServerLimits, QueueFullIs429) {
  // One running sequence and one waiting: a third request finds the queue full. The reference
  // backend on one thread keeps the first two busy long enough.
  ServerProcess s({"--max-running", "1", "--max-waiting", "1", "--backend", "reference", "-t", "1"});
  const std::string body = json({{"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                                 {"max_tokens", 1500},
                                 {"temperature", 0},
                                 {"stream", true}})
                               .dump();
  auto wait_for = [&](const std::string& gauge, double value) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (s.metrics()[gauge] != value && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(s.metrics()[gauge], value) << gauge;
  };
  HttpClient a("127.0.0.1", s.port()), b("127.0.0.1", s.port());
  EXPECT_EQ(a.start_stream("/v1/chat/completions", body).status, 200);
  wait_for("hayate_running_sequences", 1);
  EXPECT_EQ(b.start_stream("/v1/chat/completions", body).status, 200);
  wait_for("hayate_queue_depth", 1);
  const HttpResponse third = http_post(s.port(), "/v1/chat/completions", body);
  const json j = expect_error(third, 429, "", "queue_full");
  EXPECT_FALSE(third.header("retry-after").empty());
  a.close();
  b.close();
  EXPECT_EQ(s.stop(), 0);
}

}  // namespace
}  // namespace hayate::test
