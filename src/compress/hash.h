// A 64-bit hash for fingerprints (which model, which compute path): fast over megabytes of
// weights and the same on every machine (bytes read little-endian, integer arithmetic only).
// Not for adversaries: a crafted collision would only make decompression fail its checksums.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace hayate::compress {

class Hasher {
 public:
  void add(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) mix(load(p + i));
    uint64_t tail = 0;
    for (size_t k = 0; i + k < n; ++k) tail |= static_cast<uint64_t>(p[i + k]) << (8 * k);
    mix(tail ^ (static_cast<uint64_t>(n & 7) << 56));
  }
  void add(std::string_view s) { add(s.data(), s.size()); }
  void add_u64(uint64_t v) { mix(v); }
  uint64_t digest() const {
    uint64_t h = state_;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
  }

 private:
  static uint64_t load(const uint8_t* p) {
    uint64_t v = 0;
    for (int k = 0; k < 8; ++k) v |= static_cast<uint64_t>(p[k]) << (8 * k);
    return v;
  }
  void mix(uint64_t v) {
    state_ = (state_ ^ v) * 0x9E3779B97F4A7C15ull;
    state_ ^= state_ >> 29;
  }
  uint64_t state_ = 0x243F6A8885A308D3ull;
};

}  // namespace hayate::compress
