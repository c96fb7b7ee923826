// Weights regrouped at load for kernels that want several rows side by side. Q8_0 in groups of
// 8 rows ("Q8_0x8"): for each block of 32 columns, the 8 rows' fp16 scales (16 bytes), then 8
// chunks of 4 columns, each chunk the 4 bytes of row 0, row 1, ... row 7 (256 bytes). A 32-byte
// load is then 4 columns of 8 rows, so one lane of a vector is one row: no horizontal sums, and
// one broadcast activation word feeds 8 rows. The same bytes as the file (34 per row-block); a
// last group of fewer than 8 rows is padded with zero rows.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/quant.h"

namespace hayate::quant {

constexpr int64_t kQ8_0x8Rows = 8;
constexpr size_t kQ8_0x8BlockBytes = 16 + 256;  // one 32-column block of one group

// Bytes of one group of 8 rows, and of a whole rows × cols matrix (cols a multiple of 32).
size_t q8_0x8_group_bytes(int64_t cols);
size_t q8_0x8_bytes(int64_t rows, int64_t cols);

// Regroups groups [g0, g1) of a row-major Q8_0 matrix into `dst` (the whole repacked matrix).
void repack_q8_0x8(const void* src, int64_t rows, int64_t cols, int64_t g0, int64_t g1, uint8_t* dst);

// The tiled kernel for repacked Q8_0 (TileDotFn with w = the first row's group, which must
// start a group, w_row_bytes = the group stride, n_rows = the rows wanted from it), or null when
// this CPU has no such kernel, scalar kernels are forced or HAYATE_NO_REPACK=1 is set (for
// side-by-side comparisons): then keep the file's layout.
// Activations are Q8_0 rows, as for the plain kernel. A pair's value does not depend on the
// tile it lands in, but is not bit-identical to the plain Q8_0 kernels (other summation order).
TileDotFn q8_0x8_tile();

}  // namespace hayate::quant
