// Tensor parallelism as a forward plan: N ranks, each a backend holding a slice of every layer
// (Megatron's split), run one step together, one thread each, and meet in two all-reduces a
// layer. The engine drives the group as one Backend, like a SplitBackend, so the scheduler stays
// single; forward() (forward.cpp) sees the ranks and runs the layers on each.
//
// The slices are views of the model's weights, except where a matrix is cut across its rows:
//   - Q, K, V (and their biases) by whole heads, K and V by KV heads; the FFN's gate and up by
//     rows (output features): column-parallel, so each rank's attention and gate need nothing
//     from the others;
//   - O and down by columns (input features): row-parallel, each rank's product is a partial sum
//     of the whole, completed by an all-reduce (O's bias added by rank 0 only); these are copies,
//     cut at the format's block boundaries;
//   - the vocabulary projection by rows. A step leaves each rank's slice of the logits where it
//     was computed; a caller that needs only the most likely tokens (top_logits: greedy, top-k and
//     top-p sampling on device backends) gets each rank's top k of its slice, gathered to rank 0
//     as k (logit, id) records a row and merged there (merge_top_logits), and one that reads
//     whole rows (to_host, copy_rows: logprobs of the vocabulary, grammars, penalties, host
//     backends) first has the slices gathered into rank 0's rows (gather_cols);
//   - the KV cache by KV heads: each rank's cache holds its heads only.
// Norms and the token embedding are replicated.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/comm.h"
#include "forward/delegating.h"

namespace hayate {

// Error(BadInput) naming the numbers when n does not divide the heads, the KV heads or the FFN
// width, or when a rank's share of the attention output or FFN width does not fall on the
// weight format's block boundaries; Error(Unsupported) for a mixture of experts.
void check_tensor_parallel(const Model& model, int32_t n);
// Whether check_tensor_parallel passes, and if not why (the error's text).
std::string tensor_parallel_obstacle(const Model& model, int32_t n);

// Rank r's first vocabulary row of n ranks (r = n: the vocabulary size): equal shares, the
// first ones a row larger when n does not divide it.
int64_t vocab_offset(int64_t n_vocab, int32_t n, int32_t r);

// The TopLogits of whole rows from those of the rows' vocabulary slices, as top_logits() of the
// unsplit row gives them: parts[r] is slice r's (ids local to it, at most k), offsets its first
// ids (size + 1). The k most likely of every slice's lists, by logit, equal logits the lower id
// first; n_finite summed; log_norm the log-sum-exp of the slices'; ok unless a slice holds NaN or
// +inf (ok false with finite logits) or no slice has a finite logit.
TopLogits merge_top_logits(std::span<const TopLogits> parts, std::span<const int64_t> offsets, int32_t k);

// Bytes a rank holds: its weight slices (the replicated embedding, norms and head slice
// included) and one position of its KV cache's layers, for `kv_bytes_per_value` bytes a stored
// value (4: fp32 caches).
struct RankMemory {
  uint64_t weights = 0;
  uint64_t kv_per_position = 0;
};
std::vector<RankMemory> tensor_parallel_memory(const Model& model, int32_t n, uint64_t kv_bytes_per_value);
// The per-rank plan as a table (like --gpu-layers'), KV for `kv_positions` positions.
void print_tensor_parallel_plan(const Model& model, int32_t n, uint64_t kv_bytes_per_value, int64_t kv_positions,
                                const std::vector<std::string>& devices, std::ostream& out);

// One KV cache per rank, with its KV heads.
class TensorParallelKvCache : public KvCache {
 public:
  std::vector<std::unique_ptr<KvCache>> parts;  // by rank
};

class TensorParallelBackend : public DelegatingBackend {
 public:
  // One backend and one communicator per rank (the same count, at least one); the communicators
  // are one group, rank r's end given with backend r.
  TensorParallelBackend(std::vector<std::unique_ptr<Backend>> ranks, std::vector<std::unique_ptr<Communicator>> comms);
  ~TensorParallelBackend() override;

  int32_t size() const { return static_cast<int32_t>(ranks_.size()); }

  // What forward() runs on each rank: its backend, cache, slice of the model and communicator.
  struct Rank {
    Backend* backend;
    KvCache* kv;
    const Model* model;
    Communicator* comm;
  };
  std::vector<Rank> ranks(KvCache& kv);
  // The vocabulary rows of each rank's head (size() + 1 offsets).
  const std::vector<int64_t>& vocab_offsets() const { return vocab_offsets_; }
  // Runs fn(rank) on every rank at once, rank 0 on the calling thread; the first error of any
  // rank is rethrown after every rank has stopped (a failing rank aborts the group's collectives).
  void run(const std::function<void(int32_t)>& fn);

  // "tp2(cpu)"
  std::string name() const override;
  bool implements(ArchFeature f) const override;
  // check_tensor_parallel, then each rank prepares its slice.
  void prepare(const Model& model) override;
  std::unique_ptr<KvCache> make_kv_cache(const HParams& hp, int32_t n_blocks, int32_t block_size) override;
  uint64_t device_memory_bytes() const override;
  std::string device_name() const override;

  // The operations a caller applies to a forward's result (logits or hidden states) are rank 0's.
  void reset_scratch() override;
  // A step begins (forward.cpp): the last step's logits are no longer read.
  void begin_step();
  // A step's logits: rank r's slice `part` of rows that go into rank 0's `whole` when a caller
  // reads whole rows (forward.cpp's step leaves them apart; called by each rank's thread).
  void keep_head_slice(int32_t r, Tensor part, Tensor whole);
  // Reading whole rows of a step's logits gathers them first.
  void to_host(Tensor x, float* dst) override;
  void copy_rows(Tensor x, std::span<const int32_t> rows, Tensor out) override;
  // The smallest of the ranks' (0 when one is a host backend: whole rows are read).
  int32_t max_top_logits() const override;
  // Of a step's logits: each rank's top k of its slice, merged on rank 0 (merge_top_logits),
  // without gathering the rows; of any other tensor, rank 0's top_logits.
  void top_logits(Tensor logits, std::span<const int32_t> rows, int32_t k, std::vector<TopLogits>& out) override;
  // The cache's heads live in different ranks: only forward() can address them.
  void store_kv(KvCache& kv, int32_t layer, Tensor k, Tensor v, const Batch& batch) override;
  void attention(KvCache& kv, int32_t layer, Tensor q, const Batch& batch, int32_t n_head, int32_t n_head_kv,
                 int32_t head_dim, Tensor out) override;

 private:
  Backend& target() const override { return *ranks_.front(); }
  struct Workers;
  std::vector<std::unique_ptr<Backend>> ranks_;
  std::vector<std::unique_ptr<Communicator>> comms_;
  std::vector<Model> shards_;                      // each rank's slice: views and owned copies
  std::vector<std::unique_ptr<uint8_t[]>> owned_;  // the row-parallel matrices' column slices
  std::vector<int64_t> vocab_offsets_;
  std::unique_ptr<Workers> workers_;
  // The last step's logits while not yet gathered: each rank's slice and rank 0's whole rows.
  void gather_head();
  std::vector<Tensor> head_parts_;
  Tensor head_whole_{};
};

}  // namespace hayate
