// What the web page needs of the real server beyond the WebSocket (issue 16): the SSE fallback's
// turn route (the user's turn answered with the chat request the page streams, the answer and its
// citations kept), a conversation store that cannot be reached refused at start by its address,
// and the GPU figures of /metrics: present with an NVML library (a stand-in with one GPU, as the
// test machines have none), absent without one.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server_harness.h"
#include "support/services.h"

using namespace hayate::test;
using nlohmann::json;

namespace {

json post_json(int port, const std::string& target, const json& body, int want = 200) {
  const auto r = http_post(port, target, body.dump(), {{"Content-Type", "application/json"}});
  EXPECT_EQ(r.status, want) << target << ": " << r.body;
  return json::parse(r.body, nullptr, false);
}

TEST(WebChat, TheFallbackTurnRouteKeepsTheTurnAndReturnsTheRequest) {
  ServerProcess s({"--chat-default-max-tokens", "7", "--conversation-max-messages", "2"});
  const json conv = post_json(s.port(), "/v1/conversations", {{"title", "t"}, {"system_prompt", "Be brief."}});
  const std::string id = conv["id"], messages = "/v1/conversations/" + id + "/messages";
  json turn = post_json(s.port(), messages, {{"role", "user"}, {"content", "Who is Milo?"}, {"temperature", 0.5}});
  EXPECT_EQ(turn["conversation_id"], id);
  EXPECT_EQ(turn["dropped"], 0);
  const json& rq = turn["request"];
  EXPECT_EQ(rq["stream"], true);
  EXPECT_EQ(rq["max_tokens"], 7);  // the server's chat default
  EXPECT_EQ(rq["temperature"], 0.5);
  ASSERT_EQ(rq["messages"].size(), 2u);
  EXPECT_EQ(rq["messages"][0]["content"], "Be brief.");
  EXPECT_EQ(rq["messages"][1]["content"], "Who is Milo?");
  // The request is one /v1/chat/completions takes as it is.
  const auto answer = http_post(s.port(), "/v1/chat/completions", rq.dump(), {{"Content-Type", "application/json"}});
  EXPECT_EQ(answer.status, 200);
  EXPECT_NE(answer.body.find("data: [DONE]"), std::string::npos);

  const json cited = json::array({{{"index", 1}, {"document_id", "milo.txt"}, {"text", "Milo is the miller."}}});
  post_json(s.port(), messages, {{"role", "assistant"}, {"content", "The miller."}, {"citations", cited}});
  turn = post_json(s.port(), messages, {{"role", "user"}, {"content", "And the towns?"}});
  EXPECT_EQ(turn["dropped"], 1);  // three messages, at most two sent
  const json stored = json::parse(http_get(s.port(), "/v1/conversations/" + id).body);
  ASSERT_EQ(stored["messages"].size(), 3u);
  EXPECT_EQ(stored["messages"][1]["citations"], cited);
  EXPECT_FALSE(stored["messages"][0].contains("citations"));

  // keep: an edit drops what follows the kept messages.
  post_json(s.port(), messages, {{"role", "user"}, {"content", "Who is Lina?"}, {"keep", 0}});
  EXPECT_EQ(json::parse(http_get(s.port(), "/v1/conversations/" + id).body)["messages"].size(), 1u);

  EXPECT_NE(post_json(s.port(), messages, {{"role", "system"}, {"content", "x"}}, 400).dump().find("'role'"),
            std::string::npos);
  EXPECT_NE(post_json(s.port(), messages, {{"role", "assistant"}, {"content", "x"}, {"citations", "no"}}, 400)
                .dump()
                .find("'citations' must be an array"),
            std::string::npos);
  post_json(s.port(), "/v1/conversations/conv-none/messages", {{"role", "user"}, {"content", "x"}}, 404);
}

// The model a turn names becomes the conversation's stored setting before the answer (the page's
// picker sends it with each turn; a reload continues with it), the other settings kept.
TEST(WebChat, ATurnsModelBecomesTheConversationsSetting) {
  ServerProcess s({});
  const json conv = post_json(s.port(), "/v1/conversations", {{"title", "t"}});
  const std::string id = conv["id"], path = "/v1/conversations/" + id;
  const auto patch = HttpClient("127.0.0.1", s.port())
                         .request("PATCH", path, json{{"settings", {{"temperature", 0.3}}}}.dump(),
                                  {{"Content-Type", "application/json"}});
  ASSERT_EQ(patch.status, 200) << patch.body;
  const json turn = post_json(s.port(), path + "/messages", {{"role", "user"}, {"content", "Hi"}, {"model", "other"}});
  EXPECT_EQ(turn["request"]["model"], "other");
  json settings = json::parse(http_get(s.port(), path).body)["settings"];
  EXPECT_EQ(settings["model"], "other");
  EXPECT_EQ(settings["temperature"], 0.3);
  // A turn without a model leaves the stored one.
  post_json(s.port(), path + "/messages", {{"role", "user"}, {"content", "Again"}});
  settings = json::parse(http_get(s.port(), path).body)["settings"];
  EXPECT_EQ(settings["model"], "other");
}

TEST(WebChat, AnUnreachableStoreStopsTheServerNamingIt) {
  const std::string url = "redis://127.0.0.1:" + std::to_string(free_port());
  ServerProcess s({"--conversations-db", url}, {}, false);
  const auto code = s.wait_exit(std::chrono::seconds(30));
  ASSERT_TRUE(code) << "the server should stop: " << s.log();
  EXPECT_NE(*code, 0);
  EXPECT_NE(s.log().find(url + " cannot be reached"), std::string::npos) << s.log();
}

TEST(WebChat, GpuFiguresComeFromNvmlAndAreAbsentWithoutIt) {
  ServerProcess with({"--gpu-metrics-library", HAYATE_FAKE_NVML});
  const auto m = with.metrics();
  ASSERT_TRUE(m.count("hayate_gpu_memory_used_bytes{gpu=\"0\"}")) << http_get(with.port(), "/metrics").body;
  EXPECT_EQ(m.at("hayate_gpu_memory_used_bytes{gpu=\"0\"}"), 12884901888.0);
  EXPECT_EQ(m.at("hayate_gpu_memory_total_bytes{gpu=\"0\"}"), 85899345920.0);
  EXPECT_DOUBLE_EQ(m.at("hayate_gpu_utilization_ratio{gpu=\"0\"}"), 0.42);

  ServerProcess without({"--gpu-metrics-library", "/nonexistent/libnvidia-ml.so.1"});
  EXPECT_EQ(http_get(without.port(), "/metrics").body.find("hayate_gpu_"), std::string::npos);
}

}  // namespace
