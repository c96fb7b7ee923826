// `hayate serve` answering the OpenAI API: chat (whole and streamed), completions, embeddings,
// models, health, metrics, gzip and CORS, against one real server process.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "api/openai.h"
#include "integration/server_harness.h"

namespace hayate::test {
namespace {

using nlohmann::json;

ServerProcess* server = nullptr;

class ServerApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server = new ServerProcess({"--model-alias", "tiny-test", "--cors-origins", "https://app.example"});
  }
  static void TearDownTestSuite() {
    if (!server) return;  // SetUpTestSuite failed, and said why
    EXPECT_EQ(server->stop(), 0);
    delete server;
    server = nullptr;
  }
  static int port() { return server->port(); }
};

json chat_body(const std::string& user, json extra = json::object()) {
  json body = {{"messages", {{{"role", "user"}, {"content", user}}}}};
  body.update(extra);
  return body;
}

json post_json(const std::string& path, const json& body, int expect_status = 200) {
  const HttpResponse r = http_post(server->port(), path, body.dump());
  EXPECT_EQ(r.status, expect_status) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  return json::parse(r.body);
}

// Every event of a streamed response through the strict parser; the last is not [DONE].
struct Stream {
  HttpResponse head;
  std::vector<json> events;
  bool done = false;
};

Stream stream_chat(const std::string& path, const json& body) {
  HttpClient c("127.0.0.1", server->port());
  Stream s;
  s.head = c.start_stream(path, body.dump());
  api::SseParser parser;
  while (!c.stream_done()) parser.feed(c.read_more());
  parser.finish();
  for (const std::string& e : parser.take_events()) s.events.push_back(json::parse(e));
  s.done = parser.done();
  return s;
}

std::string gunzip(const std::string& data) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  std::string out(1 << 20, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

TEST_F(ServerApi, HealthAndModels) {
  const HttpResponse h = http_get(port(), "/health");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(json::parse(h.body)["status"], "ok");
  EXPECT_FALSE(h.header("x-request-id").empty());
  const json models = json::parse(http_get(port(), "/v1/models").body);
  EXPECT_EQ(models["object"], "list");
  ASSERT_EQ(models["data"].size(), 1u);
  EXPECT_EQ(models["data"][0]["id"], "tiny-test");
  EXPECT_EQ(models["data"][0]["object"], "model");
  EXPECT_EQ(models["data"][0]["owned_by"], "hayate");
}

TEST_F(ServerApi, ChatCompletionWithExactUsage) {
  const json r = post_json("/v1/chat/completions", chat_body("Hello there", {{"max_tokens", 8}, {"seed", 7}}));
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(r["model"], "tiny-test");
  EXPECT_EQ(r["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  ASSERT_EQ(r["choices"].size(), 1u);
  EXPECT_EQ(r["choices"][0]["message"]["role"], "assistant");
  const std::string reason = r["choices"][0]["finish_reason"];
  EXPECT_TRUE(reason == "length" || reason == "stop") << reason;
  const size_t expected_prompt = token_count(tiny_model(), chatml_prompt("Hello there"));
  EXPECT_EQ(r["usage"]["prompt_tokens"], expected_prompt) << "usage must be the tokenizer's count";
  const int completion = r["usage"]["completion_tokens"];
  EXPECT_LE(completion, 8);
  if (reason == "length") {
    EXPECT_EQ(completion, 8);
  }
  EXPECT_EQ(r["usage"]["total_tokens"], expected_prompt + static_cast<size_t>(completion));
}

TEST_F(ServerApi, StreamingMatchesTheWholeResponse) {
  const json body = chat_body("Stream me", {{"max_tokens", 12}, {"seed", 11}, {"temperature", 0.9}});
  const json whole = post_json("/v1/chat/completions", body);
  json streamed_body = body;
  streamed_body["stream"] = true;
  streamed_body["stream_options"] = {{"include_usage", true}};
  const Stream s = stream_chat("/v1/chat/completions", streamed_body);
  EXPECT_EQ(s.head.status, 200);
  EXPECT_EQ(s.head.header("content-type"), "text/event-stream");
  EXPECT_EQ(s.head.header("transfer-encoding"), "chunked");
  ASSERT_TRUE(s.done) << "no [DONE]";
  ASSERT_GE(s.events.size(), 3u);
  EXPECT_EQ(s.events.front()["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  std::string finish;
  for (const json& e : s.events) {
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    EXPECT_EQ(e["id"], s.events.front()["id"]);
    if (e["choices"].empty()) continue;
    const json& delta = e["choices"][0]["delta"];
    if (delta.contains("content")) text += delta["content"].get<std::string>();
    if (!e["choices"][0]["finish_reason"].is_null()) finish = e["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text, whole["choices"][0]["message"]["content"]);
  EXPECT_EQ(finish, whole["choices"][0]["finish_reason"]);
  const json& last = s.events.back();
  EXPECT_TRUE(last["choices"].empty());
  EXPECT_EQ(last["usage"]["completion_tokens"], whole["usage"]["completion_tokens"]);
  EXPECT_EQ(last["usage"]["prompt_tokens"], whole["usage"]["prompt_tokens"]);
}

TEST_F(ServerApi, SameSeedSameText) {
  auto text = [](int seed) {
    const json r = post_json("/v1/chat/completions",
                             chat_body("Tell me", {{"max_tokens", 24}, {"seed", seed}, {"temperature", 1.0}}));
    return r["choices"][0]["message"]["content"].get<std::string>();
  };
  const std::string a = text(42), b = text(42), c = text(43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c) << "a different seed should (almost surely) give different text";
}

TEST_F(ServerApi, NChoicesUseSuccessiveSeeds) {
  const json three = post_json("/v1/chat/completions",
                               chat_body("Pick", {{"max_tokens", 10}, {"seed", 100}, {"n", 3}, {"temperature", 1.0}}));
  ASSERT_EQ(three["choices"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(three["choices"][i]["index"], i);
    const json one = post_json("/v1/chat/completions",
                               chat_body("Pick", {{"max_tokens", 10}, {"seed", 100 + i}, {"temperature", 1.0}}));
    EXPECT_EQ(three["choices"][i]["message"]["content"], one["choices"][0]["message"]["content"]) << "choice " << i;
  }
  EXPECT_EQ(three["usage"]["prompt_tokens"], token_count(tiny_model(), chatml_prompt("Pick"))) << "prompt counted once";
}

TEST_F(ServerApi, StopStringCutsTheText) {
  const json full = post_json("/v1/chat/completions", chat_body("Stop test", {{"max_tokens", 40}, {"temperature", 0}}));
  const std::string text = full["choices"][0]["message"]["content"];
  // A stop string of two printable ASCII characters from the middle of the greedy text.
  size_t at = std::string::npos;
  for (size_t i = 2; i + 1 < text.size() && at == std::string::npos; ++i)
    if (std::isalnum(static_cast<unsigned char>(text[i])) && std::isalnum(static_cast<unsigned char>(text[i + 1])))
      at = i;
  if (at == std::string::npos) GTEST_SKIP() << "no ASCII pair in the greedy text: " << text;
  const std::string stop = text.substr(at, 2);
  const json cut = post_json("/v1/chat/completions",
                             chat_body("Stop test", {{"max_tokens", 40}, {"temperature", 0}, {"stop", {stop}}}));
  EXPECT_EQ(cut["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(cut["choices"][0]["message"]["content"], text.substr(0, text.find(stop)));
}

TEST_F(ServerApi, Logprobs) {
  const json r = post_json("/v1/chat/completions",
                           chat_body("Logprobs", {{"max_tokens", 4}, {"logprobs", true}, {"top_logprobs", 3}}));
  const json& content = r["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), r["usage"]["completion_tokens"].get<size_t>());
  for (const json& t : content) {
    EXPECT_LE(t["logprob"].get<double>(), 0.0);
    ASSERT_EQ(t["top_logprobs"].size(), 3u);
    EXPECT_GE(t["top_logprobs"][0]["logprob"].get<double>(), t["top_logprobs"][2]["logprob"].get<double>());
  }
}

TEST_F(ServerApi, PrefixCacheReportsCachedTokens) {
  const std::string hits = "hayate_prefix_cache_hit_tokens_total";
  const double hits_before = server->metrics()[hits];
  const std::string user(200, 'x');
  post_json("/v1/chat/completions", chat_body(user, {{"max_tokens", 1}}));
  const json second = post_json("/v1/chat/completions", chat_body(user, {{"max_tokens", 1}}));
  const int cached = second["usage"]["prompt_tokens_details"]["cached_tokens"];
  EXPECT_GE(cached, 192);
  // The same hit in /metrics: the hit-token counter grew by the cached tokens, and the ratio is
  // hit / (hit + miss) of all prompt tokens so far.
  const auto m = server->metrics();
  EXPECT_GE(m.at(hits) - hits_before, cached);
  const double hit = m.at(hits), miss = m.at("hayate_prefix_cache_miss_tokens_total");
  EXPECT_GT(m.at("hayate_prefix_cache_hit_ratio"), 0);
  EXPECT_NEAR(m.at("hayate_prefix_cache_hit_ratio"), hit / (hit + miss), 1e-9);
}

TEST_F(ServerApi, Completions) {
  const json r = post_json("/v1/completions", {{"prompt", "Once upon"}, {"max_tokens", 5}, {"seed", 1}});
  EXPECT_EQ(r["object"], "text_completion");
  EXPECT_EQ(r["usage"]["prompt_tokens"], token_count(tiny_model(), "Once upon", true)) << "BOS added";
  const json echo =
      post_json("/v1/completions", {{"prompt", "Once upon"}, {"max_tokens", 5}, {"seed", 1}, {"echo", true}});
  EXPECT_EQ(echo["choices"][0]["text"], "Once upon" + r["choices"][0]["text"].get<std::string>());
  const json two = post_json("/v1/completions", {{"prompt", {"a", "b"}}, {"max_tokens", 2}, {"n", 2}});
  EXPECT_EQ(two["choices"].size(), 4u);
}

TEST_F(ServerApi, Embeddings) {
  const json r = post_json("/v1/embeddings", {{"input", {"hello world", "something else", "hello world"}}});
  ASSERT_EQ(r["data"].size(), 3u);
  std::vector<std::vector<double>> v;
  for (const json& d : r["data"]) v.push_back(d["embedding"].get<std::vector<double>>());
  ASSERT_EQ(v[0].size(), 128u);
  for (const auto& e : v) {
    double norm = 0;
    for (double x : e) norm += x * x;
    EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-5);
  }
  EXPECT_EQ(v[0], v[2]) << "same input, same vector";
  EXPECT_NE(v[0], v[1]);
  const json again = post_json("/v1/embeddings", {{"input", "hello world"}});
  EXPECT_EQ(again["data"][0]["embedding"].get<std::vector<double>>(), v[0]);
  EXPECT_EQ(r["usage"]["prompt_tokens"],
            2 * token_count(tiny_model(), "hello world", true) + token_count(tiny_model(), "something else", true));
}

TEST_F(ServerApi, GzipWhenAcceptedAndLarge) {
  const std::string body = json({{"input", "compress me"}}).dump();
  const HttpResponse plain = http_post(port(), "/v1/embeddings", body);
  EXPECT_EQ(plain.header("content-encoding"), "");
  const HttpResponse zipped = http_post(port(), "/v1/embeddings", body, {{"Accept-Encoding", "gzip, deflate"}});
  ASSERT_EQ(zipped.status, 200);
  EXPECT_EQ(zipped.header("content-encoding"), "gzip");
  EXPECT_LT(zipped.body.size(), plain.body.size());
  EXPECT_EQ(json::parse(gunzip(zipped.body))["data"], json::parse(plain.body)["data"]);
  const HttpResponse small = http_get(port(), "/health", {{"Accept-Encoding", "gzip"}});
  EXPECT_EQ(small.header("content-encoding"), "") << "bodies under 1 KiB stay plain";
}

TEST_F(ServerApi, CorsPreflightAndHeaders) {
  HttpClient c("127.0.0.1", port());
  const HttpResponse pre = c.request("OPTIONS", "/v1/chat/completions", "",
                                     {{"Origin", "https://app.example"},
                                      {"Access-Control-Request-Method", "POST"},
                                      {"Access-Control-Request-Headers", "authorization, content-type"}});
  EXPECT_EQ(pre.status, 204);
  EXPECT_EQ(pre.header("access-control-allow-origin"), "https://app.example");
  EXPECT_NE(pre.header("access-control-allow-methods").find("POST"), std::string::npos);
  EXPECT_NE(pre.header("access-control-allow-headers").find("Authorization"), std::string::npos);
  const HttpResponse other = c.request("OPTIONS", "/v1/chat/completions", "", {{"Origin", "https://evil.example"}});
  EXPECT_EQ(other.header("access-control-allow-origin"), "");
  const HttpResponse get = c.get("/v1/models", {{"Origin", "https://app.example"}});
  EXPECT_EQ(get.header("access-control-allow-origin"), "https://app.example");
}

TEST_F(ServerApi, KeepAliveServesSeveralRequestsOnOneConnection) {
  HttpClient c("127.0.0.1", port());
  for (int i = 0; i < 3; ++i) {
    const HttpResponse r = c.post("/v1/chat/completions", chat_body("again", {{"max_tokens", 2}}).dump());
    EXPECT_EQ(r.status, 200);
  }
}

TEST_F(ServerApi, MetricsExposition) {
  post_json("/v1/chat/completions", chat_body("metrics", {{"max_tokens", 3}}));
  // A request is counted once its last byte is written, so just after the client has read it.
  const std::string counter = "hayate_requests_total{route=\"/v1/chat/completions\",status=\"200\"}";
  // The server is shared by this fixture's tests: a stream an earlier test cancelled may still be
  // ending, so the loop also waits (a second at most) until nothing runs.
  auto m = server->metrics();
  auto zero = [&](const char* name) {  // find, not [], which would add the series
    const auto it = m.find(name);
    return it != m.end() && it->second == 0;
  };
  auto settled = [&] { return m.count(counter) && zero("hayate_running_sequences") && zero("hayate_kv_blocks_active"); };
  for (int i = 0; i < 200 && !settled(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    m = server->metrics();
  }
  EXPECT_GE(m[counter], 1);
  for (const char* name : {"hayate_request_duration_seconds_count",
                           "hayate_time_to_first_token_seconds_count",
                           "hayate_inter_token_latency_seconds_count",
                           "hayate_prompt_tokens_total",
                           "hayate_generation_tokens_total",
                           "hayate_queue_depth",
                           "hayate_running_sequences",
                           "hayate_batch_size",
                           "hayate_kv_blocks_used",
                           "hayate_kv_blocks_free",
                           "hayate_kv_blocks_cached",
                           "hayate_prefix_cache_hit_tokens_total",
                           "hayate_prefix_cache_miss_tokens_total",
                           "hayate_prefix_cache_hit_ratio",
                           "hayate_model_load_seconds",
                           "hayate_kv_blocks_active",
                           "hayate_batch_sequences",
                           "hayate_engine_healthy",
                           "hayate_write_timeouts_total",
                           "hayate_sequences_finished_total{reason=\"length\"}",
                           "hayate_sequences_finished_total{reason=\"stop\"}",
                           "hayate_sequences_finished_total{reason=\"cancelled\"}",
                           "hayate_sequences_finished_total{reason=\"error\"}"})
    EXPECT_TRUE(m.count(name)) << name << " missing from /metrics";
  EXPECT_GE(m.at("hayate_time_to_first_token_seconds_count"), 1);
  EXPECT_GE(m.at("hayate_generation_tokens_total"), 3);
  EXPECT_EQ(m.at("hayate_running_sequences"), 0);
  EXPECT_EQ(m.at("hayate_kv_blocks_active"), 0) << "nothing runs";
  EXPECT_GT(m.at("hayate_model_load_seconds"), 0);
  EXPECT_EQ(m.at("hayate_engine_healthy"), 1);
  EXPECT_GE(m.at("hayate_sequences_finished_total{reason=\"length\"}") +
                m.at("hayate_sequences_finished_total{reason=\"stop\"}"),
            1);
  EXPECT_GE(m.at("hayate_batch_sequences"), 1) << "the last step had at least this request";
  const HttpResponse raw = http_get(port(), "/metrics");
  EXPECT_NE(raw.header("content-type").find("text/plain"), std::string::npos);
  EXPECT_NE(raw.body.find("# TYPE hayate_time_to_first_token_seconds histogram"), std::string::npos);
}

}  // namespace
}  // namespace hayate::test
