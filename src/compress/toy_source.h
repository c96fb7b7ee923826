// A LogitSource without a model, for tests and the fuzzer: each row is a cheap function of the
// sequence's previous token and position, peaked on "previous + 1" so that byte runs like
// "abcd" compress well and anything else still round-trips.
#pragma once

#include "compress/logit_source.h"

namespace hayate::compress {

class ToySource final : public LogitSource {
 public:
  // batch_invariant false makes the coder use its lockstep schedule, as for a GPU backend.
  explicit ToySource(int32_t n_vocab, int32_t n_ctx = 64, int32_t max_sequences = 4, bool batch_invariant = true,
                     uint32_t model_id = 0x70790001);

  int32_t n_vocab() const override { return n_vocab_; }
  int32_t n_ctx() const override { return n_ctx_; }
  int32_t max_sequences() const override { return static_cast<int32_t>(state_.size()); }
  int32_t max_step_tokens() const override { return 3 * n_ctx_ / 2; }
  bool batch_invariant() const override { return invariant_; }
  uint32_t model_id() const override { return model_id_; }
  uint16_t compute_id() const override { return 0x7079; }
  std::string compute_path() const override { return "toy"; }
  void reset(int32_t seq) override;
  std::vector<float> step(std::span<const FeedPart> parts) override;

  int64_t steps() const { return steps_; }

 private:
  struct State {
    int32_t last = 0, position = 0;
  };
  int32_t n_vocab_, n_ctx_;
  bool invariant_;
  uint32_t model_id_;
  std::vector<State> state_;
  int64_t steps_ = 0;
};

}  // namespace hayate::compress
