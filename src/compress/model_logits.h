// The model as a LogitSource: each sequence owns a fixed run of blocks in one paged KV cache,
// and a step is one call of the batched forward pass. Fingerprints of the model and of the
// compute path go into every file it codes.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "compress/alphabet.h"
#include "compress/logit_source.h"
#include "model/model.h"

namespace hayate::compress {

struct ModelLogitsOptions {
  int32_t n_ctx = 0;           // 0: the model's trained context, at most 4096
  int32_t max_sequences = 16;  // windows decoded side by side
  int32_t max_step_tokens = 512;
};

class ModelLogits final : public LogitSource {
 public:
  // The backend must be prepared for the model; both, and the alphabet's tokenizer, must
  // outlive this.
  ModelLogits(const Model& model, Backend& backend, const Alphabet& alphabet, const ModelLogitsOptions& options = {});

  int32_t n_vocab() const override { return model_.hp.n_vocab; }
  int32_t n_ctx() const override { return n_ctx_; }
  int32_t max_sequences() const override { return static_cast<int32_t>(positions_.size()); }
  int32_t max_step_tokens() const override { return max_step_tokens_; }
  bool batch_invariant() const override { return invariant_; }
  uint32_t model_id() const override { return model_id_; }
  uint16_t compute_id() const override { return compute_id_; }
  std::string compute_path() const override { return compute_path_; }
  void reset(int32_t seq) override;
  std::vector<float> step(std::span<const FeedPart> parts) override;

 private:
  const Model& model_;
  Backend& backend_;
  int32_t n_ctx_, max_step_tokens_, blocks_per_seq_;
  std::unique_ptr<KvCache> kv_;
  std::vector<int32_t> positions_;  // next position of each sequence
  bool invariant_;
  uint32_t model_id_;
  uint16_t compute_id_;
  std::string compute_path_;
};

// Weights, hyper-parameters and the alphabet's pieces: which model probabilities come from.
// Every weight byte is read up to 1 GiB of weights; beyond, evenly spread samples of each tensor.
uint32_t model_fingerprint(const Model& model, const Alphabet& alphabet);
// What computes them: the backend's name and device, and for host backends the CPU features
// their kernels are chosen by (or "scalar" when forced).
std::string compute_path_of(const Backend& backend);

}  // namespace hayate::compress
