#include "core/sampling_params.h"

#include <cmath>
#include <string>

#include "core/error.h"

namespace hayate {
namespace {

void check(bool ok, const std::string& message) {
  if (!ok) fail(ErrorKind::BadInput, "sampling: " + message);
}

}  // namespace

void SamplingParams::validate() const {
  check(std::isfinite(temperature) && temperature >= 0,
        "temperature must be a finite number >= 0 (0 = greedy), got " + std::to_string(temperature));
  check(top_p > 0 && top_p <= 1, "top_p must be in (0, 1] (1 = off), got " + std::to_string(top_p));
  check(min_p >= 0 && min_p <= 1, "min_p must be in [0, 1] (0 = off), got " + std::to_string(min_p));
  check(std::isfinite(repeat_penalty) && repeat_penalty > 0,
        "repeat_penalty must be a finite number > 0 (1 = off), got " + std::to_string(repeat_penalty));
  check(repeat_last_n >= -1,
        "repeat_last_n must be >= -1 (-1 = whole history, 0 = off), got " + std::to_string(repeat_last_n));
  check(frequency_penalty >= -2 && frequency_penalty <= 2,
        "frequency_penalty must be in [-2, 2] (0 = off), got " + std::to_string(frequency_penalty));
  check(presence_penalty >= -2 && presence_penalty <= 2,
        "presence_penalty must be in [-2, 2] (0 = off), got " + std::to_string(presence_penalty));
  check(n_logprobs >= 0 && n_logprobs <= 20, "n_logprobs must be in [0, 20], got " + std::to_string(n_logprobs));
}

}  // namespace hayate
