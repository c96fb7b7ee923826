// The packed formats' table, their packers and activation converters (portable code; the kernels
// are in tile_avx2.cpp and tile_avx512.cpp). Layouts are described in packed.h.
#include "quant/packed.h"

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "core/fp16.h"
#include "quant/blocks.h"
#include "quant/kernels.h"
#include "quant/repack.h"

namespace hayate::quant {
namespace {

constexpr int64_t kX16 = 16;

// Calls fill(out, j, block) for row j of each group in [g0, g1) and each of its blocks of
// `per_block` columns, `out` being the packed block (`packed_block` bytes, zeroed first: rows
// past the matrix's end stay zero, scale 0).
template <class Block, class Fill>
void pack_groups(const void* src, int64_t rows, int64_t cols, int64_t per_block, size_t packed_block, int64_t g0,
                 int64_t g1, uint8_t* dst, const Fill& fill) {
  const auto* in = static_cast<const Block*>(src);
  const int64_t nb = cols / per_block;
  for (int64_t g = g0; g < g1; ++g) {
    uint8_t* out = dst + static_cast<size_t>(g * nb) * packed_block;
    for (int64_t i = 0; i < nb; ++i, out += packed_block) {
      std::memset(out, 0, packed_block);
      for (int64_t j = 0; j < kX16 && g * kX16 + j < rows; ++j)
        fill(out, static_cast<int>(j), in[(g * kX16 + j) * nb + i]);
    }
  }
}

// ---- q8_0x16 --------------------------------------------------------------------------------

constexpr size_t kQ8_0x16Block = 32 + 8 * 64;

size_t q8_0x16_group_bytes(int64_t cols) { return static_cast<size_t>(cols / kBlock32) * kQ8_0x16Block; }

void pack_q8_0x16(const void* src, int64_t rows, int64_t cols, int64_t g0, int64_t g1, uint8_t* dst) {
  pack_groups<BlockQ8_0>(src, rows, cols, kBlock32, kQ8_0x16Block, g0, g1, dst,
                         [](uint8_t* out, int j, const BlockQ8_0& b) {
                           std::memcpy(out + 2 * j, &b.d, 2);
                           for (int k = 0; k < 8; ++k)
                             for (int e = 0; e < 4; ++e)
                               out[32 + 64 * k + 4 * j + e] = static_cast<uint8_t>(b.qs[4 * k + e] + 128);
                         });
}

size_t q8_0sum_row_bytes(int64_t cols) { return static_cast<size_t>(cols / kBlock32) * sizeof(BlockQ8_0Sum); }

// The codes and scales of the Q8_0 conversion (bit for bit), one block at a time.
void convert_q8_0sum(const float* src, void* dst, int64_t n) {
  const FromFloatFn q8_0 = traits(GgmlType::Q8_0)->from_float_vec_dot;
  auto* out = static_cast<BlockQ8_0Sum*>(dst);
  for (int64_t i = 0; i < n / kBlock32; ++i) {
    BlockQ8_0 b;
    q8_0(src + i * kBlock32, &b, kBlock32);
    int sum = 0;
    for (int e = 0; e < kBlock32; ++e) sum += b.qs[e];
    out[i].d = fp16_to_f32(b.d);
    out[i].sum128 = 128 * sum;
    std::memcpy(out[i].qs, b.qs, sizeof b.qs);
  }
}

// ---- q4_Kx16 / q5_Kx16 ----------------------------------------------------------------------

// d, dmin, 8 scales and 8 mins of 16 rows, then per sub-block 256 bytes of nibbles (+ 64 of fifth bits).
constexpr size_t kQ4Kx16Block = 64 + 256 + 8 * 256;
constexpr size_t kQ5Kx16Block = 64 + 256 + 8 * 320;

size_t q4_kx16_group_bytes(int64_t cols) { return static_cast<size_t>(cols / kSuperBlock) * kQ4Kx16Block; }
size_t q5_kx16_group_bytes(int64_t cols) { return static_cast<size_t>(cols / kSuperBlock) * kQ5Kx16Block; }

int q4k_code(const uint8_t* qs, int e) { return (qs[32 * (e / 64) + e % 32] >> (4 * ((e % 64) / 32))) & 0x0F; }
int q5k_high(const uint8_t* qh, int e) { return (qh[e % 32] >> (2 * (e / 64) + (e % 64) / 32)) & 1; }

template <class Block, bool kFifthBit>
void pack_k4x16(const void* src, int64_t rows, int64_t cols, int64_t g0, int64_t g1, uint8_t* dst) {
  constexpr size_t kSub = kFifthBit ? 320 : 256;
  pack_groups<Block>(
      src, rows, cols, kSuperBlock, 320 + 8 * kSub, g0, g1, dst, [](uint8_t* out, int j, const Block& b) {
        std::memcpy(out + 2 * j, &b.d, 2);
        std::memcpy(out + 32 + 2 * j, &b.dmin, 2);
        for (int s = 0; s < 8; ++s) {
          int scale = 0, min = 0;
          k4_scale_min(b.scales, s, &scale, &min);
          out[64 + 16 * s + j] = static_cast<uint8_t>(scale);
          out[192 + 16 * s + j] = static_cast<uint8_t>(min);
          uint8_t* sub = out + 320 + kSub * s;
          for (int k = 0; k < 4; ++k)
            for (int e = 0; e < 4; ++e) {
              const int lo = 32 * s + 4 * k + e, hi = lo + 16;
              sub[64 * k + 4 * j + e] = static_cast<uint8_t>(q4k_code(b.qs, lo) | (q4k_code(b.qs, hi) << 4));
              if constexpr (kFifthBit)
                sub[256 + 4 * j + e] |=
                    static_cast<uint8_t>((q5k_high(b.qh, lo) << k) | (q5k_high(b.qh, hi) << (4 + k)));
            }
        }
      });
}

// ---- q6_Kx16 --------------------------------------------------------------------------------

constexpr size_t kQ6Kx16Block = 32 + 256 + 8 * 384;

size_t q6_kx16_group_bytes(int64_t cols) { return static_cast<size_t>(cols / kSuperBlock) * kQ6Kx16Block; }

void pack_q6_kx16(const void* src, int64_t rows, int64_t cols, int64_t g0, int64_t g1, uint8_t* dst) {
  pack_groups<BlockQ6_K>(
      src, rows, cols, kSuperBlock, kQ6Kx16Block, g0, g1, dst, [](uint8_t* out, int j, const BlockQ6_K& b) {
        std::memcpy(out + 2 * j, &b.d, 2);
        for (int s = 0; s < 16; ++s) out[32 + 16 * s + j] = static_cast<uint8_t>(b.scales[s]);
        for (int u = 0; u < 8; ++u) {
          uint8_t* unit = out + 288 + 384 * u;
          for (int k = 0; k < 4; ++k)
            for (int e = 0; e < 4; ++e) {
              const int lo = q6k_get(b, 32 * u + 4 * k + e), hi = q6k_get(b, 32 * u + 16 + 4 * k + e);
              unit[64 * k + 4 * j + e] = static_cast<uint8_t>((lo & 0x0F) | ((hi & 0x0F) << 4));
              unit[256 + 4 * j + e] |= static_cast<uint8_t>((lo >> 4) << (2 * k));
              unit[320 + 4 * j + e] |= static_cast<uint8_t>((hi >> 4) << (2 * k));
            }
        }
      });
}

// ---- f16x16 / bf16x16 -----------------------------------------------------------------------

size_t float16x16_group_bytes(int64_t cols) { return static_cast<size_t>(cols) * kX16 * 2; }

void pack_float16x16(const void* src, int64_t rows, int64_t cols, int64_t g0, int64_t g1, uint8_t* dst) {
  const auto* in = static_cast<const uint16_t*>(src);
  for (int64_t g = g0; g < g1; ++g) {
    auto* out = reinterpret_cast<uint16_t*>(dst + static_cast<size_t>(g) * float16x16_group_bytes(cols));
    for (int64_t j = 0; j < kX16; ++j) {
      const int64_t r = g * kX16 + j;
      for (int64_t c = 0; c < cols; ++c) out[c * kX16 + j] = r < rows ? in[r * cols + c] : 0;
    }
  }
}

size_t f32_row_bytes(int64_t cols) { return static_cast<size_t>(cols) * sizeof(float); }

// ---- activations of the file formats --------------------------------------------------------

size_t q8_0_row_bytes(int64_t cols) { return ggml_row_size(GgmlType::Q8_0, cols); }
void convert_q8_0(const float* src, void* dst, int64_t n) { traits(GgmlType::Q8_0)->from_float_vec_dot(src, dst, n); }
size_t q8_k_row_bytes(int64_t cols) { return ggml_row_size(GgmlType::Q8_K, cols); }
void convert_q8_k(const float* src, void* dst, int64_t n) { traits(GgmlType::Q4_K)->from_float_vec_dot(src, dst, n); }

using namespace detail;

// A k-quant format's row: groups of 16 rows against Q8_K activations.
constexpr PackedFormat kquant(const char* name, const char* isa, GgmlType type, size_t (*group_bytes)(int64_t),
                              decltype(PackedFormat::pack) pack, TileDotFn tile) {
  return {name, isa, type, kX16, group_bytes, pack, q8_k_row_bytes, convert_q8_k, tile};
}

// Preferred first within a type.
const PackedFormat kFormats[] = {
    {"q8_0x16", "avx512", GgmlType::Q8_0, kX16, q8_0x16_group_bytes, pack_q8_0x16, q8_0sum_row_bytes, convert_q8_0sum,
     tile_q8_0x16_avx512},
    {"q8_0x8", "avx2", GgmlType::Q8_0, kQ8_0x8Rows, q8_0x8_group_bytes, repack_q8_0x8, q8_0_row_bytes, convert_q8_0,
     tile_q8_0x8_avx2},
    kquant("q4_Kx16", "avx512", GgmlType::Q4_K, q4_kx16_group_bytes, pack_k4x16<BlockQ4_K, false>, tile_q4_kx16_avx512),
    kquant("q5_Kx16", "avx512", GgmlType::Q5_K, q5_kx16_group_bytes, pack_k4x16<BlockQ5_K, true>, tile_q5_kx16_avx512),
    kquant("q6_Kx16", "avx512", GgmlType::Q6_K, q6_kx16_group_bytes, pack_q6_kx16, tile_q6_kx16_avx512),
    kquant("q4_Kx16", "avx2", GgmlType::Q4_K, q4_kx16_group_bytes, pack_k4x16<BlockQ4_K, false>, tile_q4_kx16_avx2),
    kquant("q5_Kx16", "avx2", GgmlType::Q5_K, q5_kx16_group_bytes, pack_k4x16<BlockQ5_K, true>, tile_q5_kx16_avx2),
    kquant("q6_Kx16", "avx2", GgmlType::Q6_K, q6_kx16_group_bytes, pack_q6_kx16, tile_q6_kx16_avx2),
    {"f16x16", "avx512", GgmlType::F16, kX16, float16x16_group_bytes, pack_float16x16, f32_row_bytes, nullptr,
     tile_f16x16_avx512},
    {"bf16x16", "avx512", GgmlType::BF16, kX16, float16x16_group_bytes, pack_float16x16, f32_row_bytes, nullptr,
     tile_bf16x16_avx512},
    {"f16x16", "avx2", GgmlType::F16, kX16, float16x16_group_bytes, pack_float16x16, f32_row_bytes, nullptr,
     tile_f16x16_avx2},
    {"bf16x16", "avx2", GgmlType::BF16, kX16, float16x16_group_bytes, pack_float16x16, f32_row_bytes, nullptr,
     tile_bf16x16_avx2},
};

bool runnable(const PackedFormat& f) { return std::string_view(f.isa) == "avx512" ? cpu_has_avx512() : cpu_has_avx2(); }

}  // namespace

std::vector<const PackedFormat*> packed_formats(GgmlType type) {
  std::vector<const PackedFormat*> out;
  for (const PackedFormat& f : kFormats)
    if (f.type == type && runnable(f)) out.push_back(&f);
  return out;
}

const PackedFormat* packed_format(GgmlType type) {
  static const bool disabled = [] {
    const char* v = std::getenv("HAYATE_NO_REPACK");
    return v && *v && std::string_view(v) != "0";
  }();
  if (disabled || scalar_kernels_forced()) return nullptr;
  const auto all = packed_formats(type);
  return all.empty() ? nullptr : all.front();
}

size_t packed_bytes(const PackedFormat& f, int64_t rows, int64_t cols) {
  return static_cast<size_t>((rows + f.group_rows - 1) / f.group_rows) * f.group_bytes(cols);
}

}  // namespace hayate::quant
