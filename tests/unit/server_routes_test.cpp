// The server's route table and dispatch without sockets: a fake Exchange records the response.
// (The real connection, models and engine are covered by tests/integration/server_*.)
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/routes.h"

namespace hayate::server {
namespace {

using nlohmann::json;

class FakeExchange final : public Exchange {
 public:
  FakeExchange(std::string method, std::string path) {
    rq_.method = std::move(method);
    rq_.path = std::move(path);
  }
  const HttpRequest& request() const override { return rq_; }
  const std::string& request_id() const override { return id_; }
  std::string peer_address() const override { return "127.0.0.1:5555"; }
  std::chrono::steady_clock::time_point started() const override { return t0_; }
  awaitable<> respond(int s, std::string b, std::string_view, Headers extra) override {
    status = s;
    body = std::move(b);
    headers = std::move(extra);
    co_return;
  }
  awaitable<bool> stream_begin(std::string) override { co_return false; }
  awaitable<bool> stream_write(std::string) override { co_return false; }
  awaitable<> stream_end() override { co_return; }
  void watch(RequestHandle&) override {}
  awaitable<Wake> wait() override { co_return Wake::Timeout; }
  bool peer_gone() const override { return false; }
  bool response_started() const override { return status != 0; }
  HttpRequest& mutable_request() { return rq_; }

  std::string header(const std::string& name) const {
    for (const auto& [n, v] : headers)
      if (n == name) return v;
    return "";
  }

  int status = 0;
  std::string body;
  Headers headers;

 private:
  HttpRequest rq_;
  std::string id_ = "req-test";
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

FakeExchange run(ServerState& st, const std::string& method, const std::string& path) {
  FakeExchange ex(method, path);
  asio::io_context ioc;
  asio::co_spawn(ioc, dispatch(ex, st), asio::detached);
  ioc.run();
  return ex;
}

std::string error_code_of(const FakeExchange& ex) {
  const json j = json::parse(ex.body);
  return j["error"]["code"].is_null() ? "" : j["error"]["code"].get<std::string>();
}

TEST(ServerRoutes, UnknownPathsAndMethodsAreAnsweredFromTheTable) {
  ServerState st{ServerConfig{}};
  const FakeExchange missing = run(st, "GET", "/v1/nothing");
  EXPECT_EQ(missing.status, 404);
  for (const char* route : {"POST /v1/chat/completions", "POST /v1/completions", "POST /v1/embeddings",
                            "GET /v1/models", "GET /health", "GET /metrics"})
    EXPECT_NE(missing.body.find(route), std::string::npos) << route << " missing from " << missing.body;

  const FakeExchange wrong = run(st, "GET", "/v1/embeddings");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.header("Allow"), "POST, OPTIONS");
  EXPECT_EQ(error_code_of(wrong), "method_not_allowed");

  const FakeExchange preflight = run(st, "OPTIONS", "/metrics");
  EXPECT_EQ(preflight.status, 204);
  EXPECT_EQ(preflight.header("Access-Control-Allow-Methods"), "GET, OPTIONS");
}

TEST(ServerRoutes, EachRouteReachesItsHandler) {
  ServerState st{ServerConfig{}};
  // Without a model: the routes that need one say so; /health and /metrics answer themselves.
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{{"POST", "/v1/chat/completions"},
                                                                                     {"POST", "/v1/completions"},
                                                                                     {"POST", "/v1/embeddings"},
                                                                                     {"GET", "/v1/models"}}) {
    const FakeExchange ex = run(st, method, path);
    EXPECT_EQ(ex.status, 503) << path;
    EXPECT_EQ(error_code_of(ex), "model_loading") << path;
  }
  const FakeExchange health = run(st, "GET", "/health");
  EXPECT_EQ(health.status, 503);
  EXPECT_EQ(error_code_of(health), "model_loading");
  const FakeExchange metrics = run(st, "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("hayate_"), std::string::npos) << metrics.body;

  st.set_stopping();
  const FakeExchange stopping = run(st, "GET", "/v1/models");
  EXPECT_EQ(stopping.status, 503);
  EXPECT_EQ(error_code_of(stopping), "shutting_down");
}

TEST(ServerRoutes, PathsWithAnIdMatchOneSegmentAndSplitByMethod) {
  // Metrics name the pattern, not each id.
  EXPECT_EQ(route_name("/v1/models/hayate-demo"), "/v1/models/{id}");
  EXPECT_EQ(route_name("/v1/responses/resp_123"), "/v1/responses/{id}");
  EXPECT_EQ(route_name("/v1/models/"), "other");
  EXPECT_EQ(route_name("/v1/models/a/b"), "other");
  // An id may stand inside the path too (the collections' routes).
  EXPECT_EQ(route_name("/v1/collections/kb/search"), "/v1/collections/{id}/search");
  EXPECT_EQ(route_name("/v1/collections/kb/documents/doc-1"), "/v1/collections/{id}/documents/{id}");
  EXPECT_EQ(route_name("/v1/collections/kb"), "/v1/collections/{id}");
  EXPECT_EQ(route_name("/v1/collections//search"), "other");
  EXPECT_EQ(route_name("/v1/collections/kb/search/more"), "other");
  ServerState st{ServerConfig{}};
  // GET and DELETE of one path reach their handlers (503 without a model), POST is not allowed.
  for (const char* method : {"GET", "DELETE"}) {
    const FakeExchange ex = run(st, method, "/v1/responses/resp_1");
    EXPECT_EQ(ex.status, 503) << method;
  }
  const FakeExchange post = run(st, "POST", "/v1/responses/resp_1");
  EXPECT_EQ(post.status, 405);
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/models/x"}, {"POST", "/v1/responses"}, {"POST", "/v1/rerank"}, {"POST", "/v1/score"}}) {
    const FakeExchange ex = run(st, method, path);
    EXPECT_EQ(error_code_of(ex), "model_loading") << path;
  }
}

TEST(ServerRoutes, TheTimeoutIsOneErrorOfKindTimeout) {
  ServerConfig config;
  config.request_timeout = 0.3;
  const Error e = request_timed_out(config);
  EXPECT_EQ(e.kind(), ErrorKind::Timeout);
  EXPECT_STREQ(e.what(), "The request timed out after 0.3 s");
  const api::ApiError api = api::from_error(e);
  EXPECT_EQ(api.status, 504);
  EXPECT_EQ(api.code, "timeout");
  config.request_timeout = 600;
  EXPECT_STREQ(request_timed_out(config).what(), "The request timed out after 600 s");
}

// The web page comes from a fixed table: its files with a CSP, anything else 404, whatever the
// path tries; no key is needed for the page, while what it calls needs one.
TEST(ServerRoutes, ThePageIsServedFromItsTableOnly) {
  ServerConfig config;
  config.api_keys = {"sk-routes-test-key"};
  ServerState st{config};
  const FakeExchange page = run(st, "GET", "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<div id=\"app\">"), std::string::npos) << page.body;
  EXPECT_NE(page.header("Content-Security-Policy").find("default-src 'self'"), std::string::npos);
  EXPECT_EQ(page.header("X-Content-Type-Options"), "nosniff");
  for (const char* asset : {"/assets/app.js", "/assets/app.css"}) {
    const FakeExchange ex = run(st, "GET", asset);
    EXPECT_EQ(ex.status, 200) << asset;
    EXPECT_GT(ex.body.size(), 1000u) << asset;
  }
  for (const char* path :
       {"/assets/../../etc/passwd", "/assets/..", "/assets/%2e%2e%2fetc%2fpasswd", "/assets/app.js%00",
        "/assets/APP.JS", "/index.html", "/assets/", "/../etc/passwd", "/assets/app.js/"}) {
    const FakeExchange ex = run(st, "GET", path);
    EXPECT_EQ(ex.status, 404) << path;
    EXPECT_EQ(ex.body.find("root:"), std::string::npos) << path;
  }
  EXPECT_EQ(run(st, "GET", "/v1/conversations").status, 401);
  const FakeExchange ws = run(st, "GET", "/v1/ws");
  EXPECT_EQ(ws.status, 426);
  EXPECT_EQ(ws.header("Upgrade"), "websocket");
  EXPECT_EQ(error_code_of(ws), "upgrade_required");
}

// Runs a handler as dispatch would, its thrown ApiError answered as an error response.
FakeExchange call(ServerState& st, Handler h, const std::string& method, const std::string& path,
                  const std::string& body = "", const std::string& query = "") {
  FakeExchange ex(method, path);
  ex.mutable_request().body = body;
  ex.mutable_request().query = query;
  asio::io_context ioc;
  asio::co_spawn(
      ioc,
      [&]() -> awaitable<> {
        std::optional<api::ApiError> error;
        try {
          co_await h(ex, st);
        } catch (const api::ApiError& e) {
          error = e;
        }
        if (error) co_await respond_error(ex, *error);
      },
      asio::detached);
  ioc.run();
  return ex;
}

TEST(ServerRoutes, ConversationsAreCreatedListedSearchedChangedAndDeleted) {
  ServerState st{ServerConfig{}};
  const FakeExchange created = call(st, handle_conversations, "POST", "/v1/conversations",
                                    R"({"title":"Rivers","settings":{"temperature":0.5}})");
  ASSERT_EQ(created.status, 200) << created.body;
  const std::string id = json::parse(created.body)["id"];
  st.conversations().append(id, "user", "How long is the Quisk?");
  call(st, handle_conversations, "POST", "/v1/conversations", R"({"title":"Towns"})");

  json list = json::parse(call(st, handle_conversations, "GET", "/v1/conversations").body);
  EXPECT_EQ(list["data"].size(), 2u);
  list = json::parse(call(st, handle_conversations, "GET", "/v1/conversations", "", "q=the+quisk").body);
  ASSERT_EQ(list["data"].size(), 1u);
  EXPECT_EQ(list["data"][0]["id"], id);
  EXPECT_EQ(list["data"][0]["message_count"], 1);
  EXPECT_EQ(call(st, handle_conversations, "GET", "/v1/conversations", "", "limit=0").status, 400);

  const std::string path = "/v1/conversations/" + id;
  const FakeExchange patched =
      call(st, handle_conversation, "PATCH", path, R"({"title":"Quisk","system_prompt":"Be brief."})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  const json one = json::parse(patched.body);
  EXPECT_EQ(one["title"], "Quisk");
  EXPECT_EQ(one["system_prompt"], "Be brief.");
  EXPECT_EQ(one["settings"]["temperature"], 0.5);
  EXPECT_EQ(one["messages"][0]["content"], "How long is the Quisk?");
  const FakeExchange bad = call(st, handle_conversation, "PATCH", path, R"({"settings":"hot"})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("settings"), std::string::npos);
  EXPECT_EQ(call(st, handle_conversation, "PATCH", path, "[1]").status, 400);

  EXPECT_EQ(call(st, handle_conversation, "DELETE", path).status, 200);
  EXPECT_EQ(call(st, handle_conversation, "GET", path).status, 404);
  EXPECT_EQ(call(st, handle_conversation, "DELETE", path).status, 404);
}

}  // namespace
}  // namespace hayate::server
