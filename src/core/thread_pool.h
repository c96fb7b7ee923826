// A persistent pool of worker threads. parallel_for hands out task indices from an atomic
// counter, so uneven tasks balance themselves and no thread is created per call.
//
// A forward pass calls parallel_for a few hundred times per token, each call a fraction of a
// millisecond: waking a thread through a condition variable costs tens of microseconds each
// time. So workers spin on an atomic generation counter for a short while after each call and
// only then sleep on the condition variable (HAYATE_SPIN_US sets the while, default 50 µs);
// the caller spins (then yields) for the tasks to finish.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hayate {

class ThreadPool {
 public:
  // n_threads counts the calling thread, which also works; 0 means all hardware threads.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(task, thread) for task in [0, n_tasks); thread is in [0, size()). Blocks until
  // all tasks are done. The first exception thrown by a task is rethrown here. Not reentrant:
  // one parallel_for at a time per pool.
  void parallel_for(int64_t n_tasks, const std::function<void(int64_t task, int thread)>& fn);

 private:
  void worker(int thread);
  void run_tasks(int thread);
  bool wants_worker(uint64_t gen, uint64_t seen) const { return gen != seen && (gen & 1) == 0; }

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  // Even: a call is open for workers to join; odd: closed (the caller saw every task done).
  // A worker announces itself in in_flight_ and then re-checks that its generation is still
  // open; the caller closes and then waits for in_flight_ to drop to zero. So the caller never
  // waits for a worker that has not started (one descheduled by other processes), and a late
  // worker never touches the next call's data.
  std::atomic<uint64_t> generation_{1};
  std::atomic<int> in_flight_{0};
  std::atomic<int> sleepers_{0};  // workers blocked on wake_
  bool stop_ = false;             // guarded by mu_
  std::atomic<bool> stopping_{false};
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  int64_t n_tasks_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<bool> failed_{false};
  std::mutex error_mu_;
  std::exception_ptr error_;
};

}  // namespace hayate
