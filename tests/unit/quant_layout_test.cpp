// Hand-built blocks of every type decode to hand-computed values. The expected numbers are
// worked out from the GGUF layout description (see src/quant/blocks.h), not from our code, so
// a wrong nibble, bit or scale packing shows up here even if quantize and dequantize agree.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "quant/blocks.h"
#include "quant/quant.h"

namespace hayate::quant {
namespace {

constexpr uint16_t kHalfQuarter = 0x3400;  // 0.25
constexpr uint16_t kHalfHalf = 0x3800;     // 0.5
constexpr uint16_t kHalfOne = 0x3c00;      // 1.0
constexpr uint16_t kHalfTwo = 0x4000;      // 2.0

template <class Block>
std::vector<float> decode(GgmlType type, const Block& b, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  dequantize_row(type, &b, out.data(), n);
  return out;
}

TEST(Layout, Q8_0) {
  BlockQ8_0 b{};
  b.d = kHalfHalf;
  b.qs[0] = 10;
  b.qs[7] = -3;
  b.qs[31] = -128;
  const auto y = decode(GgmlType::Q8_0, b, 32);
  EXPECT_EQ(y[0], 5.0f);
  EXPECT_EQ(y[7], -1.5f);
  EXPECT_EQ(y[31], -64.0f);
  EXPECT_EQ(y[1], 0.0f);
}

TEST(Layout, Q4_0) {
  BlockQ4_0 b{};
  b.d = kHalfTwo;
  b.qs[0] = 0x3a;   // element 0: 10, element 16: 3
  b.qs[15] = 0xf0;  // element 15: 0, element 31: 15
  b.qs[4] = 0x88;   // elements 4 and 20: 8, i.e. zero
  const auto y = decode(GgmlType::Q4_0, b, 32);
  EXPECT_EQ(y[0], 4.0f);     // 2 * (10 - 8)
  EXPECT_EQ(y[16], -10.0f);  // 2 * (3 - 8)
  EXPECT_EQ(y[15], -16.0f);  // 2 * (0 - 8)
  EXPECT_EQ(y[31], 14.0f);   // 2 * (15 - 8)
  EXPECT_EQ(y[4], 0.0f);
  EXPECT_EQ(y[20], 0.0f);
  EXPECT_EQ(y[1], -16.0f);  // zero byte: code 0
}

TEST(Layout, Q2_K) {
  BlockQ2_K b{};
  b.d = kHalfOne;
  b.dmin = kHalfHalf;
  b.scales[0] = 0x21;   // sub-block 0: scale 1, min 2
  b.scales[5] = 0x03;   // sub-block 5: scale 3, min 0
  b.scales[10] = 0x15;  // sub-block 10: scale 5, min 1
  b.scales[15] = 0xf7;  // sub-block 15: scale 7, min 15
  b.qs[0] = 0x02;       // element 0 (half 0, shift 0, l 0): code 2
  b.qs[16] = 0x30;      // element 80 (half 0, shift 4, l 16): code 3
  b.qs[33] = 0x08;      // element 161 (half 1, shift 2, l 1): code 2
  b.qs[63] = 0x40;      // element 255 (half 1, shift 6, l 31): code 1
  const auto y = decode(GgmlType::Q2_K, b, 256);
  EXPECT_EQ(y[0], 1.0f);     // 1*1*2 - 0.5*2
  EXPECT_EQ(y[1], -1.0f);    // code 0, same sub-block
  EXPECT_EQ(y[80], 9.0f);    // 1*3*3 - 0
  EXPECT_EQ(y[161], 9.5f);   // 1*5*2 - 0.5*1
  EXPECT_EQ(y[255], -0.5f);  // 1*7*1 - 0.5*15
  EXPECT_EQ(y[16], 0.0f);    // sub-block 1 has scale 0 and min 0
}

TEST(Layout, Q3_K) {
  BlockQ3_K b{};
  b.d = kHalfTwo;
  // Scales (6-bit, minus 32). Untouched sub-blocks read 0 -> -32.
  b.scales[0] = 0x05;   // low nibble of scale 0
  b.scales[8] = 0x02;   // bits 0-1: top bits of scale 0 -> 0x25 = 37 -> 5
  b.scales[1] = 0xa0;   // high nibble: low bits of scale 9
  b.scales[9] = 0x30;   // bits 4-5: top bits of scale 9 -> 0x3a = 58 -> 26
  b.scales[6] = 0x07;   // low bits of scale 6
  b.scales[10] = 0x04;  // bits 2-3: top bits of scale 6 -> 0x17 = 23 -> -9
  b.scales[7] = 0xc0;   // low bits of scale 15
  b.scales[11] = 0x40;  // bits 6-7: top bits of scale 15 -> 0x1c = 28 -> -4
  b.qs[0] = 0x03;       // element 0: low bits 3
  b.hmask[0] = 0x01;    // element 0: high bit set -> code 3 + 4 - 4 = 3
  b.qs[54] = 0x01;      // element 150 (half 1, shift 0, l 22): low bits 1
  b.hmask[22] = 0x10;   // bit 4 = half 1, j 0 -> code 1
  b.qs[63] = 0x80;      // element 255 (half 1, shift 6, l 31): low 2, no high bit -> -2
  b.qs[4] = 0xc0;       // element 100 (half 0, j 3, l 4): low 3
  b.hmask[4] = 0x08;    // bit 3 -> code 3; element 36 (j 1, l 4) keeps low 0, no high -> -4
  const auto y = decode(GgmlType::Q3_K, b, 256);
  EXPECT_EQ(y[0], 30.0f);     // 2 * 5 * 3
  EXPECT_EQ(y[1], -40.0f);    // 2 * 5 * -4
  EXPECT_EQ(y[150], 52.0f);   // 2 * 26 * 1
  EXPECT_EQ(y[255], 16.0f);   // 2 * -4 * -2
  EXPECT_EQ(y[100], -54.0f);  // 2 * -9 * 3
  EXPECT_EQ(y[36], 256.0f);   // 2 * -32 * -4
}

TEST(Layout, Q4_K) {
  BlockQ4_K b{};
  b.d = kHalfOne;
  b.dmin = kHalfTwo;
  b.scales[0] = 0x0a;  // scale 0 = 10
  b.scales[4] = 0x03;  // min 0 = 3
  b.scales[9] = 0x27;  // low nibbles: scale 5 = 7, min 5 = 2
  b.scales[1] = 0x80;  // scale 1 = 0; bits 6-7 (2) are the top of scale 5 -> 39
  b.scales[5] = 0x41;  // min 1 = 1; bits 6-7 (1) are the top of min 5 -> 18
  b.qs[0] = 0x5c;      // element 0: 12; element 32: 5
  b.qs[79] = 0x90;     // chunk 2, l 15, high nibble: element 175 = 9
  const auto y = decode(GgmlType::Q4_K, b, 256);
  EXPECT_EQ(y[0], 114.0f);    // 1*10*12 - 2*3
  EXPECT_EQ(y[1], -6.0f);     // code 0
  EXPECT_EQ(y[32], -2.0f);    // 1*0*5 - 2*1
  EXPECT_EQ(y[175], 315.0f);  // 1*39*9 - 2*18
  EXPECT_EQ(y[160], -36.0f);  // code 0 of sub-block 5
  EXPECT_EQ(y[255], 0.0f);    // sub-block 7: scale 0, min 0
}

TEST(Layout, Q5_K) {
  BlockQ5_K b{};
  b.d = kHalfOne;
  b.dmin = kHalfTwo;
  b.scales[0] = 0x0a;
  b.scales[4] = 0x03;
  b.scales[9] = 0x27;
  b.scales[1] = 0x80;
  b.scales[5] = 0x41;  // same scales as the Q4_K case
  b.qs[0] = 0x5c;
  b.qs[79] = 0x90;
  b.qh[0] = 0x21;   // bit 0: element 0 gets +16; bit 5: element 160 (sub-block 5, l 0) gets +16
  b.qh[15] = 0x20;  // bit 5: element 175 gets +16
  const auto y = decode(GgmlType::Q5_K, b, 256);
  EXPECT_EQ(y[0], 274.0f);    // 1*10*(12+16) - 2*3
  EXPECT_EQ(y[32], -2.0f);    // 1*0*5 - 2*1 (bit 1 of qh[0] clear)
  EXPECT_EQ(y[175], 939.0f);  // 1*39*(9+16) - 2*18
  EXPECT_EQ(y[160], 588.0f);  // 1*39*16 - 2*18
  EXPECT_EQ(y[64], 0.0f);     // sub-block 2: scale 0, min 0
}

TEST(Layout, Q6_K) {
  BlockQ6_K b{};
  b.d = kHalfHalf;
  b.scales[0] = 2;
  b.scales[4] = 1;
  b.scales[5] = -3;
  b.scales[10] = -128;
  b.scales[15] = 127;
  b.ql[0] = 0x07;    // element 0: low 4 bits 7 (element 64 uses the high nibble: 0)
  b.qh[0] = 0x02;    // element 0: top bits 2 -> 39; element 64 (bits 4-5): 0
  b.ql[16] = 0xf0;   // element 80 (half 0, g 2, l 16): high nibble 15
  b.qh[16] = 0x30;   // bits 4-5: 3 -> 63
  b.ql[104] = 0x0a;  // element 168 (half 1, g 1, l 8): ql[64+32+8] low nibble 10
  b.qh[40] = 0x04;   // qh[32+8] bits 2-3: 1 -> 26
  b.ql[127] = 0x10;  // element 255 (half 1, g 3, l 31): ql[64+32+31] high nibble 1
  b.qh[63] = 0x40;   // qh[32+31] bits 6-7: 1 -> 17
  const auto y = decode(GgmlType::Q6_K, b, 256);
  EXPECT_EQ(y[0], 7.0f);       // 0.5 * 2 * (39 - 32)
  EXPECT_EQ(y[64], -16.0f);    // 0.5 * 1 * (0 - 32)
  EXPECT_EQ(y[80], -46.5f);    // 0.5 * -3 * (63 - 32)
  EXPECT_EQ(y[168], 384.0f);   // 0.5 * -128 * (26 - 32)
  EXPECT_EQ(y[255], -952.5f);  // 0.5 * 127 * (17 - 32)
}

TEST(Layout, Q8_K) {
  BlockQ8_K b{};
  b.d = 0.25f;
  b.qs[3] = -7;
  b.qs[255] = 100;
  const auto y = decode(GgmlType::Q8_K, b, 256);
  EXPECT_EQ(y[3], -1.75f);
  EXPECT_EQ(y[255], 25.0f);
  EXPECT_EQ(y[0], 0.0f);
}

TEST(Layout, FloatTypes) {
  const uint16_t halves[] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x7e00, kHalfQuarter};
  std::vector<float> y(7);
  dequantize_row(GgmlType::F16, halves, y.data(), 7);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -2.0f);
  EXPECT_EQ(y[2], 65504.0f);
  EXPECT_EQ(y[3], 5.9604644775390625e-8f);
  EXPECT_EQ(y[4], std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(y[5]));
  EXPECT_EQ(y[6], 0.25f);

  const uint16_t bf[] = {0x3f80, 0xc040, 0x7f80, 0x4049};
  dequantize_row(GgmlType::BF16, bf, y.data(), 4);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -3.0f);
  EXPECT_EQ(y[2], std::numeric_limits<float>::infinity());
  EXPECT_EQ(y[3], 3.140625f);
}

// The scale packings must invert exactly for every representable value.
TEST(Layout, ScalePackingsRoundTrip) {
  for (int v = 0; v < 64; ++v) {
    uint8_t sc[8], mn[8], packed[12];
    for (int j = 0; j < 8; ++j) {
      sc[j] = static_cast<uint8_t>((v + 7 * j) % 64);
      mn[j] = static_cast<uint8_t>((v + 13 * j + 5) % 64);
    }
    k4_pack_scale_min(sc, mn, packed);
    uint64_t all_sc, all_mn;
    k4_unpack(packed, &all_sc, &all_mn);
    for (int j = 0; j < 8; ++j) {
      int s, m;
      k4_scale_min(packed, j, &s, &m);
      EXPECT_EQ(s, sc[j]);
      EXPECT_EQ(m, mn[j]);
      EXPECT_EQ((all_sc >> (8 * j)) & 0xff, sc[j]);
      EXPECT_EQ((all_mn >> (8 * j)) & 0xff, mn[j]);
    }
    uint8_t biased[16];
    for (int i = 0; i < 16; ++i) biased[i] = static_cast<uint8_t>((v + 11 * i) % 64);
    q3k_pack_scales(biased, packed);
    uint64_t all[2];
    q3k_unpack(packed, all);
    for (int i = 0; i < 16; ++i) {
      EXPECT_EQ(q3k_scale(packed, i), biased[i] - 32);
      EXPECT_EQ((all[i / 8] >> (8 * (i % 8))) & 0xff, biased[i]);
    }
  }
}

// Values that a format represents exactly come back (nearly) unchanged when quantized again:
// the quantizer finds the grid they lie on rather than drifting to a neighbouring one.
TEST(Layout, QuantizerIsStableOnItsOwnOutput) {
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i) x[i] = static_cast<float>((i * 37) % 101 - 50) / 10.0f;
  for (const GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q6_K, GgmlType::Q5_K, GgmlType::Q4_K}) {
    std::vector<uint8_t> q1(ggml_row_size(t, 256)), q2(q1.size());
    std::vector<float> y(256), z(256);
    quantize_row(t, x.data(), q1.data(), 256);
    dequantize_row(t, q1.data(), y.data(), 256);
    quantize_row(t, y.data(), q2.data(), 256);
    dequantize_row(t, q2.data(), z.data(), 256);
    for (int i = 0; i < 256; ++i)
      EXPECT_NEAR(z[i], y[i], 1e-3 * (1 + std::fabs(y[i]))) << ggml_type_name(t) << " " << i;
  }
}

}  // namespace
}  // namespace hayate::quant
