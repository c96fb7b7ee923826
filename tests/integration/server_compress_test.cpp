// /v1/compress, /v1/decompress and /v1/compress/batch on the embedded demo model: exact round
// trips in JSON, base64 and raw bytes; semantic files with their quality; the cache, the
// fallback chain, the routes' own rate limit (429 + Retry-After), the slow-request log and the
// seed's metric names; clear 400s for damaged or foreign files.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "integration/server_harness.h"
#include "support/compress_corpus.h"

namespace hayate::test {
namespace {

using nlohmann::json;

std::string b64(const std::string& s) {
  return base64_encode(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}
std::string unb64(const std::string& s) {
  const std::vector<uint8_t> b = base64_decode(s);
  return std::string(b.begin(), b.end());
}

ServerProcess* server = nullptr;

class ServerCompress : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server = new ServerProcess({"--compress-slow-ms", "0", "--compress-rate-limit-rpm", "0"}, {}, true, false);
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(server->stop(), 0);
    delete server;
    server = nullptr;
  }
  static json post(const std::string& path, const json& body, int expect = 200) {
    const HttpResponse r = http_post(server->port(), path, body.dump());
    EXPECT_EQ(r.status, expect) << r.body;
    return json::parse(r.body);
  }
};

TEST_F(ServerCompress, CorpusRoundTripsAsTextAndAsBase64) {
  for (const auto& [name, text] : compress_corpus()) {
    SCOPED_TRACE(name);
    const json c = post("/v1/compress", {{"data", b64(text)}});
    EXPECT_EQ(c["method"], "model");
    EXPECT_EQ(c["step"], "cpu");
    const json d = post("/v1/decompress", {{"data", c["data"]}});
    EXPECT_EQ(unb64(d["data"]), text);
    EXPECT_EQ(d["semantic"], false);
  }
  const json c = post("/v1/compress", {{"text", prose()}});
  EXPECT_GT(c["ratio"].get<double>(), 2.0);
  EXPECT_EQ(post("/v1/decompress", {{"data", c["data"]}})["text"], prose());
}

TEST_F(ServerCompress, RawBytesInAndOut) {
  const std::string bytes = invalid_utf8() + " sent raw";  // (not in the corpus: no cache hit)
  const HeaderList binary = {{"Content-Type", "application/octet-stream"}, {"Accept", "application/octet-stream"}};
  HttpClient client("127.0.0.1", server->port());
  const HttpResponse c = client.request("POST", "/v1/compress", bytes, binary);
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(c.header("x-hayate-step"), "cpu");
  const HttpResponse d = client.request("POST", "/v1/decompress", c.body, binary);
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(d.body, bytes);
}

TEST_F(ServerCompress, SemanticFilesCarryTheirQualityAndReconstruct) {
  std::string text;
  for (int i = 0; i < 4; ++i) text += prose();
  const json c = post("/v1/compress", {{"text", text}, {"mode", "semantic"}, {"lead_tokens", 12}});
  EXPECT_EQ(c["method"], "semantic");
  EXPECT_GE(c["quality"]["cosine"].get<double>(), 0.5);
  EXPECT_GT(c["tokens_saved"].get<int64_t>(), 0);
  const json d = post("/v1/decompress", {{"data", c["data"]}});
  EXPECT_EQ(d["semantic"], true);
  EXPECT_FALSE(d["text"].get<std::string>().empty());
  EXPECT_GE(server->metrics()["reconstruction_latency_seconds_count"], 1);
}

TEST_F(ServerCompress, SecondRequestComesFromTheCache) {
  const json body = {{"text", "a text that is asked for twice " + code()}};
  EXPECT_EQ(post("/v1/compress", body)["cached"], false);
  const json again = post("/v1/compress", body);
  EXPECT_EQ(again["cached"], true);
  EXPECT_EQ(again["step"], "cache");
  auto m = server->metrics();
  EXPECT_GT(m["compression_cache_hit_rate"], 0);
  EXPECT_GE(m["compression_cache_hits_total"], 1);
}

TEST_F(ServerCompress, DamagedForeignAndMalformedInputsAre400s) {
  const json c = post("/v1/compress", {{"text", prose()}});
  std::string file = unb64(c["data"]);
  file[file.size() / 2] ^= 0x40;
  const json damaged = post("/v1/decompress", {{"data", b64(file)}}, 400);
  EXPECT_NE(damaged["error"]["message"].get<std::string>().find("damaged"), std::string::npos) << damaged;
  const json foreign = post("/v1/decompress", {{"data", b64("GIF89a not ours")}}, 400);
  EXPECT_NE(foreign["error"]["message"].get<std::string>().find("not hayate compressed data"), std::string::npos);
  post("/v1/decompress", {{"data", "***"}}, 400);
  post("/v1/compress", {{"text", "x"}, {"data", "eA=="}}, 400);
  post("/v1/compress", {{"text", "x"}, {"mode", "lossy"}}, 400);
}

TEST_F(ServerCompress, BatchReportsEachItemAndGroupsThem) {
  const json r = post("/v1/compress/batch", {{"items", json::array({{{"id", "a"}, {"text", prose()}},
                                                                    {{"id", "b"}, {"data", "not base64!"}},
                                                                    {{"id", "c"}, {"text", code()}},
                                                                    {{"id", "d"}, {"text", prose() + prose()}}})}});
  EXPECT_EQ(r["succeeded"], 3);
  EXPECT_EQ(r["failed"], 1);
  EXPECT_GE(r["groups"].get<int>(), 1);
  ASSERT_EQ(r["results"].size(), 4u);
  EXPECT_EQ(r["results"][1]["id"], "b");
  EXPECT_EQ(r["results"][1]["ok"], false);
  EXPECT_NE(r["results"][1]["error"].get<std::string>().find("base64"), std::string::npos);
  EXPECT_EQ(post("/v1/decompress", {{"data", r["results"][2]["data"]}})["text"], code());
}

TEST_F(ServerCompress, SlowRequestsAreLoggedAndMetricsUseTheSeedsNames) {
  post("/v1/compress", {{"text", json_text()}});
  EXPECT_NE(server->log().find("slow compression"), std::string::npos);
  const auto m = server->metrics();
  for (const char* name :
       {"compression_latency_seconds_count", "reconstruction_latency_seconds_count", "compression_ratio_count",
        "quality_score_count", "throughput_per_minute", "compression_cache_hit_rate", "quality_alert_threshold",
        "tokens_saved_total", "cost_saving_total", "compression_slow_requests_total"})
    EXPECT_TRUE(m.count(name)) << name;
  EXPECT_DOUBLE_EQ(m.at("quality_alert_threshold"), 0.85);
  EXPECT_GE(m.at("throughput_per_minute"), 1);
}

TEST(ServerCompressLimits, RateLimitAnswers429WithRetryAfter) {
  ServerProcess s({"--compress-rate-limit-rpm", "1", "--compress-rate-limit-burst", "2"}, {}, true, false);
  const std::string body = json({{"text", "hello"}}).dump();
  EXPECT_EQ(http_post(s.port(), "/v1/compress", body).status, 200);
  EXPECT_EQ(http_post(s.port(), "/v1/compress", body).status, 200);
  const HttpResponse r = http_post(s.port(), "/v1/compress", body);
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_GE(std::stoi(r.header("retry-after")), 1);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "rate_limit_exceeded");
  EXPECT_EQ(http_get(s.port(), "/v1/models").status, 200) << "only the compression routes are limited";
  EXPECT_EQ(s.stop(), 0);
}

TEST(ServerCompressLimits, FallbackChainEndsInZstdAndSaysSo) {
  ServerProcess s({"--compress-debug-fail-steps", "cpu", "--compress-retries", "1"}, {}, true, false);
  const HttpResponse r = http_post(s.port(), "/v1/compress", json({{"text", prose()}}).dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const json c = json::parse(r.body);
  EXPECT_EQ(c["step"], "zstd");
  EXPECT_EQ(c["method"], "zstd");
  ASSERT_EQ(c["fallbacks"].size(), 1u);
  EXPECT_NE(c["fallbacks"][0].get<std::string>().find("cpu"), std::string::npos);
  const HttpResponse d = http_post(s.port(), "/v1/decompress", json({{"data", c["data"]}}).dump());
  EXPECT_EQ(json::parse(d.body)["text"], prose());
  EXPECT_EQ(s.metrics()["compression_fallbacks_total{step=\"zstd\"}"], 1);
  EXPECT_EQ(s.stop(), 0);
}

}  // namespace
}  // namespace hayate::test
