// The in-process group: ranks are threads of one process and tensors host memory, so a
// collective is a rendezvous at a barrier and plain copies.
#include "backend/comm.h"

#include <condition_variable>
#include <cstring>
#include <mutex>

#include "core/error.h"

namespace hayate {

Communicator::~Communicator() = default;

namespace {

// What the ranks of one group share.
struct Group {
  explicit Group(int n) : n(n), posted(static_cast<size_t>(n)) {}
  const int n;
  std::mutex m;
  std::condition_variable cv;
  int waiting = 0;
  uint64_t generation = 0;
  bool aborted = false;
  std::vector<Tensor> posted;  // each rank's tensor of the collective under way
  std::vector<float> sum;      // all_reduce_sum's result, each rank summing its share of it

  // Waits until every rank has arrived; Error(Internal) when the group was aborted meanwhile.
  void arrive() {
    std::unique_lock lock(m);
    if (aborted) fail(ErrorKind::Internal, "tensor parallel: another rank failed during this step");
    const uint64_t gen = generation;
    if (++waiting == n) {
      waiting = 0;
      ++generation;
      cv.notify_all();
      return;
    }
    cv.wait(lock, [&] { return generation != gen || aborted; });
    if (generation == gen) fail(ErrorKind::Internal, "tensor parallel: another rank failed during this step");
  }
};

class InProcessCommunicator : public Communicator {
 public:
  InProcessCommunicator(std::shared_ptr<Group> g, int rank) : g_(std::move(g)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return g_->n; }

  void all_reduce_sum(Tensor x) override {
    if (g_->n == 1) return;
    const size_t count = static_cast<size_t>(x.rows * x.cols);
    if (rank_ == 0) g_->sum.resize(count);  // no rank reads it before the first arrival
    g_->posted[static_cast<size_t>(rank_)] = x;
    g_->arrive();
    for (const Tensor& t : g_->posted)
      if (t.rows * t.cols != x.rows * x.cols)
        fail(ErrorKind::Internal, "tensor parallel: ranks all-reduce tensors of different shapes");
    // Each rank sums its share of the elements over the ranks, in rank order.
    const size_t begin = count * static_cast<size_t>(rank_) / static_cast<size_t>(g_->n);
    const size_t end = count * static_cast<size_t>(rank_ + 1) / static_cast<size_t>(g_->n);
    for (size_t i = begin; i < end; ++i) {
      float s = g_->posted[0].data[i];
      for (int r = 1; r < g_->n; ++r) s += g_->posted[static_cast<size_t>(r)].data[i];
      g_->sum[i] = s;
    }
    g_->arrive();
    std::memcpy(x.data, g_->sum.data(), count * sizeof(float));
    g_->arrive();  // the sum is read by every rank before the next collective replaces it
  }

  void gather_cols(Tensor part, Tensor whole, std::span<const int64_t> offsets) override {
    if (offsets.size() != static_cast<size_t>(g_->n) + 1 || part.cols != offsets[rank_ + 1] - offsets[rank_])
      fail(ErrorKind::Internal, "tensor parallel: gather_cols' offsets do not match the ranks' parts");
    g_->posted[static_cast<size_t>(rank_)] = part;
    g_->arrive();
    if (rank_ == 0) {
      for (int r = 0; r < g_->n; ++r) {
        const Tensor& p = g_->posted[static_cast<size_t>(r)];
        for (int64_t row = 0; row < p.rows; ++row)
          std::memcpy(whole.data + row * whole.cols + offsets[r], p.data + row * p.cols,
                      static_cast<size_t>(p.cols) * sizeof(float));
      }
    }
    g_->arrive();  // the parts stay alive until rank 0 has copied them
  }

  void barrier() override { g_->arrive(); }

  void abort() override {
    std::lock_guard lock(g_->m);
    g_->aborted = true;
    g_->cv.notify_all();
  }

  void reset() override {
    std::lock_guard lock(g_->m);
    g_->aborted = false;
    g_->waiting = 0;
  }

 private:
  std::shared_ptr<Group> g_;
  int rank_;
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> make_in_process_communicators(int n) {
  if (n < 1)
    fail(ErrorKind::BadInput, "tensor parallel: a group needs at least one rank (got " + std::to_string(n) + ")");
  auto group = std::make_shared<Group>(n);
  std::vector<std::unique_ptr<Communicator>> out;
  for (int r = 0; r < n; ++r) out.push_back(std::make_unique<InProcessCommunicator>(group, r));
  return out;
}

}  // namespace hayate
