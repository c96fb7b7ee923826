// The micro-batcher alone, over a real engine of a tiny model and an io_context of two threads
// whose coroutines run on strands as the server's connections do: a window that fills is handed
// over at once, one that does not fill when its time is up, a client's requests stay together,
// and a refusal reaches only its own client.
#include "server/micro_batcher.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "core/error.h"
#include "support/engine_support.h"

namespace hayate::server {
namespace {

using namespace std::chrono_literals;

Request embed_request(std::vector<int32_t> tokens) {
  Request r;
  r.kind = RequestKind::Embed;
  r.prompt = std::move(tokens);
  return r;
}

struct Fixture {
  test::TinyModel tiny = test::make_tiny_model("micro-batcher.gguf");
  Engine engine{*tiny.model, make_backend("cpu", 1), nullptr};
  std::mutex mu;
  std::vector<size_t> batches;  // sizes handed over, in order

  // Each client's requests submitted from its own coroutine on its own strand, all started
  // before the threads run; each client's handles (empty when refused) and whether it was refused.
  std::vector<std::pair<std::vector<std::shared_ptr<RequestHandle>>, bool>> run(
      MicroBatcher& batcher, std::vector<std::vector<Request>> clients) {
    asio::io_context ioc;
    std::vector<std::pair<std::vector<std::shared_ptr<RequestHandle>>, bool>> out(clients.size());
    for (size_t i = 0; i < clients.size(); ++i)
      asio::co_spawn(
          asio::make_strand(ioc),
          [&, i]() -> awaitable<> {
            try {
              out[i].first = co_await submit_requests(batcher, engine, std::move(clients[i]), true);
            } catch (const Error&) {
              out[i].second = true;
            }
          },
          asio::detached);
    std::thread second([&] { ioc.run(); });
    ioc.run();
    second.join();
    return out;
  }

  std::function<void(size_t)> observer() {
    return [this](size_t n) {
      std::lock_guard lk(mu);
      batches.push_back(n);
    };
  }
};

std::vector<float> embedding_of(RequestHandle& h) {
  const auto e = h.next(60s);
  EXPECT_TRUE(e && e->kind == Event::Embedding);
  return e ? e->embedding : std::vector<float>{};
}

TEST(MicroBatcher, FullWindowsAreHandedOverAtOnce) {
  Fixture f;
  // A window that would wait a minute: only filling it hands it over, so the test takes no time.
  MicroBatcher batcher(4, 60'000, f.observer());
  std::vector<std::vector<Request>> clients;
  for (int i = 0; i < 8; ++i) clients.push_back({embed_request({1 + i, 2, 3})});
  const auto out = f.run(batcher, std::move(clients));
  EXPECT_EQ(f.batches, (std::vector<size_t>{4, 4}));
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(out[i].first.size(), 1u);
    auto alone = f.engine.submit(embed_request({1 + i, 2, 3}));
    EXPECT_EQ(embedding_of(*out[i].first[0]), embedding_of(*alone)) << i;
  }
}

TEST(MicroBatcher, WindowClosesWhenItsTimeIsUpAndClientsStayTogether) {
  Fixture f;
  MicroBatcher batcher(100, 20, f.observer());
  std::vector<std::vector<Request>> clients;
  clients.push_back({embed_request({5, 6}), embed_request({7}), embed_request({8, 9, 10})});
  clients.push_back({embed_request({11})});
  const auto out = f.run(batcher, std::move(clients));
  size_t total = 0;
  for (size_t n : f.batches) total += n;
  EXPECT_EQ(total, 4u);
  for (size_t n : f.batches) EXPECT_TRUE(n == 4 || n == 3 || n == 1) << "a client's three stay together: " << n;
  ASSERT_EQ(out[0].first.size(), 3u);
  ASSERT_EQ(out[1].first.size(), 1u);
  for (const auto& [handles, refused] : out)
    for (const auto& h : handles) EXPECT_FALSE(embedding_of(*h).empty());
}

TEST(MicroBatcher, ARefusalReachesOnlyItsClient) {
  Fixture f;
  MicroBatcher batcher(3, 60'000, f.observer());
  std::vector<std::vector<Request>> clients;
  clients.push_back({embed_request({1, 2})});
  clients.push_back({embed_request({3}), embed_request({})});  // an empty input: refused
  const auto out = f.run(batcher, std::move(clients));
  EXPECT_EQ(f.batches, (std::vector<size_t>{3}));
  EXPECT_FALSE(out[0].second);
  ASSERT_EQ(out[0].first.size(), 1u);
  EXPECT_FALSE(embedding_of(*out[0].first[0]).empty());
  EXPECT_TRUE(out[1].second) << "the client with the bad input gets the error";
}

TEST(MicroBatcher, OffHandsEachClientOverAlone) {
  Fixture f;
  MicroBatcher batcher(0, 100, f.observer());
  EXPECT_FALSE(batcher.enabled());
  EXPECT_FALSE(MicroBatcher(8, 0, {}).enabled());
  std::vector<std::vector<Request>> clients;
  for (int i = 0; i < 3; ++i) clients.push_back({embed_request({1 + i})});
  const auto out = f.run(batcher, std::move(clients));
  EXPECT_TRUE(f.batches.empty());
  for (const auto& [handles, refused] : out) {
    ASSERT_EQ(handles.size(), 1u);
    EXPECT_FALSE(embedding_of(*handles[0]).empty());
  }
}

}  // namespace
}  // namespace hayate::server
