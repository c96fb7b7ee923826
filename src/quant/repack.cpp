#include "quant/repack.h"

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "quant/blocks.h"
#include "quant/kernels.h"

namespace hayate::quant {

size_t q8_0x8_group_bytes(int64_t cols) { return static_cast<size_t>(cols / kBlock32) * kQ8_0x8BlockBytes; }

size_t q8_0x8_bytes(int64_t rows, int64_t cols) {
  return static_cast<size_t>((rows + kQ8_0x8Rows - 1) / kQ8_0x8Rows) * q8_0x8_group_bytes(cols);
}

void repack_q8_0x8(const void* src, int64_t rows, int64_t cols, int64_t g0, int64_t g1, uint8_t* dst) {
  const auto* in = static_cast<const BlockQ8_0*>(src);
  const int64_t nb = cols / kBlock32;
  for (int64_t g = g0; g < g1; ++g) {
    uint8_t* out = dst + static_cast<size_t>(g) * q8_0x8_group_bytes(cols);
    for (int64_t i = 0; i < nb; ++i, out += kQ8_0x8BlockBytes) {
      std::memset(out, 0, kQ8_0x8BlockBytes);
      for (int64_t j = 0; j < kQ8_0x8Rows; ++j) {
        const int64_t r = g * kQ8_0x8Rows + j;
        if (r >= rows) break;  // padding rows stay zero (scale 0)
        const BlockQ8_0& b = in[r * nb + i];
        std::memcpy(out + 2 * j, &b.d, 2);
        for (int k = 0; k < 8; ++k) std::memcpy(out + 16 + 32 * k + 4 * j, b.qs + 4 * k, 4);
      }
    }
  }
}

TileDotFn q8_0x8_tile() {
  static const bool disabled = [] {
    const char* v = std::getenv("HAYATE_NO_REPACK");
    return v && *v && std::string_view(v) != "0";
  }();
  return detail::cpu_has_avx2() && !scalar_kernels_forced() && !disabled ? detail::tile_q8_0x8_avx2 : nullptr;
}

}  // namespace hayate::quant
