// The per-format decoders behind image::decode, which has already checked the byte limit and
// the format. Each checks width x height against the limits from its header before allocating
// pixels, and the deadline between rows.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "image/image.h"

namespace hayate::image::detail {

struct Budget {
  const Limits& limits;
  std::chrono::steady_clock::time_point deadline;
  bool expired() const { return std::chrono::steady_clock::now() > deadline; }
};

// Error(BadInput) unless width x height is a non-empty image within the limits.
void check_size(const char* format, int64_t width, int64_t height, const Limits& limits);
[[noreturn]] void fail_bad(const char* format, const std::string& what);
[[noreturn]] void fail_deadline(const char* format, const Limits& limits);

Decoded decode_jpeg(std::span<const uint8_t> bytes, const Budget& budget);
Decoded decode_png(std::span<const uint8_t> bytes, const Budget& budget);
Decoded decode_webp(std::span<const uint8_t> bytes, const Budget& budget);
Decoded decode_gif(std::span<const uint8_t> bytes, const Budget& budget);

// The orientation (1-8) in a JPEG APP1 "Exif\0\0" payload; 1 when absent or unreadable.
int exif_orientation(std::span<const uint8_t> app1);
// Applies an EXIF orientation (2-8) to d's pixels, as PIL's ImageOps.exif_transpose does.
void orient(Decoded& d, int orientation);

}  // namespace hayate::image::detail
