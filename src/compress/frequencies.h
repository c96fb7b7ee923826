// From a row of logits to the integer frequencies the range coder uses. Both sides of a
// compressed file must build the very same table from the same logits, on any machine and
// compiler, so nothing here depends on libm or on the order of a parallel sum: the
// differences to the largest logit become fixed-point powers of two read from an integer table,
// and each token gets 1 + its share of the rest of the budget, rounded down.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace hayate::compress {

// Symbols 0 .. n_tokens-1 are the tokens, in the logits' order; symbol n_tokens is the escape
// (a raw byte follows it), which always gets frequency 1.
struct FrequencyTable {
  std::vector<uint32_t> cum;  // cum[s] = start of symbol s; cum.back() = total

  int32_t n_symbols() const { return static_cast<int32_t>(cum.size()) - 1; }
  uint32_t total() const { return cum.back(); }
  uint32_t start(int32_t s) const { return cum[static_cast<size_t>(s)]; }
  uint32_t freq(int32_t s) const { return cum[static_cast<size_t>(s) + 1] - cum[static_cast<size_t>(s)]; }
  // The symbol whose interval holds `target` (< total).
  int32_t find(uint32_t target) const;
};

// Fills `out` for logits.size() tokens plus the escape, with a total of at most 2^precision_bits.
// Error(BadInput) when the budget cannot give every symbol 1 (precision too low for the vocabulary).
void quantize_logits(std::span<const float> logits, int precision_bits, FrequencyTable& out);

// A flat table over 256 byte values (what follows an escape).
const FrequencyTable& byte_table();

}  // namespace hayate::compress
