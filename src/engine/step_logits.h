// A step's logits, brought to the host only as far as each row's output processor needs them:
// rows that sample from their most likely tokens get TopLogits from a backend that computes
// them where the logits are (a GPU: 64 rows of a 128k vocabulary are 33 MB, their top tokens a
// few kB), the others (constraints, penalties, no top-k, host backends) come over whole. A row
// whose TopLogits cannot stand for it (NaN, too few finite logits) is fetched whole after all,
// so the processor's result is the same either way.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "engine/output.h"

namespace hayate {

class StepLogits {
 public:
  // logits: the forward's output in backend memory (forward_logits); needs: one per row.
  void fetch(Backend& be, Tensor logits, std::span<const RowNeed> needs);
  // Takes host logits (n_rows x n_vocab) as they are: every row whole.
  void assign(std::span<const float> logits, int32_t n_vocab);

  LogitsRow row(int32_t i) const;
  int32_t n_rows() const { return static_cast<int32_t>(slot_.size()); }

 private:
  int32_t n_vocab_ = 0;
  std::span<const float> host_;      // assign(): the caller's rows
  std::vector<float> full_;          // fetch(): rows copied whole, in order of full_rows_
  std::vector<TopLogits> tops_;      // fetch(): in order of top rows
  std::vector<int32_t> slot_;        // per row: index into tops_ (>= 0) or ~index into full_
  std::vector<int32_t> rows_, idx_;  // scratch
};

}  // namespace hayate
