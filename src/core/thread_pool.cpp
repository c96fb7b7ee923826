#include "core/thread_pool.h"

#include <chrono>
#include <cstdlib>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace hayate {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// How long an idle worker spins before it sleeps: long enough to span the gap between two
// operations of a forward pass, short enough not to hold a core for long when idle. On a
// machine crowded with other processes spinning costs more than it saves (docs/benchmarks.md):
// HAYATE_SPIN_US overrides it (0: sleep at once, as a plain condition-variable pool).
std::chrono::microseconds spin_time() {
  static const std::chrono::microseconds t = [] {
    const char* env = std::getenv("HAYATE_SPIN_US");
    if (env && *env) return std::chrono::microseconds(std::strtol(env, nullptr, 10));
    return std::chrono::microseconds(50);
  }();
  return t;
}

// Spins, then yields: a thread we wait for may need this core (other processes share it).
template <class Done>
void wait_for(Done done) {
  for (int i = 0; !done(); ++i) {
    if (i < 2048)
      cpu_relax();
    else
      std::this_thread::yield();
  }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  for (int t = 1; t < n_threads_; ++t) workers_.emplace_back([this, t] { worker(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    stopping_.store(true);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::run_tasks(int thread) {
  for (;;) {
    const int64_t task = next_.fetch_add(1, std::memory_order_relaxed);
    if (task >= n_tasks_) return;
    if (!failed_.load(std::memory_order_relaxed)) {
      try {
        (*fn_)(task, thread);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu_);
        if (!error_) error_ = std::current_exception();
        failed_.store(true, std::memory_order_relaxed);
      }
    }
    done_.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::worker(int thread) {
  uint64_t seen = generation_.load();
  for (;;) {
    // Spin first: the next call usually follows within microseconds.
    const auto spin_until = std::chrono::steady_clock::now() + spin_time();
    bool got = false;
    for (int i = 0;; ++i) {
      if (wants_worker(generation_.load(std::memory_order_acquire), seen) ||
          stopping_.load(std::memory_order_relaxed)) {
        got = true;
        break;
      }
      cpu_relax();
      if ((i & 63) == 63 && std::chrono::steady_clock::now() > spin_until) break;
    }
    if (!got) {
      std::unique_lock<std::mutex> lock(mu_);
      sleepers_.fetch_add(1);
      wake_.wait(lock, [&] { return stop_ || wants_worker(generation_.load(), seen); });
      sleepers_.fetch_sub(1);
    }
    if (stopping_.load()) return;
    const uint64_t gen = generation_.load();
    if (!wants_worker(gen, seen)) continue;
    in_flight_.fetch_add(1);
    if (generation_.load() == gen) run_tasks(thread);  // else it closed meanwhile: nothing to do
    in_flight_.fetch_sub(1);
    seen = gen;
  }
}

void ThreadPool::parallel_for(int64_t n_tasks, const std::function<void(int64_t, int)>& fn) {
  if (n_tasks <= 0) return;
  if (n_threads_ == 1 || n_tasks == 1) {
    for (int64_t i = 0; i < n_tasks; ++i) fn(i, 0);
    return;
  }
  // Here generation_ is odd (closed) and in_flight_ is 0: no worker reads these.
  fn_ = &fn;
  n_tasks_ = n_tasks;
  next_.store(0, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  failed_.store(false, std::memory_order_relaxed);
  error_ = nullptr;
  // seq_cst publish and sleepers_ load pair with the worker's sleepers_ increment and
  // generation check under mu_: either it sees the new generation or we see it asleep.
  const uint64_t open = generation_.load() + 1;
  generation_.store(open);
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(mu_); }
    wake_.notify_all();
  }
  run_tasks(0);
  wait_for([&] { return done_.load(std::memory_order_acquire) == n_tasks; });
  generation_.store(open + 1);
  wait_for([&] { return in_flight_.load() == 0; });
  fn_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

}  // namespace hayate
