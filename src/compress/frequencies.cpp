#include "compress/frequencies.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "core/error.h"

namespace hayate::compress {
namespace {

constexpr int kFracBits = 12;  // 1/4096 of a bit of log-probability: finer than the coder can use
constexpr uint32_t kFracOne = uint32_t{1} << kFracBits;
// log2(e) * 2^kFracBits: a logit difference in nats to fixed-point bits.
constexpr double kNatsToFixedBits = 1.4426950408889634 * kFracOne;
// Logits further than this below the largest give weight 0 (2^-32 of the top token's), and
// keeps the fixed-point conversion inside int64.
constexpr double kMaxFixedBits = 32.0 * kFracOne;

// kPow2[f] = 2^31 * 2^(-f / 4096), built by repeated integer multiplication by 2^(-1/4096)
// (the constant below is that factor times 2^63, rounded): the same table everywhere, with no
// libm call whose last bit might differ between machines.
std::array<uint32_t, kFracOne> make_pow2_table() {
  constexpr uint64_t kStep = 9221811340221203999ull;
  std::array<uint32_t, kFracOne> t{};
  uint64_t v = uint64_t{1} << 63;  // 2^31 with 32 fractional bits
  for (uint32_t f = 0; f < kFracOne; ++f) {
    t[f] = static_cast<uint32_t>(v >> 32);
    v = static_cast<uint64_t>((static_cast<unsigned __int128>(v) * kStep) >> 63);
  }
  return t;
}

const std::array<uint32_t, kFracOne>& pow2_table() {
  static const std::array<uint32_t, kFracOne> t = make_pow2_table();
  return t;
}

}  // namespace

int32_t FrequencyTable::find(uint32_t target) const {
  // The last start <= target.
  const auto it = std::upper_bound(cum.begin(), cum.end() - 1, target);
  return static_cast<int32_t>(it - cum.begin()) - 1;
}

void quantize_logits(std::span<const float> logits, int precision_bits, FrequencyTable& out) {
  const size_t n = logits.size();
  const uint64_t budget_total = uint64_t{1} << precision_bits;
  if (precision_bits < 8 || precision_bits > 24 || n + 1 > budget_total / 2)
    fail(ErrorKind::BadInput, "coder precision of " + std::to_string(precision_bits) + " bits is too low for " +
                                  std::to_string(n) + " tokens (or outside 8..24)");
  const auto& pow2 = pow2_table();

  // Weights: 2^31 for the largest logit, 2^31 * 2^-(difference in bits) for the others. The
  // subtraction is exact in double and the product is one correctly rounded operation, so the
  // truncated fixed-point value is the same on every IEEE machine. NaN and -inf weigh nothing.
  float top = -INFINITY;
  for (float l : logits)
    if (std::isfinite(l)) top = std::max(top, l);
  std::vector<uint32_t>& cum = out.cum;
  cum.resize(n + 2);
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t w = 0;
    if (std::isfinite(logits[i])) {
      const double bits = (static_cast<double>(top) - static_cast<double>(logits[i])) * kNatsToFixedBits;
      if (bits < kMaxFixedBits) {
        const auto fixed = static_cast<uint64_t>(bits);
        w = pow2[fixed & (kFracOne - 1)] >> (fixed >> kFracBits);
      }
    } else if (!std::isfinite(top)) {
      w = 1;  // no finite logit at all: a flat table
    }
    cum[i] = w;  // the weight, for now
    sum += w;
  }

  // Frequencies: 1 each (the escape too), plus the weight's share of what is left, rounded down.
  const uint64_t spare = budget_total - (n + 1);
  uint32_t at = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t share = sum ? (static_cast<unsigned __int128>(cum[i]) * spare) / sum : 0;
    const uint32_t f = 1 + static_cast<uint32_t>(share);
    cum[i] = at;
    at += f;
  }
  cum[n] = at;  // the escape
  cum[n + 1] = at + 1;
}

const FrequencyTable& byte_table() {
  static const FrequencyTable t = [] {
    FrequencyTable f;
    f.cum.resize(257);
    for (uint32_t i = 0; i <= 256; ++i) f.cum[i] = i;
    return f;
  }();
  return t;
}

}  // namespace hayate::compress
