// The micro-batcher (issue 18) on the real server: 50 concurrent small task or embedding requests
// are handed to the engine in batches (the batch-size histogram of /metrics shows batches of more
// than one), and each answer is exactly the answer of the same request sent alone (greedy; the
// kernels are batch invariant). The speed it buys is a benchmark (bench/micro_batch.sh).
#include <latch>
#include <nlohmann/json.hpp>

#include "server_harness.h"

namespace hayate::test {
namespace {

using json = nlohmann::json;

constexpr int kClients = 50;

// Each body sent by its own client thread, all released at once; the answers in order.
std::vector<HttpResponse> send_concurrently(int port, const std::string& path, const std::vector<std::string>& bodies) {
  std::vector<HttpResponse> out(bodies.size());
  std::latch start(static_cast<std::ptrdiff_t>(bodies.size()));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < bodies.size(); ++i)
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      out[i] = http_post(port, path, bodies[i]);
    });
  for (std::thread& t : threads) t.join();
  return out;
}

// What /metrics says of the batches handed over: their number, their summed size, and how many
// held one request only.
struct Batches {
  double count = 0, requests = 0, singles = 0, counter = 0;
};
Batches batches(const ServerProcess& s) {
  const auto m = s.metrics();
  auto get = [&](const std::string& k) { return m.count(k) ? m.at(k) : -1.0; };
  return {get("hayate_micro_batch_size_count"), get("hayate_micro_batch_size_sum"),
          get("hayate_micro_batch_size_bucket{le=\"1\"}"), get("hayate_micro_batches_total")};
}

void expect_batched_and_equal(const std::string& path, const std::vector<std::string>& bodies) {
  // The same requests one at a time, on a server that does not micro-batch: the answers alone.
  ServerProcess alone({"--micro-batch-max", "0"});
  std::vector<json> want;
  for (const std::string& b : bodies) {
    const HttpResponse r = http_post(alone.port(), path, b);
    ASSERT_EQ(r.status, 200) << r.body;
    want.push_back(json::parse(r.body));
  }
  EXPECT_EQ(batches(alone).counter, 0) << "micro-batching off hands nothing over in batches";

  // A window long enough that clients released together always meet in it.
  ServerProcess server({"--micro-batch-max", "8", "--micro-batch-wait-ms", "500"});
  const std::vector<HttpResponse> got = send_concurrently(server.port(), path, bodies);
  for (size_t i = 0; i < bodies.size(); ++i) {
    ASSERT_EQ(got[i].status, 200) << got[i].body;
    json g = json::parse(got[i].body);
    json w = want[i];
    // How much of the prompt the prefix cache held depends on what ran before, not the answer.
    for (json* j : {&g, &w})
      if (j->contains("usage")) (*j)["usage"].erase("prompt_tokens_details");
    EXPECT_EQ(g, w) << "request " << i << " answered differently in a batch";
  }
  const Batches b = batches(server);
  EXPECT_EQ(b.requests, kClients) << "every request went through the micro-batcher";
  EXPECT_EQ(b.counter, b.count);
  EXPECT_LT(b.singles, b.count) << "some batch held more than one request";
  EXPECT_GE(b.count, kClients / 8.0) << "no batch holds more than micro_batch_max";
}

TEST(MicroBatch, ConcurrentClassifyRequestsShareStepsAndAnswerAsAlone) {
  std::vector<std::string> bodies;
  for (int i = 0; i < kClients; ++i)
    bodies.push_back(
        json{{"text", "Ticket " + std::to_string(i) + ": my order " + std::string(i % 7, '!') + " is late"},
             {"labels", {"billing", "shipping", "other"}}}
            .dump());
  expect_batched_and_equal("/v1/tasks/classify", bodies);
}

TEST(MicroBatch, ConcurrentEmbeddingsShareStepsAndAnswerAsAlone) {
  std::vector<std::string> bodies;
  for (int i = 0; i < kClients; ++i)
    bodies.push_back(json{{"input", "sentence number " + std::to_string(i * 37) + " about cats"}}.dump());
  expect_batched_and_equal("/v1/embeddings", bodies);
}

TEST(MicroBatch, BadWindowSettingsAreRefusedByName) {
  const auto r = run_command(kHayate + " serve --micro-batch-wait-ms -1 --print-config 2>&1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("micro_batch_wait_ms"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace hayate::test
