// The micro-batcher (issue 18): non-streamed task requests and embeddings that arrive within a
// short window are handed to the engine together (Engine::submit_together, one wake-up of its
// loop), so their prompts are prefilled in one step instead of one after another as each
// connection happens to submit. A window opens with its first request and closes after
// `wait_ms` or once it holds `max_batch` engine requests, whichever comes first.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/engine.h"
#include "net/asio.h"

namespace hayate::server {

class MicroBatcher {
 public:
  // on_batch: told the number of engine requests of each batch handed over (for /metrics).
  // max_batch or wait_ms 0: off (submit hands each client's requests over at once).
  MicroBatcher(int32_t max_batch, double wait_ms, std::function<void(size_t)> on_batch);

  bool enabled() const { return max_batch_ > 0 && wait_ > std::chrono::steady_clock::duration::zero(); }

  // One client's requests (kept together in one batch), handed over with the others of its
  // window; resumes on the caller's executor once they are queued. Each gets a handle or the
  // error Engine::submit would have thrown for it.
  awaitable<std::vector<Engine::Submitted>> submit(Engine& engine, std::vector<Request> requests);

 private:
  struct Waiter;
  struct Window;
  void hand_over(Window& window);

  const int32_t max_batch_;
  const std::chrono::steady_clock::duration wait_;
  const std::function<void(size_t)> on_batch_;
  std::mutex mu_;
  std::shared_ptr<Window> open_;  // the window requests join; null when none is open
};

// A handler's engine requests, their handles in order: through the micro-batcher when
// `batched`, else submitted one by one. On any refusal the ones already queued are cancelled and
// the first refusal is thrown (429 for a full queue, 503 while shutting down).
awaitable<std::vector<std::shared_ptr<RequestHandle>>> submit_requests(MicroBatcher& batcher, Engine& engine,
                                                                       std::vector<Request> requests, bool batched);

}  // namespace hayate::server
