// Packed quantization blocks, byte-for-byte as GGUF stores them (little-endian, no padding).
//
// Notation used below: e is the element index inside a block, "sub-block" a run of weights
// sharing one small scale. fp16 fields are IEEE half bit patterns (core/fp16.h converts them).
//
//   Q8_0  32 weights   x[e] = d * qs[e]
//   Q4_0  32 weights   x[e] = d * (nibble - 8); qs[e] low nibble for e < 16, qs[e-16] high nibble else
//   Q2_K  256 weights, 16 sub-blocks of 16; scales[e/16]: low nibble scale, high nibble min
//         x = d*scale*q - dmin*min; q (2 bits) = bits 2j..2j+1 of qs[32h + l]
//         where h = e/128, j = (e%128)/32, l = e%32
//   Q3_K  256 weights, 16 sub-blocks of 16 with signed 6-bit scales (stored +32)
//         x = d*(scale-32)*(q-4); low 2 bits of q as in Q2_K, bit 2 of q = bit (4h+j) of hmask[l]
//   Q4_K  256 weights, 8 sub-blocks of 32 with 6-bit scale and min
//         x = d*scale*q - dmin*min; qs[32c + l] low nibble is e = 64c + l, high nibble e = 64c + 32 + l
//   Q5_K  as Q4_K, plus the fifth bit: bit 2c of qh[l] for e = 64c + l, bit 2c+1 for e = 64c + 32 + l
//   Q6_K  256 weights, 16 sub-blocks of 16 with int8 scales; x = d*scales[e/16]*(q-32)
//         with h, l as in Q2_K and g = (e%128)/32: the low 4 bits of q are in ql[64h + 32*(g%2) + l]
//         (low nibble for g < 2, high nibble else), the top 2 bits are bits 2g..2g+1 of qh[32h + l]
//   Q8_K  256 activations, float d, bsums[k] = sum of qs[16k .. 16k+16)
#pragma once

#include <cstddef>
#include <cstdint>

namespace hayate::quant {

constexpr int kBlock32 = 32;      // Q4_0, Q8_0
constexpr int kSuperBlock = 256;  // all k-quants

struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[32];
};
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[16];
};
struct BlockQ2_K {
  uint8_t scales[16];
  uint8_t qs[64];
  uint16_t d;
  uint16_t dmin;
};
struct BlockQ3_K {
  uint8_t hmask[32];
  uint8_t qs[64];
  uint8_t scales[12];
  uint16_t d;
};
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[128];
};
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
struct BlockQ6_K {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};
struct BlockQ8_K {
  float d;
  int8_t qs[256];
  int16_t bsums[16];
};

static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ2_K) == 84 && offsetof(BlockQ2_K, d) == 80);
static_assert(sizeof(BlockQ3_K) == 110 && offsetof(BlockQ3_K, d) == 108);
static_assert(sizeof(BlockQ4_K) == 144 && offsetof(BlockQ4_K, qs) == 16);
static_assert(sizeof(BlockQ5_K) == 176 && offsetof(BlockQ5_K, qs) == 48);
static_assert(sizeof(BlockQ6_K) == 210 && offsetof(BlockQ6_K, d) == 208);
static_assert(sizeof(BlockQ8_K) == 292 && offsetof(BlockQ8_K, bsums) == 260);

// The helpers below have internal linkage on purpose: they are also compiled into the AVX2 and
// AVX-512 files, and an out-of-line copy built for one instruction set must never be picked by
// the linker for callers in another (a baseline caller landing in AVX-512 code would crash).
namespace {

// Q4_K / Q5_K: 8 scales and 8 mins of 6 bits in 12 bytes. Bytes 0..3 hold scales 0..3 and
// bytes 4..7 mins 0..3 in their low 6 bits; bytes 8..11 hold the low nibbles of scale 4..7
// (low half) and min 4..7 (high half); the top 2 bits of scale j+4 / min j+4 sit in bits 6..7
// of byte j / byte j+4.
inline void k4_scale_min(const uint8_t* s, int j, int* scale, int* min) {
  if (j < 4) {
    *scale = s[j] & 63;
    *min = s[j + 4] & 63;
  } else {
    *scale = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
    *min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

inline void k4_pack_scale_min(const uint8_t scale[8], const uint8_t min[8], uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>((scale[j] & 63) | ((scale[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>((min[j] & 63) | ((min[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((scale[j + 4] & 0x0F) | ((min[j + 4] & 0x0F) << 4));
  }
}

// Q3_K: 16 scales of 6 bits (value + 32) in 12 bytes. Byte i (i < 8) holds the low nibble of
// scale i in its low half and of scale i+8 in its high half; the top 2 bits of scale i are
// bits 2*(i/4).. of byte 8 + i%4. Returns the signed scale (-32..31).
inline int q3k_scale(const uint8_t* s, int i) {
  const int low = i < 8 ? (s[i] & 0x0F) : (s[i - 8] >> 4);
  const int high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
  return (low | (high << 4)) - 32;
}

// `biased` are scale + 32, each 0..63.
inline void q3k_pack_scales(const uint8_t biased[16], uint8_t* s) {
  for (int i = 0; i < 12; ++i) s[i] = 0;
  for (int i = 0; i < 16; ++i) {
    const uint8_t v = biased[i] & 63;
    if (i < 8)
      s[i] |= v & 0x0F;
    else
      s[i - 8] |= static_cast<uint8_t>((v & 0x0F) << 4);
    s[8 + i % 4] |= static_cast<uint8_t>((v >> 4) << (2 * (i / 4)));
  }
}

// Whole-array forms of the two scale packings for the SIMD kernels: all levels at once as
// bytes in a 64-bit word (byte j = level j), computed in integer registers, so that the
// kernels avoid a store-then-vector-load round trip through memory.
inline uint64_t load_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}
inline uint64_t load_u32(const uint8_t* p) {
  return static_cast<uint64_t>(p[0]) | (static_cast<uint64_t>(p[1]) << 8) | (static_cast<uint64_t>(p[2]) << 16) |
         (static_cast<uint64_t>(p[3]) << 24);
}

// Q4_K / Q5_K: the 8 scales and the 8 mins.
inline void k4_unpack(const uint8_t* s, uint64_t* scales, uint64_t* mins) {
  constexpr uint64_t kLow6 = 0x3f3f3f3f, kLow4 = 0x0f0f0f0f, kLow2 = 0x03030303;
  const uint64_t a = load_u32(s), b = load_u32(s + 4), c = load_u32(s + 8);
  const uint64_t sc_hi = (c & kLow4) | (((a >> 6) & kLow2) << 4);
  const uint64_t mn_hi = ((c >> 4) & kLow4) | (((b >> 6) & kLow2) << 4);
  *scales = (a & kLow6) | (sc_hi << 32);
  *mins = (b & kLow6) | (mn_hi << 32);
}

// Q3_K: the 16 scales, biased (0..63): scales 0..7 in out[0], 8..15 in out[1].
inline void q3k_unpack(const uint8_t* s, uint64_t out[2]) {
  constexpr uint64_t kLow4 = 0x0f0f0f0f0f0f0f0f, kLow2 = 0x03030303;
  const uint64_t nibbles = load_u64(s), top = load_u32(s + 8);
  // Byte k of `top` holds the top bits of scales k, k+4, k+8, k+12 at shifts 0, 2, 4, 6.
  const uint64_t top_lo = (top & kLow2) | (((top >> 2) & kLow2) << 32);
  const uint64_t top_hi = ((top >> 4) & kLow2) | (((top >> 6) & kLow2) << 32);
  out[0] = (nibbles & kLow4) | (top_lo << 4);
  out[1] = ((nibbles >> 4) & kLow4) | (top_hi << 4);
}

// Q6_K: the unsigned 6-bit code (0..63) of element e of a block.
inline int q6k_get(const BlockQ6_K& b, int e) {
  const int h = e / 128, g = (e % 128) / 32, l = e % 32;
  const uint8_t low_byte = b.ql[64 * h + 32 * (g & 1) + l];
  const int low = g < 2 ? (low_byte & 0x0F) : (low_byte >> 4);
  const int high = (b.qh[32 * h + l] >> (2 * g)) & 3;
  return low | (high << 4);
}

}  // namespace

}  // namespace hayate::quant
