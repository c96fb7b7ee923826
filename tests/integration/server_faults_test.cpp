// Faults (issue 22) against the real `hayate serve`: SIGTERM while several streams run ends every
// one of them with its final event or an error event (none cut mid-way), and a second server on
// a port already taken stops at once with a message saying so.
#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>

#include "integration/server_harness.h"

namespace hayate::test {
namespace {

using nlohmann::json;

std::string stream_request(int max_tokens) {
  return json({{"messages", {{{"role", "user"}, {"content", "Hi"}}}},
               {"max_tokens", max_tokens},
               {"temperature", 0},
               {"stream", true}})
      .dump();
}

// The data of the last SSE event of a stream body ("" when there is none).
std::string last_event(const std::string& body) {
  const size_t end = body.rfind("\n\n");
  if (end == std::string::npos) return "";
  const size_t start = body.rfind("data: ", end);
  return start == std::string::npos ? "" : body.substr(start + 6, end - start - 6);
}

TEST(ServerFaults, SigtermDuringStreamsEndsEveryStream) {
  // Slow decoding (the reference backend, one thread, a delay per step) so the streams are still
  // running when the signal comes; a short drain so that some are cut.
  ServerProcess s({"--backend", "reference", "-t", "1", "--debug-step-delay-ms", "5", "--drain-timeout", "0.5"});
  constexpr int kStreams = 4;
  std::vector<std::future<HttpResponse>> streams;
  for (int i = 0; i < kStreams; ++i)
    streams.push_back(std::async(std::launch::async, [port = s.port()] {
      return http_post(port, "/v1/chat/completions", stream_request(2000));
    }));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline && s.metrics()["hayate_running_sequences"] < kStreams)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(s.metrics()["hayate_running_sequences"], kStreams);
  s.signal(SIGTERM);
  int cut = 0;
  for (auto& f : streams) {
    const HttpResponse r = f.get();
    ASSERT_EQ(r.status, 200) << r.body;
    const std::string tail = r.body.substr(r.body.size() > 400 ? r.body.size() - 400 : 0);
    // Finished or cut, a stream ends with its final event, [DONE] (not in the middle of tokens).
    EXPECT_EQ(last_event(r.body), "[DONE]") << "the stream ended without its final event: ..." << tail;
    // A cut one says why just before it.
    const size_t at = r.body.find("data: {\"error\"");
    if (at == std::string::npos) continue;
    const json j = json::parse(r.body.substr(at + 6, r.body.find("\n\n", at) - at - 6), nullptr, false);
    ASSERT_TRUE(j.is_object()) << tail;
    EXPECT_EQ(j["error"]["code"], "shutting_down") << tail;
    ++cut;
  }
  EXPECT_GT(cut, 0) << "2000 tokens at 5 ms a step outlast a 0.5 s drain";
  EXPECT_EQ(s.wait_exit(std::chrono::seconds(30)), 0) << s.log();
}

TEST(ServerFaults, SecondInstanceOnTheSamePortIsAClearError) {
  ServerProcess first({});
  const std::string port = std::to_string(first.port());
  const auto r = run_command(kHayate + " serve -m " + tiny_model() + " --port " + port + " 2>&1");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("cannot listen on 127.0.0.1:" + port), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Address already in use"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("pick another --port"), std::string::npos) << r.output;
  EXPECT_EQ(http_get(first.port(), "/health").status, 200) << "the first server keeps serving";
  EXPECT_EQ(first.stop(), 0);
}

}  // namespace
}  // namespace hayate::test
