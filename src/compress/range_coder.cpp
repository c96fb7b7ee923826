#include "compress/range_coder.h"

#include "core/error.h"

namespace hayate::compress {
namespace {

constexpr uint64_t kTop = uint64_t{1} << 56;  // below this range a byte is shifted out

void check_step(uint32_t start, uint32_t freq, uint32_t total) {
  if (freq == 0 || total == 0 || total > (uint32_t{1} << kMaxTotalBits) || start > total - freq)
    fail(ErrorKind::Internal, "range coder: bad interval [" + std::to_string(start) + ", +" + std::to_string(freq) +
                                  ") of " + std::to_string(total));
}

}  // namespace

void RangeEncoder::add_carry() {
  // Bytes of 0xFF become 0 and the first other byte before them takes the carry. The interval
  // never leaves [0, 2^64) before the first byte is out, so there is always one to take it.
  size_t i = out_.size();
  while (i > 0 && out_[i - 1] == 0xFF) out_[--i] = 0;
  if (i == 0) fail(ErrorKind::Internal, "range coder: carry out of an empty output");
  ++out_[i - 1];
}

void RangeEncoder::encode(uint32_t start, uint32_t freq, uint32_t total) {
  check_step(start, freq, total);
  const uint64_t r = range_ / total;
  const uint64_t before = low_;
  low_ += r * start;
  if (low_ < before) add_carry();
  range_ = r * freq;
  while (range_ < kTop) {
    out_.push_back(static_cast<uint8_t>(low_ >> 56));
    low_ <<= 8;
    range_ <<= 8;
  }
}

std::vector<uint8_t> RangeEncoder::finish() {
  // The decoder reads missing bytes as zeros, so the value written is `low` rounded up to a
  // multiple of 2^56: inside [low, low + range) because range >= 2^56. One byte, or none when
  // the rounding is a no-op at zero.
  if (low_ != 0) {
    const uint64_t rest = low_ & (kTop - 1);
    uint64_t v = low_ - rest;
    if (rest != 0) {
      v += kTop;
      if (v == 0) add_carry();  // rounded up past 2^64
    }
    out_.push_back(static_cast<uint8_t>(v >> 56));
  }
  low_ = 0;
  range_ = ~uint64_t{0};
  return std::move(out_);
}

RangeDecoder::RangeDecoder(std::span<const uint8_t> in) : in_(in) {
  for (int i = 0; i < 8; ++i) code_ = (code_ << 8) | next_byte();
}

uint32_t RangeDecoder::target(uint32_t total) {
  if (total == 0 || total > (uint32_t{1} << kMaxTotalBits)) fail(ErrorKind::Internal, "range coder: bad total");
  const uint64_t v = code_ / (range_ / total);
  return v < total ? static_cast<uint32_t>(v) : total - 1;  // a damaged input may point past the end
}

void RangeDecoder::consume(uint32_t start, uint32_t freq, uint32_t total) {
  check_step(start, freq, total);
  const uint64_t r = range_ / total;
  code_ -= r * start;
  range_ = r * freq;
  while (range_ < kTop) {
    code_ = (code_ << 8) | next_byte();
    range_ <<= 8;
  }
}

}  // namespace hayate::compress
