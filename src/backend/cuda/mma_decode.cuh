// How the tensor-core kernel (matmul_mma.cu) reads and decodes one lane's weights, per format:
// Raw holds what lane (g = lane / 4, q = lane % 4) needs of one row's 256-column super-block, and
// decode() turns chunk c's 8 weights [32c + 8q, 32c + 8q + 8) of it into 4 half2 words (columns
// {0,1}, {2,3}, {4,5}, {6,7} of the 8) in f16 arithmetic, two weights an instruction: codes become
// halves by a byte permute (0x6400 | code = 1024 + code), less 1024 exactly, then one f16 FMA with
// the sub-block's scale and min rounded to f16. Q8_0 is exact (its scale is a half already); the
// k-quants differ from the reference's f32 arithmetic by the scale's and min's f16 rounding.
// decode_exact() gives the reference's f32 values rounded once to f16 (the older kernels' tiles),
// at ~8 instructions a weight.
// Host and device: backend_cuda_dequant_test checks every lane against the reference on the CPU.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>

#include "backend/cuda/dequant.cuh"
#include "backend/cuda/matvec_fast.cuh"  // fast::ld

namespace hayate::cuda::mma {

HAYATE_HD uint32_t funnel_r16(uint32_t lo, uint32_t hi) {
#ifdef __CUDA_ARCH__
  return __funnelshift_r(lo, hi, 16);
#else
  return (lo >> 16) | (hi << 16);
#endif
}

HAYATE_HD float bits_float(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

HAYATE_HD uint32_t half2_bits(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  uint32_t u;
  std::memcpy(&u, &h, 4);
  return u;
}

// Bytes of a and b picked by sel (PTX prmt / __byte_perm).
HAYATE_HD uint32_t byte_perm(uint32_t a, uint32_t b, uint32_t sel) {
#ifdef __CUDA_ARCH__
  return __byte_perm(a, b, sel);
#else
  const uint64_t ab = (static_cast<uint64_t>(b) << 32) | a;
  uint32_t r = 0;
  for (int i = 0; i < 4; ++i) r |= static_cast<uint32_t>((ab >> (8 * ((sel >> (4 * i)) & 7))) & 0xFF) << (8 * i);
  return r;
#endif
}

// Bytes 0,1 (hi: 2,3) of t, each below 1024, as the halves 1024 + byte (0x64XX).
HAYATE_HD uint32_t bytes_as_halves(uint32_t t, bool hi) { return byte_perm(t, 0x64u, hi ? 0x4342u : 0x4140u); }

// Per half of the pairs: (h - sub) * mul + add, in f16 with one rounding (the subtraction is exact
// for the small integers it is given).
HAYATE_HD uint32_t h2_sub_fma(uint32_t h, uint32_t sub, uint32_t mul, uint32_t add) {
#ifdef __CUDA_ARCH__
  const __half2 x = __hsub2(*reinterpret_cast<const __half2*>(&h), *reinterpret_cast<const __half2*>(&sub));
  const __half2 r = __hfma2(x, *reinterpret_cast<const __half2*>(&mul), *reinterpret_cast<const __half2*>(&add));
  return *reinterpret_cast<const uint32_t*>(&r);
#else
  uint32_t out = 0;
  for (int i = 0; i < 2; ++i) {
    auto f = [&](uint32_t v) {
      return static_cast<double>(__half2float(__ushort_as_half(static_cast<unsigned short>(v >> (16 * i)))));
    };
    const double x = f(h) - f(sub);
    out |= static_cast<uint32_t>(__half_as_ushort(__double2half(x * f(mul) + f(add)))) << (16 * i);
  }
  return out;
#endif
}

HAYATE_HD float u2f(uint32_t v) { return bits_float(0x4B000000u | v) - 8388608.0f; }
HAYATE_HD uint32_t byte_of(uint32_t w, int i) { return (w >> (8 * i)) & 0xFFu; }

// 8 bytes at p, which is 2-byte aligned (4-byte alignment the same for the whole warp).
HAYATE_HD uint2 ld8(const uint8_t* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  const auto* w = reinterpret_cast<const uint32_t*>(a & ~uintptr_t{3});
  if ((a & 3) == 0) return make_uint2(fast::ld(w), fast::ld(w + 1));
  const uint32_t w0 = fast::ld(w), w1 = fast::ld(w + 1), w2 = fast::ld(w + 2);
  return make_uint2(funnel_r16(w0, w1), funnel_r16(w1, w2));
}
HAYATE_HD uint32_t ld16(const uint8_t* p) { return fast::ld(reinterpret_cast<const unsigned short*>(p)); }

// Byte i (0..7) of an 8-byte run.
HAYATE_HD uint32_t run_byte(uint2 r, int i) { return byte_of(i < 4 ? r.x : r.y, i % 4); }

// Per format: Raw holds what one lane needs of one row's super-block; decode() turns chunk c's
// 8 weights of the lane into 4 half2 words (physical columns 8q + {0,1}, {2,3}, {4,5}, {6,7}).
template <uint32_t T>
struct Format;

// Q4_K / Q5_K scale and min of sub-block c from the 16-byte header (d, dmin, scales[12]).
HAYATE_HD void k4_scale_min(const uint4& h, int c, float* scale, float* min) {
  const uint32_t s[3] = {h.y, h.z, h.w};
  auto sb = [&](int j) { return byte_of(s[j / 4], j % 4); };
  uint32_t sc, m;
  if (c < 4) {
    sc = sb(c) & 63;
    m = sb(c + 4) & 63;
  } else {
    sc = (sb(c + 4) & 0x0F) | ((sb(c - 4) >> 6) << 4);
    m = (sb(c + 4) >> 4) | ((sb(c) >> 6) << 4);
  }
  *scale = half_bits(static_cast<uint16_t>(h.x & 0xFFFF)) * static_cast<float>(sc);
  *min = mul_rn(half_bits(static_cast<uint16_t>(h.x >> 16)), static_cast<float>(m));
}

// Q4_K / Q5_K: the lane's 8 codes of chunk c (a byte each in t) times the sub-block's scale, less
// its min; in f16 (two an instruction), or exactly as the reference in f32 then rounded once.
HAYATE_HD void k4_halves(const uint4& h, int c, const uint32_t t[2], bool exact, uint32_t out[4]) {
  float scale, min;
  k4_scale_min(h, c, &scale, &min);
  if (!exact) {
    const uint32_t s2 = half2_bits(scale, scale), m2 = half2_bits(-min, -min);
#pragma unroll
    for (int k = 0; k < 4; ++k) out[k] = h2_sub_fma(bytes_as_halves(t[k / 2], k % 2), 0x64006400u, s2, m2);
    return;
  }
  float v[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = mul_rn(scale, u2f(byte_of(t[i / 4], i % 4))) - min;
#pragma unroll
  for (int k = 0; k < 4; ++k) out[k] = half2_bits(v[2 * k], v[2 * k + 1]);
}

// Q4_K and Q5_K differ only in their codes (F::codes): the decoders on top of them.
template <typename F>
struct K4 {
  template <typename Raw>
  static HAYATE_HD void decode(const Raw& r, int c, int, uint32_t out[4]) {
    uint32_t t[2];
    F::codes(r, c, t);
    k4_halves(r.h, c, t, false, out);
  }
  template <typename Raw>
  static HAYATE_HD void decode_exact(const Raw& r, int c, int, uint32_t out[4]) {
    uint32_t t[2];
    F::codes(r, c, t);
    k4_halves(r.h, c, t, true, out);
  }
};

template <>
struct Format<kQ4_K> : K4<Format<kQ4_K>> {
  static constexpr int kBytes = 144;
  struct Raw {
    uint4 h;
    uint2 qs[4];
  };
  static HAYATE_HD void load(Raw& r, const uint8_t* sb, int q) {
    r.h = fast::ld(reinterpret_cast<const uint4*>(sb));
#pragma unroll
    for (int p = 0; p < 4; ++p) r.qs[p] = fast::ld(reinterpret_cast<const uint2*>(sb + 16 + 32 * p + 8 * q));
  }
  static HAYATE_HD void codes(const Raw& r, int c, uint32_t t[2]) {
    const uint2 qs = r.qs[c / 2];
    const int shift = 4 * (c % 2);
    t[0] = (qs.x >> shift) & 0x0F0F0F0Fu;
    t[1] = (qs.y >> shift) & 0x0F0F0F0Fu;
  }
};

template <>
struct Format<kQ5_K> : K4<Format<kQ5_K>> {
  static constexpr int kBytes = 176;
  struct Raw {
    uint4 h;
    uint2 qh;
    uint2 qs[4];
  };
  static HAYATE_HD void load(Raw& r, const uint8_t* sb, int q) {
    r.h = fast::ld(reinterpret_cast<const uint4*>(sb));
    r.qh = fast::ld(reinterpret_cast<const uint2*>(sb + 16 + 8 * q));
#pragma unroll
    for (int p = 0; p < 4; ++p) r.qs[p] = fast::ld(reinterpret_cast<const uint2*>(sb + 48 + 32 * p + 8 * q));
  }
  static HAYATE_HD void codes(const Raw& r, int c, uint32_t t[2]) {
    const uint2 qs = r.qs[c / 2];
    const int shift = 4 * (c % 2);
    t[0] = ((qs.x >> shift) & 0x0F0F0F0Fu) | (((r.qh.x >> c) & 0x01010101u) << 4);
    t[1] = ((qs.y >> shift) & 0x0F0F0F0Fu) | (((r.qh.y >> c) & 0x01010101u) << 4);
  }
};

// Q6_K chunk c: half h = c / 4 of the super-block, g = c % 4 picks the ql run and nibble and the
// qh bit pair; the scale of the lane's 8 weights is scales[2c + q / 2] (16 weights a scale).
template <>
struct Format<kQ6_K> {
  static constexpr int kBytes = 210;
  struct Raw {
    uint2 ql[2][2];
    uint2 qh[2];
    uint2 sc[2];
    uint32_t d;
  };
  static HAYATE_HD void load(Raw& r, const uint8_t* sb, int q) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      r.ql[h][0] = ld8(sb + 64 * h + 8 * q);
      r.ql[h][1] = ld8(sb + 64 * h + 32 + 8 * q);
      r.qh[h] = ld8(sb + 128 + 32 * h + 8 * q);
    }
    r.sc[0] = ld8(sb + 192);
    r.sc[1] = ld8(sb + 200);
    r.d = ld16(sb + 208);
  }
  static HAYATE_HD void decode(const Raw& r, int c, int q, uint32_t out[4]) {
    const int h = c / 4, g = c % 4;
    const uint2 s = r.sc[c / 4];
    const uint32_t sw = (c % 4) < 2 ? s.x : s.y;
    const auto sc = static_cast<int8_t>(byte_of(sw, 2 * (c % 2) + q / 2));
    const float scale = half_bits(static_cast<uint16_t>(r.d)) * static_cast<float>(sc);
    const uint2 ql = r.ql[h][g & 1], qh = r.qh[h];
    const int lshift = 4 * (g >> 1), hshift = 2 * g;
    const uint32_t t[2] = {((ql.x >> lshift) & 0x0F0F0F0Fu) | (((qh.x >> hshift) & 0x03030303u) << 4),
                           ((ql.y >> lshift) & 0x0F0F0F0Fu) | (((qh.y >> hshift) & 0x03030303u) << 4)};
    const uint32_t s2 = half2_bits(scale, scale);
#pragma unroll  // (1024 + code) - 1056 = code - 32, exact; times the scale, one rounding (+ -0 changes nothing)
    for (int k = 0; k < 4; ++k) out[k] = h2_sub_fma(bytes_as_halves(t[k / 2], k % 2), 0x64206420u, s2, 0x80008000u);
  }
  static HAYATE_HD void decode_exact(const Raw& r, int c, int q, uint32_t out[4]) {
    const int h = c / 4, g = c % 4;
    const uint2 s = r.sc[c / 4];
    const uint32_t sw = (c % 4) < 2 ? s.x : s.y;
    const auto sc = static_cast<int8_t>(byte_of(sw, 2 * (c % 2) + q / 2));
    const float scale = half_bits(static_cast<uint16_t>(r.d)) * static_cast<float>(sc);
    const uint2 ql = r.ql[h][g & 1];
    const int lshift = 4 * (g >> 1), hshift = 2 * g;
    float v[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint32_t code = ((run_byte(ql, i) >> lshift) & 0x0F) | (((run_byte(r.qh[h], i) >> hshift) & 3) << 4);
      v[i] = scale * (bits_float(0x4B000000u | code) - 8388640.0f);  // code - 32, exact
    }
#pragma unroll
    for (int k = 0; k < 4; ++k) out[k] = half2_bits(v[2 * k], v[2 * k + 1]);
  }
};

template <>
struct Format<kQ8_0> {
  static constexpr int kBytes = 8 * 34;
  struct Raw {
    uint2 qs[8];
    uint32_t d[8];
  };
  static HAYATE_HD void load(Raw& r, const uint8_t* sb, int q) {
#pragma unroll
    for (int b = 0; b < 8; ++b) {
      r.qs[b] = ld8(sb + 34 * b + 2 + 8 * q);
      r.d[b] = ld16(sb + 34 * b);
    }
  }
  static HAYATE_HD void decode(const Raw& r, int c, int, uint32_t out[4]) {
    const uint32_t d2 = r.d[c] | (r.d[c] << 16);  // d is a half already: d * code rounds once, as in f32
    const uint32_t t[2] = {r.qs[c].x ^ 0x80808080u, r.qs[c].y ^ 0x80808080u};  // code + 128
#pragma unroll
    for (int k = 0; k < 4; ++k) out[k] = h2_sub_fma(bytes_as_halves(t[k / 2], k % 2), 0x64806480u, d2, 0x80008000u);
  }
  static HAYATE_HD void decode_exact(const Raw& r, int c, int, uint32_t out[4]) {
    const float d = half_bits(static_cast<uint16_t>(r.d[c]));
    float v[8];
#pragma unroll
    for (int i = 0; i < 8; ++i)  // the signed code + 128, exactly as a float, less 128
      v[i] = d * (bits_float(0x4B000000u | (run_byte(r.qs[c], i) ^ 0x80u)) - 8388736.0f);
#pragma unroll
    for (int k = 0; k < 4; ++k) out[k] = half2_bits(v[2 * k], v[2 * k + 1]);
  }
};

}  // namespace hayate::cuda::mma
