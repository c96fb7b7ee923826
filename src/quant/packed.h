// Weights packed at load into row-interleaved groups for the CPU's batch kernels, one table row
// per (file type, instruction set). A vector lane is one row of a group, so the products of a
// column need no horizontal sums, one broadcast activation word feeds every row of the group,
// and a group's codes and scales are decoded once for all the tokens of a tile.
//
// The CPU backend packs each matrix with the first format its CPU can run, converts the
// activations once per matmul with that format's converter, and runs the same kernel for one
// token and for a batch: a (row, token) pair sees the same operations in any tile shape, so a
// token's result does not depend on the other tokens of its batch.
//
// Formats (the `name` column):
//   q8_0x8   AVX2: quant/repack.h. Activations Q8_0.
//   q8_0x16  AVX-512 VNNI: per 32-column block the 16 rows' fp16 scales (32 bytes), then 8
//            chunks of 4 columns × 16 rows (64 bytes, row r at bytes 4r..4r+3) of code + 128 as
//            u8, so vpdpbusd multiplies them by signed activations; the activation side
//            (BlockQ8_0Sum) carries 128 × its block sum to take the offset back out.
//   q4_Kx16  per 256-column super-block the 16 rows' d and dmin (fp16), their 8 sub-block
//            scales and 8 mins as bytes (sub-block j: 16 bytes, one per row), then per
//            sub-block 4 chunks of 64 bytes: row r's 4 bytes at 4r hold, for b < 4, code 4k+b
//            in the low nibble and code 16+4k+b in the high one. Activations Q8_K.
//   q5_Kx16  as q4_Kx16, each sub-block's nibbles followed by 64 bytes of fifth bits: bit k
//            (k < 4) of row r's byte b is that of code 4k+b, bit 4+k that of 16+4k+b.
//   q6_Kx16  per super-block the 16 rows' d (fp16), their 16 int8 scales (16 bytes per
//            sub-block of 16), per 32-column unit the low 4 bits of the codes as in q4_Kx16,
//            then the top 2 bits: 2 × 64 bytes, byte b of row r holding bits 2k..2k+1 = top
//            bits of code 4k+b (first vector) or 16+4k+b (second). Activations Q8_K.
//            The k-quant formats run on AVX-512 VNNI (a vector per group) and on AVX2 (a
//            vector per half group, maddubs for vpdpbusd), the same bytes.
//   f16x16, bf16x16  per column the 16 rows' values (32 bytes). Activations f32. AVX-512 and
//            AVX2 (a vector per half group), the same bytes.
// A last group of fewer rows is padded with zero rows (scale 0).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "quant/quant.h"

namespace hayate::quant {

struct PackedFormat {
  const char* name;  // "q8_0x16", ...
  const char* isa;   // "avx2", "avx512"
  GgmlType type;     // the file's type it packs
  int64_t group_rows;
  size_t (*group_bytes)(int64_t cols);
  // Packs groups [g0, g1) of the rows × cols matrix `src` (file layout) into `dst`, the start of
  // the whole packed matrix.
  void (*pack)(const void* src, int64_t rows, int64_t cols, int64_t g0, int64_t g1, uint8_t* dst);
  // The activations the kernel reads: bytes of a row of `cols` values and the conversion of a
  // row of floats into them; null `convert_act` means f32 rows as they are.
  size_t (*act_row_bytes)(int64_t cols);
  FromFloatFn convert_act;
  // w = the first group wanted, w_row_bytes = group_bytes(cols), n_rows counted from that group's
  // first row (the last group may hold fewer wanted rows).
  TileDotFn tile;
};

// The format the CPU backend uses for `type` on this CPU, or null: the file's layout then
// (no such format, scalar kernels forced, or HAYATE_NO_REPACK=1 for side-by-side comparisons).
const PackedFormat* packed_format(GgmlType type);
// Every format of `type` this CPU can run, the preferred first (tests and benchmarks).
std::vector<const PackedFormat*> packed_formats(GgmlType type);
// Bytes of a whole packed rows × cols matrix.
size_t packed_bytes(const PackedFormat& f, int64_t rows, int64_t cols);

// Q8_0 activations for the offset-coded weights of q8_0x16: the codes of quantize_q8_0, the
// block's scale as a float and 128 × the sum of its codes.
struct BlockQ8_0Sum {
  float d;
  int32_t sum128;
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0Sum) == 40);

}  // namespace hayate::quant
