#include "engine/step_logits.h"

#include <algorithm>

#include "core/error.h"
#include "core/profile.h"

namespace hayate {

void StepLogits::assign(std::span<const float> logits, int32_t n_vocab) {
  if (n_vocab <= 0 || logits.size() % static_cast<size_t>(n_vocab) != 0)
    fail(ErrorKind::Internal,
         "step logits: " + std::to_string(logits.size()) + " floats are not rows of " + std::to_string(n_vocab));
  n_vocab_ = n_vocab;
  host_ = logits;
  const auto n = static_cast<int32_t>(logits.size() / static_cast<size_t>(n_vocab));
  slot_.resize(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) slot_[static_cast<size_t>(i)] = ~i;
}

void StepLogits::fetch(Backend& be, Tensor logits, std::span<const RowNeed> needs) {
  if (static_cast<int64_t>(needs.size()) != logits.rows)
    fail(ErrorKind::Internal,
         "step logits: " + std::to_string(needs.size()) + " needs for " + std::to_string(logits.rows) + " rows");
  n_vocab_ = static_cast<int32_t>(logits.cols);
  host_ = {};
  const auto n = static_cast<int32_t>(needs.size());
  slot_.assign(static_cast<size_t>(n), 0);
  tops_.clear();
  // Rows wanting top tokens, asked for the largest k any of them needs (a shorter list is a prefix).
  rows_.clear();
  int32_t k = 0;
  for (int32_t i = 0; i < n; ++i) {
    if (needs[static_cast<size_t>(i)].k <= 0) continue;
    rows_.push_back(i);
    k = std::max(k, needs[static_cast<size_t>(i)].k);
  }
  if (!rows_.empty()) {
    profile::Timer t("engine top logits (device)");
    be.top_logits(logits, rows_, k, tops_);
    for (size_t j = 0; j < rows_.size(); ++j) {
      const RowNeed& need = needs[static_cast<size_t>(rows_[j])];
      const TopLogits& top = tops_[j];
      slot_[static_cast<size_t>(rows_[j])] =
          top.ok && top.n_finite >= need.min_finite ? static_cast<int32_t>(j) : -1;  // -1: fetch whole
    }
  }
  // Whole rows: those that asked for it and those whose top tokens cannot stand for them.
  idx_.clear();
  for (int32_t i = 0; i < n; ++i) {
    int32_t& s = slot_[static_cast<size_t>(i)];
    if (needs[static_cast<size_t>(i)].k > 0 && s >= 0) continue;
    s = ~static_cast<int32_t>(idx_.size());
    idx_.push_back(i);
  }
  full_.resize(idx_.size() * static_cast<size_t>(n_vocab_));
  if (idx_.empty()) return;
  profile::Timer t("engine logits to host");
  if (static_cast<int64_t>(idx_.size()) == logits.rows) {
    be.to_host(logits, full_.data());
    return;
  }
  const size_t mark = be.scratch_mark();
  Tensor picked = be.alloc(static_cast<int64_t>(idx_.size()), logits.cols);
  be.copy_rows(logits, idx_, picked);
  be.to_host(picked, full_.data());
  be.scratch_release(mark);
}

LogitsRow StepLogits::row(int32_t i) const {
  if (i < 0 || i >= n_rows()) fail(ErrorKind::Internal, "step logits: row " + std::to_string(i) + " out of range");
  const int32_t s = slot_[static_cast<size_t>(i)];
  if (s >= 0) return LogitsRow{{}, &tops_[static_cast<size_t>(s)]};
  const auto at = static_cast<size_t>(~s) * static_cast<size_t>(n_vocab_);
  const std::span<const float> rows = host_.empty() ? std::span<const float>(full_) : host_;
  return LogitsRow{rows.subspan(at, static_cast<size_t>(n_vocab_)), nullptr};
}

}  // namespace hayate
