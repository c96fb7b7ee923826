#include "server/micro_batcher.h"

#include <atomic>
#include <cstddef>
#include <iterator>
#include <utility>

namespace hayate::server {

using Clock = std::chrono::steady_clock;

// A client waiting for its requests to be handed over. Its timer lives here, not in the
// coroutine's frame, so that a wake-up posted after the coroutine has gone finds it still alive.
struct MicroBatcher::Waiter {
  Waiter(asio::any_io_executor executor, std::vector<Request> r) : requests(std::move(r)), timer(std::move(executor)) {}
  std::vector<Request> requests;
  std::vector<Engine::Submitted> result;  // written before `done`
  std::atomic<bool> done{false};
  asio::steady_timer timer;  // touched only on the waiter's executor (a connection's strand)
};

struct MicroBatcher::Window {
  Engine* engine;
  Clock::time_point closes;
  std::vector<std::shared_ptr<Waiter>> waiters;
  size_t n_requests = 0;
};

MicroBatcher::MicroBatcher(int32_t max_batch, double wait_ms, std::function<void(size_t)> on_batch)
    : max_batch_(max_batch),
      wait_(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(wait_ms))),
      on_batch_(std::move(on_batch)) {}

awaitable<std::vector<Engine::Submitted>> MicroBatcher::submit(Engine& engine, std::vector<Request> requests) {
  if (!enabled()) co_return engine.submit_together(std::move(requests));
  const auto w = std::make_shared<Waiter>(co_await asio::this_coro::executor, std::move(requests));
  std::shared_ptr<Window> mine, other_engine, full;
  {
    std::lock_guard lk(mu_);
    if (open_ && open_->engine != &engine) other_engine = std::exchange(open_, nullptr);  // a model reloaded
    if (!open_) open_ = std::make_shared<Window>(Window{&engine, Clock::now() + wait_, {}, 0});
    mine = open_;
    mine->waiters.push_back(w);
    mine->n_requests += w->requests.size();
    if (mine->n_requests >= static_cast<size_t>(max_batch_)) full = std::exchange(open_, nullptr);
  }
  if (other_engine) hand_over(*other_engine);
  if (full) hand_over(*full);
  Clock::time_point until = mine->closes;
  while (!w->done.load(std::memory_order_acquire)) {
    w->timer.expires_at(until);
    boost::system::error_code ec;
    co_await w->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (w->done.load(std::memory_order_acquire) || Clock::now() < until) continue;
    std::shared_ptr<Window> due;
    {
      std::lock_guard lk(mu_);
      if (open_ == mine) due = std::exchange(open_, nullptr);
    }
    if (due)
      hand_over(*due);
    else  // another thread is handing it over right now; its wake-up may have come before this wait
      until = Clock::now() + std::chrono::milliseconds(1);
  }
  co_return std::move(w->result);
}

void MicroBatcher::hand_over(Window& window) {
  std::vector<Request> all;
  all.reserve(window.n_requests);
  for (const auto& w : window.waiters)
    for (Request& r : w->requests) all.push_back(std::move(r));
  std::vector<Engine::Submitted> subs;
  try {
    subs = window.engine->submit_together(std::move(all));
  } catch (...) {  // (allocation) every request of the window gets the error
    subs.assign(window.n_requests, Engine::Submitted{nullptr, std::current_exception()});
  }
  if (on_batch_) on_batch_(subs.size());
  size_t at = 0;
  for (const auto& w : window.waiters) {
    const size_t n = w->requests.size();
    w->result.assign(std::make_move_iterator(subs.begin() + static_cast<std::ptrdiff_t>(at)),
                     std::make_move_iterator(subs.begin() + static_cast<std::ptrdiff_t>(at + n)));
    at += n;
    w->done.store(true, std::memory_order_release);
    asio::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
  }
}

awaitable<std::vector<std::shared_ptr<RequestHandle>>> submit_requests(MicroBatcher& batcher, Engine& engine,
                                                                       std::vector<Request> requests, bool batched) {
  std::vector<std::shared_ptr<RequestHandle>> handles;
  if (!batched) {
    try {
      for (Request& r : requests) handles.push_back(engine.submit(std::move(r)));
    } catch (...) {
      for (const auto& h : handles) h->cancel();
      throw;
    }
    co_return handles;
  }
  std::vector<Engine::Submitted> subs = co_await batcher.submit(engine, std::move(requests));
  std::exception_ptr refused;
  for (Engine::Submitted& s : subs) {
    if (s.error && !refused) refused = s.error;
    handles.push_back(std::move(s.handle));
  }
  if (refused) {
    for (const auto& h : handles)
      if (h) h->cancel();
    std::rethrow_exception(refused);
  }
  co_return handles;
}

}  // namespace hayate::server
