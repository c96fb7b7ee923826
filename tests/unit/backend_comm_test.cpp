// The in-process communicator (backend/comm.h), the one tensor-parallel tests run on: the sum
// reaches every rank with the same bits, a gather places uneven column slices, and a rank that
// aborts wakes the others out of a collective, after which reset() makes the group usable again.
#include <gtest/gtest.h>

#include <thread>

#include "backend/comm.h"
#include "core/error.h"

namespace hayate {
namespace {

// Runs fn(rank) on n threads; each rank's error message ("" when none).
std::vector<std::string> on_ranks(int n, const std::function<void(int)>& fn) {
  std::vector<std::string> errors(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      try {
        fn(r);
      } catch (const Error& e) {
        errors[static_cast<size_t>(r)] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  return errors;
}

TEST(InProcessComm, AllReduceSumsInRankOrderOnEveryRank) {
  for (const int n : {1, 2, 3, 4}) {
    auto comms = make_in_process_communicators(n);
    std::vector<std::vector<float>> data(static_cast<size_t>(n));
    for (int r = 0; r < n; ++r)
      for (int i = 0; i < 7 * 3; ++i) data[static_cast<size_t>(r)].push_back(1e8f * (r == 0) + 0.25f * (r + 1) + i);
    on_ranks(n, [&](int r) {
      for (int rep = 0; rep < 3; ++rep)  // collectives follow one another without mixing
        comms[static_cast<size_t>(r)]->all_reduce_sum({data[static_cast<size_t>(r)].data(), 7, 3});
    });
    for (int i = 0; i < 21; ++i) {
      // Three sums in a row: after the first every rank holds s; then n*s, then n*n*s.
      float s = data[0][static_cast<size_t>(i)];
      for (int r = 1; r < n; ++r) EXPECT_EQ(data[static_cast<size_t>(r)][static_cast<size_t>(i)], s) << n;
      float want = 1e8f + 0.25f + static_cast<float>(i);
      for (int r = 1; r < n; ++r) want += 0.25f * (r + 1) + static_cast<float>(i);
      for (int rep = 1; rep < 3; ++rep) {
        float again = want;
        for (int r = 1; r < n; ++r) again += want;
        want = again;
      }
      EXPECT_EQ(s, want) << "n " << n << " element " << i;
    }
  }
}

TEST(InProcessComm, GatherPlacesUnevenColumnSlicesOnRankZero) {
  auto comms = make_in_process_communicators(3);
  const std::vector<int64_t> offsets = {0, 3, 5, 6};
  std::vector<std::vector<float>> parts(3);
  for (int r = 0; r < 3; ++r)
    for (int row = 0; row < 2; ++row)
      for (int64_t c = offsets[r]; c < offsets[r + 1]; ++c) parts[static_cast<size_t>(r)].push_back(100.0f * row + c);
  std::vector<float> whole(12, -1);
  const auto errors = on_ranks(3, [&](int r) {
    const Tensor part{parts[static_cast<size_t>(r)].data(), 2, offsets[r + 1] - offsets[r]};
    comms[static_cast<size_t>(r)]->gather_cols(part, r == 0 ? Tensor{whole.data(), 2, 6} : Tensor{}, offsets);
  });
  for (const auto& e : errors) EXPECT_EQ(e, "");
  for (int row = 0; row < 2; ++row)
    for (int c = 0; c < 6; ++c) EXPECT_EQ(whole[static_cast<size_t>(row * 6 + c)], 100.0f * row + c);
}

TEST(InProcessComm, AnAbortWakesTheRanksWaitingAndResetRecovers) {
  auto comms = make_in_process_communicators(3);
  const auto errors = on_ranks(3, [&](int r) {
    if (r == 2) {
      comms[2]->abort();
      return;
    }
    comms[static_cast<size_t>(r)]->barrier();
  });
  EXPECT_NE(errors[0].find("another rank failed"), std::string::npos) << errors[0];
  EXPECT_NE(errors[1].find("another rank failed"), std::string::npos) << errors[1];
  for (auto& c : comms) c->reset();
  const auto again = on_ranks(3, [&](int r) { comms[static_cast<size_t>(r)]->barrier(); });
  for (const auto& e : again) EXPECT_EQ(e, "");
  EXPECT_THROW(make_in_process_communicators(0), Error);
}

}  // namespace
}  // namespace hayate
