// The spinning thread pool: every task runs exactly once per call, on a valid thread index,
// across many back-to-back calls (workers spinning) and calls after idle gaps (workers asleep);
// a task's exception reaches the caller and the pool stays usable.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

namespace hayate {
namespace {

void expect_each_task_once(ThreadPool& pool, int64_t n_tasks) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n_tasks));
  std::atomic<bool> bad_thread{false};
  pool.parallel_for(n_tasks, [&](int64_t t, int thread) {
    if (thread < 0 || thread >= pool.size()) bad_thread = true;
    hits[static_cast<size_t>(t)].fetch_add(1);
  });
  EXPECT_FALSE(bad_thread);
  for (int64_t t = 0; t < n_tasks; ++t) ASSERT_EQ(hits[static_cast<size_t>(t)].load(), 1) << "task " << t;
}

TEST(ThreadPool, ManyBackToBackCallsRunEveryTaskOnce) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int call = 0; call < 2000; ++call) expect_each_task_once(pool, 1 + call % 37);
  }
}

TEST(ThreadPool, CallsAfterIdleGapsWakeSleepingWorkers) {
  ThreadPool pool(3);
  for (int call = 0; call < 5; ++call) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // longer than the spin time
    expect_each_task_once(pool, 64);
  }
}

TEST(ThreadPool, WorkIsSharedBetweenThreads) {
  ThreadPool pool(2);
  std::atomic<int> by_worker{0};
  for (int call = 0; call < 50 && by_worker == 0; ++call)
    pool.parallel_for(64, [&](int64_t, int thread) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      if (thread == 1) by_worker.fetch_add(1);
    });
  EXPECT_GT(by_worker.load(), 0);
}

TEST(ThreadPool, ExceptionReachesCallerAndPoolStaysUsable) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(100,
                                 [](int64_t t, int) {
                                   if (t == 42) throw std::runtime_error("task 42");
                                 }),
               std::runtime_error);
  expect_each_task_once(pool, 100);
}

}  // namespace
}  // namespace hayate
