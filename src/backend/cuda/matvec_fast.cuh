// The per-format pieces of the coalesced decode mat-vec (matvec_fast.cu): which weights a lane
// holds and how its raw bytes become exact codes, scales and mins. Host and device code, so that
// backend_cuda_dequant_test checks the layouts against the CPU reference without a GPU.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "backend/cuda/dequant.cuh"

namespace hayate::cuda::fast {

// Byte k of v (0..255) as an exact float: 2^23 + byte, built by one permute; the caller
// subtracts 2^23 plus the format's offset in one add.
HAYATE_HD float byte_f(uint32_t v, int k) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(__byte_perm(v, 0x4B000000u, 0x7440u | static_cast<unsigned>(k)));
#else
  const uint32_t u = 0x4B000000u | ((v >> (8 * k)) & 0xFFu);
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

// A read-only load (through the texture path on the device).
template <typename U>
HAYATE_HD U ld(const U* p) {
#ifdef __CUDA_ARCH__
  return __ldg(p);
#else
  return *p;
#endif
}

// Four bytes at a 2-byte aligned address (Q6_K and Q8_0 blocks are 210 and 34 bytes long).
HAYATE_HD uint32_t ld_u32_a2(const uint8_t* p) {
  const auto* h = reinterpret_cast<const unsigned short*>(p);
  return static_cast<uint32_t>(ld(h)) | static_cast<uint32_t>(ld(h + 1)) << 16;
}

// Per format: kLanes lanes share a block of kBlockWeights weights (kBlockBytes bytes); lane `sub`
// of them holds kRuns runs of kRunLen consecutive weights, run r starting at column run_col(sub, r)
// of the block, each run with one scale (and, with kMin, a min times the run's activation sum).
template <uint32_t T>
struct Fast;

// Q4_K's six-bit scales and mins of sub-blocks 2j and 2j + 1 (blocks.h's k4_scale_min; all eight
// sit four to a word in the header's words y, z, w), times d and dmin (word x).
HAYATE_HD void q4k_pair_scales(const uint4& head, int j, float scale[2], float minc[2]) {
  const uint32_t a = head.y, b = head.z, c = head.w;
  const uint32_t sc = j < 2 ? (a & 0x3F3F3F3Fu) : ((c & 0x0F0F0F0Fu) | ((a >> 2) & 0x30303030u));
  const uint32_t mn = j < 2 ? (b & 0x3F3F3F3Fu) : (((c >> 4) & 0x0F0F0F0Fu) | ((b >> 2) & 0x30303030u));
  const int k = 16 * (j & 1);  // bit offset of sub-block 2j's byte in those words
  const float d = half_bits(static_cast<uint16_t>(head.x & 0xFFFF));
  const float dmin = half_bits(static_cast<uint16_t>(head.x >> 16));
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    scale[h] = d * static_cast<float>((sc >> (k + 8 * h)) & 0xFF);
    minc[h] = dmin * static_cast<float>((mn >> (k + 8 * h)) & 0xFF);
  }
}

// Q4_K code words: each byte's low nibble is a weight of sub-block 2j (run 0), its high nibble the
// weight 32 columns on (sub-block 2j + 1, run 1).
template <int W>
HAYATE_HD void q4k_codes(const uint32_t (&q)[W], uint32_t c[2][W]) {
#pragma unroll
  for (int i = 0; i < W; ++i) {
    c[0][i] = q[i] & 0x0F0F0F0Fu;
    c[1][i] = (q[i] >> 4) & 0x0F0F0F0Fu;
  }
}
template <int W>
HAYATE_HD void q4k_decode(const uint32_t (&q)[W], float v[2][4 * W]) {
  uint32_t c[2][W];
  q4k_codes<W>(q, c);
#pragma unroll
  for (int i = 0; i < W; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      v[0][4 * i + e] = byte_f(c[0][i], e) - 8388608.0f;
      v[1][4 * i + e] = byte_f(c[1][i], e) - 8388608.0f;
    }
}

template <>
struct Fast<kQ4_K> {
  static constexpr int kLanes = 16, kBlockWeights = 256, kBlockBytes = 144, kRuns = 2, kRunLen = 8;
  static constexpr bool kMin = true;
  struct Raw {
    uint4 head;  // d, dmin, the 12 scale bytes
    uint2 q;     // 8 code bytes: low nibbles are run 0, high nibbles run 1
  };
  // Sub-block pair j = sub / 4 (64 weights), 8-byte piece m = sub % 4 of its 32 code bytes.
  HAYATE_HD static int run_col(int sub, int r) { return 64 * (sub >> 2) + 8 * (sub & 3) + 32 * r; }
  HAYATE_HD static void load(const uint8_t* b, int sub, Raw& r) {
    r.head = ld(reinterpret_cast<const uint4*>(b));
    r.q = ld(reinterpret_cast<const uint2*>(b + 16 + 32 * (sub >> 2) + 8 * (sub & 3)));
  }
  HAYATE_HD static void decode(const Raw& r, int sub, float q[kRuns][kRunLen], float scale[kRuns], float minc[kRuns]) {
    scales(r, sub, scale, minc);
    q4k_decode<2>({r.q.x, r.q.y}, q);
  }
  HAYATE_HD static void scales(const Raw& r, int sub, float scale[kRuns], float minc[kRuns]) {
    q4k_pair_scales(r.head, sub >> 2, scale, minc);
  }
  // The same weights as signed bytes, four to a word (the codes 0..15 themselves), for dp4a.
  HAYATE_HD static void codes(const Raw& r, uint32_t c[kRuns][kRunLen / 4]) { q4k_codes<2>({r.q.x, r.q.y}, c); }
};

// Q4_K laid out for the int8 path (a format id of this file's own, not GGUF's): 8 lanes a block,
// each with 16 code bytes (runs of 16 weights) from one 16-byte load. Half the lanes of Fast<kQ4_K>
// a block, so a warp's load instruction brings 512 code bytes instead of 256, and each lane's
// header load and scale decoding (about twenty instructions) serve 32 weights instead of 16: the
// int8 mat-vec issues fewer instructions for each byte it reads.
inline constexpr uint32_t kQ4_K_Wide = 0x100u | kQ4_K;

template <>
struct Fast<kQ4_K_Wide> {
  static constexpr int kLanes = 8, kBlockWeights = 256, kBlockBytes = 144, kRuns = 2, kRunLen = 16;
  static constexpr bool kMin = true;
  struct Raw {
    uint4 head;
    uint4 q;  // 16 code bytes of sub-block pair sub / 2
  };
  HAYATE_HD static int run_col(int sub, int r) { return 64 * (sub >> 1) + 16 * (sub & 1) + 32 * r; }
  HAYATE_HD static void load(const uint8_t* b, int sub, Raw& r) {
    r.head = ld(reinterpret_cast<const uint4*>(b));
    r.q = ld(reinterpret_cast<const uint4*>(b + 16 + 32 * (sub >> 1) + 16 * (sub & 1)));
  }
  HAYATE_HD static void decode(const Raw& r, int sub, float q[kRuns][kRunLen], float scale[kRuns], float minc[kRuns]) {
    scales(r, sub, scale, minc);
    q4k_decode<4>({r.q.x, r.q.y, r.q.z, r.q.w}, q);
  }
  HAYATE_HD static void scales(const Raw& r, int sub, float scale[kRuns], float minc[kRuns]) {
    q4k_pair_scales(r.head, sub >> 1, scale, minc);
  }
  HAYATE_HD static void codes(const Raw& r, uint32_t c[kRuns][kRunLen / 4]) {
    q4k_codes<4>({r.q.x, r.q.y, r.q.z, r.q.w}, c);
  }
};

template <>
struct Fast<kQ6_K> {
  static constexpr int kLanes = 16, kBlockWeights = 256, kBlockBytes = 210, kRuns = 4, kRunLen = 4;
  static constexpr bool kMin = false;
  struct Raw {
    uint32_t ql0, ql1, qh;  // ql[64h + l0 ..], ql[64h + 32 + l0 ..], qh[32h + l0 ..]
    float scale[4];
  };
  // Half h = sub / 8 (128 weights), positions l0 = 4 * (sub % 8) .. + 3 of its four 32-weight
  // groups g (blocks.h: q6k_get): run g starts at column 128h + 32g + l0.
  HAYATE_HD static int run_col(int sub, int r) { return 128 * (sub >> 3) + 32 * r + 4 * (sub & 7); }
  HAYATE_HD static void load(const uint8_t* b, int sub, Raw& r) {
    const int h = sub >> 3, l0 = 4 * (sub & 7);
    r.ql0 = ld_u32_a2(b + 64 * h + l0);
    r.ql1 = ld_u32_a2(b + 64 * h + 32 + l0);
    r.qh = ld_u32_a2(b + 128 + 32 * h + l0);
    const float d = half_bits(ld(reinterpret_cast<const unsigned short*>(b + 208)));
    const auto* sc = reinterpret_cast<const signed char*>(b + 192 + 8 * h + (l0 >= 16 ? 1 : 0));
#pragma unroll
    for (int g = 0; g < 4; ++g) r.scale[g] = d * static_cast<float>(ld(sc + 2 * g));
  }
  // Each byte: the code's low nibble | its two high bits << 4 (0..63), run g in word g.
  HAYATE_HD static void bytes(const Raw& r, uint32_t v[4]) {
    v[0] = (r.ql0 & 0x0F0F0F0Fu) | ((r.qh << 4) & 0x30303030u);
    v[1] = (r.ql1 & 0x0F0F0F0Fu) | ((r.qh << 2) & 0x30303030u);
    v[2] = ((r.ql0 >> 4) & 0x0F0F0F0Fu) | (r.qh & 0x30303030u);
    v[3] = ((r.ql1 >> 4) & 0x0F0F0F0Fu) | ((r.qh >> 2) & 0x30303030u);
  }
  HAYATE_HD static void decode(const Raw& r, int sub, float q[kRuns][kRunLen], float scale[kRuns], float minc[kRuns]) {
    scales(r, sub, scale, minc);
    uint32_t v[4];
    bytes(r, v);
#pragma unroll
    for (int g = 0; g < 4; ++g)
#pragma unroll
      for (int e = 0; e < 4; ++e) q[g][e] = byte_f(v[g], e) - 8388640.0f;  // 2^23 + 32
  }
  // Signed codes -32..31: each byte 0..63 with bit 7 set loses 32 without a borrow, and the xor
  // takes the 128 back off (mod 256).
  HAYATE_HD static void codes(const Raw& r, uint32_t c[kRuns][kRunLen / 4]) {
    uint32_t v[4];
    bytes(r, v);
#pragma unroll
    for (int g = 0; g < 4; ++g) c[g][0] = ((v[g] | 0x80808080u) - 0x20202020u) ^ 0x80808080u;
  }
  HAYATE_HD static void scales(const Raw& r, int, float scale[kRuns], float minc[kRuns]) {
#pragma unroll
    for (int g = 0; g < 4; ++g) {
      scale[g] = r.scale[g];
      minc[g] = 0.0f;
    }
  }
};

template <>
struct Fast<kQ8_0> {
  static constexpr int kLanes = 8, kBlockWeights = 32, kBlockBytes = 34, kRuns = 1, kRunLen = 4;
  static constexpr bool kMin = false;
  struct Raw {
    uint32_t q;
    float d;
  };
  HAYATE_HD static int run_col(int sub, int) { return 4 * sub; }
  HAYATE_HD static void load(const uint8_t* b, int sub, Raw& r) {
    r.q = ld_u32_a2(b + 2 + 4 * sub);
    r.d = half_bits(ld(reinterpret_cast<const unsigned short*>(b)));
  }
  HAYATE_HD static void decode(const Raw& r, int sub, float q[kRuns][kRunLen], float scale[kRuns], float minc[kRuns]) {
    scales(r, sub, scale, minc);
    const uint32_t v = r.q ^ 0x80808080u;  // signed codes + 128
#pragma unroll
    for (int e = 0; e < 4; ++e) q[0][e] = byte_f(v, e) - 8388736.0f;  // 2^23 + 128
  }
  HAYATE_HD static void codes(const Raw& r, uint32_t c[kRuns][kRunLen / 4]) { c[0][0] = r.q; }
  HAYATE_HD static void scales(const Raw& r, int, float scale[kRuns], float minc[kRuns]) {
    scale[0] = r.d;
    minc[0] = 0.0f;
  }
};

// Q4_K super-blocks a lane loads before it decodes any of them: a warp's loads of one block are
// ~300 bytes, and with 4096 rows (one warp each) that left ~1.2 MB in flight on the whole GPU, too
// little to cover the memory's latency at its copy rate. On an H100 this took the 4096-row
// matrices from 1.09 to 1.19 TB/s and ffn_down from 1.12 to 1.46; Q6_K and Q8_0 (more registers a
// block) lost 15-35% with it, so they keep one (stage 4, docs/cuda.md).
template <uint32_t T, int NT, int R>
inline constexpr int kLoadDepth = T != kQ4_K && T != kQ4_K_Wide ? 1
                                  : NT* R <= 2 ? 4 / R
                                  : NT* R <= 4 ? 2
                                               : 1;

// Signed byte dot product of two words plus c (the device's dp4a).
HAYATE_HD int dp4a(uint32_t a, uint32_t b, int c) {
#ifdef __CUDA_ARCH__
  return __dp4a(static_cast<int>(a), static_cast<int>(b), c);
#else
  for (int k = 0; k < 4; ++k)
    c += static_cast<int8_t>(static_cast<uint8_t>(a >> (8 * k))) *
         static_cast<int8_t>(static_cast<uint8_t>(b >> (8 * k)));
  return c;
#endif
}

// The int8 path's activations: each token's row cut in blocks of 32, a block's codes q (signed,
// |q| <= 127) and its scale d = max|x| / 127, so the block is d * q. A block's scale and the
// inverse its codes are rounded with; one function so that the device's quantize kernel and the
// host's reference (quantize_act_block) make the same bytes.
HAYATE_HD float act_scale(float amax, float& inverse) {
  inverse = amax > 0.0f ? 127.0f / amax : 0.0f;
  return amax / 127.0f;
}
HAYATE_HD int8_t act_code(float x, float inverse) {
#ifdef __CUDA_ARCH__
  return static_cast<int8_t>(__float2int_rn(x * inverse));
#else
  return static_cast<int8_t>(std::nearbyint(x * inverse));
#endif
}
inline float quantize_act_block(const float* x, int8_t* q) {
  float amax = 0.0f;
  for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(x[i]));
  float inverse = 0.0f;
  const float d = act_scale(amax, inverse);
  for (int i = 0; i < 32; ++i) q[i] = act_code(x[i], inverse);
  return d;
}

// The int16 path's activations (Q16Act): the same blocks of 32 with scale max|x| / 32767, so each
// value keeps 15 bits (the int8 path's 7 moved the random test models' logits by 2e-2; these move
// them by about 2^-8 of that).
HAYATE_HD float act16_scale(float amax, float& inverse) {
  inverse = amax > 0.0f ? 32767.0f / amax : 0.0f;
  return amax / 32767.0f;
}
HAYATE_HD int16_t act16_code(float x, float inverse) {
#ifdef __CUDA_ARCH__
  return static_cast<int16_t>(__float2int_rn(x * inverse));
#else
  return static_cast<int16_t>(std::nearbyint(x * inverse));
#endif
}
inline float quantize_act16_block(const float* x, int16_t* q) {
  float amax = 0.0f;
  for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(x[i]));
  float inverse = 0.0f;
  const float d = act16_scale(amax, inverse);
  for (int i = 0; i < 32; ++i) q[i] = act16_code(x[i], inverse);
  return d;
}

// Two signed 16-bit values of a times signed bytes 0 and 1 (lo) or 2 and 3 (hi) of b, plus c
// (the device's dp2a).
template <bool kHi>
HAYATE_HD int dp2a(uint32_t a, uint32_t b, int c) {
#ifdef __CUDA_ARCH__
  if constexpr (kHi)
    return __dp2a_hi(static_cast<int>(a), static_cast<int>(b), c);
  else
    return __dp2a_lo(static_cast<int>(a), static_cast<int>(b), c);
#else
  for (int k = 0; k < 2; ++k)
    c += static_cast<int16_t>(static_cast<uint16_t>(a >> (16 * k))) *
         static_cast<int8_t>(static_cast<uint8_t>(b >> (8 * (k + (kHi ? 2 : 0)))));
  return c;
#endif
}

// Activations as f32 rows: x[t * ldx + col]. A block's weights are decoded to exact floats and
// each run's sum is f32, as in the reference.
struct F32Act {
  const float* x;
  int64_t ldx;
  template <uint32_t T, int NT, int R>
  HAYATE_HD void add_block(const typename Fast<T>::Raw (&raw)[R], int sub, int64_t blk, float (*acc)[NT]) const {
    using F = Fast<T>;
    float q[R][F::kRuns][F::kRunLen], scale[R][F::kRuns], minc[R][F::kRuns];
#pragma unroll
    for (int r = 0; r < R; ++r) F::decode(raw[r], sub, q[r], scale[r], minc[r]);
    const float* xb = x + blk * F::kBlockWeights;
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      float xv[F::kRuns][F::kRunLen];
#pragma unroll
      for (int u = 0; u < F::kRuns; ++u) {
        const float4* p = reinterpret_cast<const float4*>(xb + t * ldx + F::run_col(sub, u));
#pragma unroll
        for (int i = 0; i < F::kRunLen / 4; ++i) {
          const float4 a = ld(p + i);
          xv[u][4 * i] = a.x;
          xv[u][4 * i + 1] = a.y;
          xv[u][4 * i + 2] = a.z;
          xv[u][4 * i + 3] = a.w;
        }
      }
      float xsum[F::kRuns];
#pragma unroll
      for (int u = 0; u < F::kRuns; ++u) {
        xsum[u] = 0.0f;
        if constexpr (F::kMin) {
#pragma unroll
          for (int i = 0; i < F::kRunLen; ++i) xsum[u] += xv[u][i];
        }
      }
#pragma unroll
      for (int r = 0; r < R; ++r) {
#pragma unroll
        for (int u = 0; u < F::kRuns; ++u) {
          float s = 0.0f;
#pragma unroll
          for (int i = 0; i < F::kRunLen; ++i) s = fmaf(q[r][u][i], xv[u][i], s);
          acc[r][t] += F::kMin ? scale[r][u] * s - minc[r][u] * xsum[u] : scale[r][u] * s;
        }
      }
    }
  }
};

// Activations quantized to 8 bits (act_scale): codes q[t * ldq + col], scales d[(t * ldq + col) /
// 32], ldq a multiple of 32. A run's sum is an exact integer dot product of the weights' codes
// with the activations' (dp4a, four products an instruction, where the f32 path takes a permute,
// an add and an fma a weight), scaled once: the product of the weights with d * q, up to f32
// rounding of the scaling.
struct Q8Act {
  const int8_t* q;
  const float* d;
  int64_t ldq;
  template <uint32_t T, int NT, int R>
  HAYATE_HD void add_block(const typename Fast<T>::Raw (&raw)[R], int sub, int64_t blk, float (*acc)[NT]) const {
    using F = Fast<T>;
    constexpr int kWords = F::kRunLen / 4;
    uint32_t c[R][F::kRuns][kWords];
    float scale[R][F::kRuns], minc[R][F::kRuns];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      F::codes(raw[r], c[r]);
      F::scales(raw[r], sub, scale[r], minc[r]);
    }
#pragma unroll
    for (int t = 0; t < NT; ++t) {
#pragma unroll
      for (int u = 0; u < F::kRuns; ++u) {
        const int64_t at = t * ldq + blk * F::kBlockWeights + F::run_col(sub, u);
        uint32_t xa[kWords];
        if constexpr (kWords == 4) {
          const uint4 v = ld(reinterpret_cast<const uint4*>(q + at));
          xa[0] = v.x;
          xa[1] = v.y;
          xa[2] = v.z;
          xa[3] = v.w;
        } else if constexpr (kWords == 2) {
          const uint2 v = ld(reinterpret_cast<const uint2*>(q + at));
          xa[0] = v.x;
          xa[1] = v.y;
        } else {
          xa[0] = ld(reinterpret_cast<const uint32_t*>(q + at));
        }
        const float dx = ld(d + at / 32);
        int xsum = 0;
        if constexpr (F::kMin) {
#pragma unroll
          for (int i = 0; i < kWords; ++i) xsum = dp4a(0x01010101u, xa[i], xsum);
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
          int s = 0;
#pragma unroll
          for (int i = 0; i < kWords; ++i) s = dp4a(c[r][u][i], xa[i], s);
          const float v = F::kMin ? scale[r][u] * static_cast<float>(s) - minc[r][u] * static_cast<float>(xsum)
                                  : scale[r][u] * static_cast<float>(s);
          acc[r][t] = fmaf(dx, v, acc[r][t]);
        }
      }
    }
  }
};

// Activations quantized to 16 bits (act16_scale): codes q[t * ldq + col] (int16), scales d as
// Q8Act's. A word of four weight codes meets its four activations in two dp2a (the low and high
// bytes against two 16-bit pairs): twice the int8 path's dot instructions, a sixth of the f32
// path's per weight, and an exact integer sum of the weights' codes with 15-bit activations.
struct Q16Act {
  const int16_t* q;
  const float* d;
  int64_t ldq;
  template <uint32_t T, int NT, int R>
  HAYATE_HD void add_block(const typename Fast<T>::Raw (&raw)[R], int sub, int64_t blk, float (*acc)[NT]) const {
    using F = Fast<T>;
    constexpr int kWords = F::kRunLen / 4;  // code words a run; activations: two words each
    uint32_t c[R][F::kRuns][kWords];
    float scale[R][F::kRuns], minc[R][F::kRuns];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      F::codes(raw[r], c[r]);
      F::scales(raw[r], sub, scale[r], minc[r]);
    }
#pragma unroll
    for (int t = 0; t < NT; ++t) {
#pragma unroll
      for (int u = 0; u < F::kRuns; ++u) {
        const int64_t at = t * ldq + blk * F::kBlockWeights + F::run_col(sub, u);
        uint32_t xa[2 * kWords];
        if constexpr (kWords >= 2) {
#pragma unroll
          for (int i = 0; i < kWords / 2; ++i) {
            const uint4 v = ld(reinterpret_cast<const uint4*>(q + at) + i);
            xa[4 * i] = v.x;
            xa[4 * i + 1] = v.y;
            xa[4 * i + 2] = v.z;
            xa[4 * i + 3] = v.w;
          }
        } else {
          const uint2 v = ld(reinterpret_cast<const uint2*>(q + at));
          xa[0] = v.x;
          xa[1] = v.y;
        }
        const float dx = ld(d + at / 32);
        int xsum = 0;
        if constexpr (F::kMin) {
#pragma unroll
          for (int i = 0; i < kWords; ++i) {
            xsum = dp2a<false>(xa[2 * i], 0x01010101u, xsum);
            xsum = dp2a<true>(xa[2 * i + 1], 0x01010101u, xsum);
          }
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
          int s = 0;
#pragma unroll
          for (int i = 0; i < kWords; ++i) {
            s = dp2a<false>(xa[2 * i], c[r][u][i], s);
            s = dp2a<true>(xa[2 * i + 1], c[r][u][i], s);
          }
          const float v = F::kMin ? scale[r][u] * static_cast<float>(s) - minc[r][u] * static_cast<float>(xsum)
                                  : scale[r][u] * static_cast<float>(s);
          acc[r][t] = fmaf(dx, v, acc[r][t]);
        }
      }
    }
  }
};

// Lane `lane`'s share of the product of rows row0 .. row0 + R - 1 (past the end: the last row
// again) and NT tokens of activations `act` (F32Act or Q8Act): the warp's sum over its lanes is
// the product. Host and device code, so backend_cuda_dequant_test checks the indexing by summing
// the 32 lanes on the CPU. The blocks are summed in column order whatever kLoadDepth is, so the
// sums do not depend on it. With `parts` warps to a row (split-K), warp `part` takes every
// parts-th round of kPerIter x kLoadDepth blocks, starting at round `part`: the sum of the parts'
// sums is the product.
template <uint32_t T, int NT, int R, typename Act>
HAYATE_HD void lane_sums(const uint8_t* w, int64_t rows, int64_t cols, int64_t row_bytes, const Act& act, int64_t row0,
                         int lane, float acc[R][NT], int part = 0, int parts = 1) {
  using F = Fast<T>;
  constexpr int kPerIter = 32 / F::kLanes;
  constexpr int kDepth = kLoadDepth<T, NT, R>;
  const int sub = lane % F::kLanes;
  const int64_t n_blocks = cols / F::kBlockWeights;
  const uint8_t* wr[R];
#pragma unroll
  for (int r = 0; r < R; ++r) wr[r] = w + (row0 + r < rows ? row0 + r : rows - 1) * row_bytes;
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[r][t] = 0.0f;
#pragma unroll(kDepth == 1 ? 2 : 1)  // one block at a time: two in flight, as before stage 4
  for (int64_t blk0 = part * kPerIter * kDepth + lane / F::kLanes; blk0 < n_blocks;
       blk0 += static_cast<int64_t>(parts) * kPerIter * kDepth) {
    typename F::Raw raw[kDepth][R];
#pragma unroll
    for (int d = 0; d < kDepth; ++d) {
      const int64_t blk = blk0 + d * kPerIter;
      if (blk < n_blocks)
#pragma unroll
        for (int r = 0; r < R; ++r) F::load(wr[r] + blk * F::kBlockBytes, sub, raw[d][r]);
    }
#pragma unroll
    for (int d = 0; d < kDepth; ++d) {
      const int64_t blk = blk0 + d * kPerIter;
      if (blk >= n_blocks) break;
      act.template add_block<T, NT, R>(raw[d], sub, blk, acc);
    }
  }
}

// Warps to a row (1, 2, 4 or 8) for R rows a warp and NT tokens: a matrix of few rows (1024 or
// 4096 on Llama-3-8B) gave one warp a row several rounds of loads, each waiting a whole memory
// latency, while most of the GPU's warp slots stayed empty (docs/cuda.md stage 4). Split while
// the grid holds fewer than kSplitWarps<T> warps, each part keeping at least one round of loads,
// and to at most kMaxParts<T> parts. The limits come from the per-matrix table of the H100 call of
// 2026-12-07 (docs/cuda.md, one token, 1 / 2 / 4 parts forced): Q4_K and Q6_K gained from a split
// only below 2048 warps (1024-row matrices: 2 parts; 4096 rows and more: 1 part, where the
// earlier rule's 4 parts lost up to 23%), Q8_0 (one 4-byte load a lane, no load depth) gained
// from 2 parts at every size and lost from 4.
template <uint32_t T>
inline constexpr int64_t kSplitWarps = T == kQ8_0 ? int64_t{1} << 40 : 2048;
template <uint32_t T>
inline constexpr int kMaxParts = T == kQ8_0 ? 2 : 8;

template <uint32_t T, int NT, int R>
HAYATE_HD int split_parts(int64_t rows, int64_t cols) {
  using F = Fast<T>;
  const int64_t per_round = (32 / F::kLanes) * kLoadDepth<T, NT, R>;
  const int64_t rounds = (cols / F::kBlockWeights + per_round - 1) / per_round;
  const int64_t warps = (rows + R - 1) / R;
  int parts = 1;
  while (parts < kMaxParts<T> && 2 * parts <= rounds && 2 * parts * warps <= kSplitWarps<T>) parts *= 2;
  return parts;
}

}  // namespace hayate::cuda::fast
