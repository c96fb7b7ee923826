// A range coder: the arithmetic coder that turns a model's probabilities into bits. Each symbol
// narrows a 64-bit interval [low, low + range) to its share [start, start + freq) of `total`;
// a byte leaves whenever the range falls below 2^56, so the division keeps at least 32 bits of
// precision for totals up to 2^24. Carries go back into the bytes already written (the output
// is kept in memory), and finish() writes the one byte that pins the final interval.
// Integer arithmetic only: the same symbols give the same bytes on every machine.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace hayate::compress {

inline constexpr int kMaxTotalBits = 24;  // largest `total` a coding step may use: 2^24

class RangeEncoder {
 public:
  // Codes [start, start + freq) of [0, total): 1 <= freq, start + freq <= total <= 2^24.
  void encode(uint32_t start, uint32_t freq, uint32_t total);
  // The coded bytes; the encoder is spent afterwards.
  std::vector<uint8_t> finish();
  size_t size() const { return out_.size(); }  // bytes written so far (finish adds at most one)

 private:
  void add_carry();
  uint64_t low_ = 0;
  uint64_t range_ = ~uint64_t{0};
  std::vector<uint8_t> out_;
};

class RangeDecoder {
 public:
  // Reads `in`; bytes past its end read as zero (finish() relies on that), so a damaged input
  // decodes to garbage, never past the buffer.
  explicit RangeDecoder(std::span<const uint8_t> in);
  // The position in [0, total) that the next symbol's interval contains.
  uint32_t target(uint32_t total);
  // Removes the symbol found from target(): the same (start, freq, total) the encoder used.
  void consume(uint32_t start, uint32_t freq, uint32_t total);

 private:
  uint8_t next_byte() { return pos_ < in_.size() ? in_[pos_++] : 0; }
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  uint64_t code_ = 0;  // the coded value less `low`: always below range_ for a sound input
  uint64_t range_ = ~uint64_t{0};
};

}  // namespace hayate::compress
