// Collectives between the ranks of a tensor-parallel group (forward/tensor_parallel.h): N
// backends that each hold a slice of every layer and run the same step at the same time, one
// thread each. Two implementations: in-process (host backends: the ranks are threads of one
// process sharing memory, so tests shard a model over CPU backends) and NCCL (one GPU a rank,
// backend/cuda/nccl_comm.cpp, built with CUDA and loaded with dlopen).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/backend.h"

namespace hayate {

// One rank's end of a group. Every rank of the group must make the same calls in the same order
// (the collectives meet); a call blocks until every rank has made it.
class Communicator {
 public:
  virtual ~Communicator();
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // The backend whose memory this rank's tensors are in, given once before any collective: a
  // device group orders its transfers on that backend's stream.
  virtual void attach(Backend& backend) {}
  // x (this rank's backend memory, the same shape on every rank) becomes the element-wise sum of
  // every rank's x. The sum is taken in rank order, so every rank holds the same bits.
  virtual void all_reduce_sum(Tensor x) = 0;
  // Rank r's `part` (rows x (offsets[r+1] - offsets[r])) becomes columns [offsets[r],
  // offsets[r+1]) of `whole` (rows x offsets[size]) on rank 0; other ranks pass an empty whole.
  // The split vocabulary head's logits come together this way.
  virtual void gather_cols(Tensor part, Tensor whole, std::span<const int64_t> offsets) = 0;
  virtual void barrier() = 0;
  // A rank that failed mid-step calls it so that the others, waiting in a collective, fail too
  // (Error(Internal)) instead of waiting forever. reset() (no rank in a collective) makes the
  // group usable again.
  virtual void abort() = 0;
  virtual void reset() = 0;
};

// A group of n ranks for host backends, whose tensors are host memory: rank r is element r.
std::vector<std::unique_ptr<Communicator>> make_in_process_communicators(int n);

// A group of n ranks over NCCL, rank r on CUDA device r (NVLink multicast off: NCCL_NVLS_ENABLE=0
// unless the environment sets it). Error(Unsupported) without CUDA or libnccl, Error(BadInput)
// when fewer than n devices are visible.
std::vector<std::unique_ptr<Communicator>> make_nccl_communicators(int n);

}  // namespace hayate
