// Source tensor (safetensors F32/F16/BF16) -> GGUF tensor bytes, a row at a time, optionally
// reordering rows on the way (the llama Q/K RoPE permutation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "convert/safetensors.h"
#include "core/ggml_types.h"

namespace hayate::convert {

// Row order that turns HF's rotate-half Q/K rows ([n_head, 2, head_dim/2]: all first halves,
// then all second halves of each head) into the interleaved pairs ([n_head, head_dim/2, 2]) that
// GGUF llama's RoPE rotates. Entry r is the source row of destination row r.
std::vector<int64_t> rope_interleave_order(int64_t rows, int64_t n_head);

// Writes `src` viewed as rows x cols (rows = shape[0], cols = the product of the rest; a 1-D
// tensor is n rows of 1) as `dst_type` into dst, which must hold exactly the GGUF size.
// `row_order` empty = rows as they are; `offset` is added to every value. Q8_0 needs cols to be
// a multiple of 32.
void convert_tensor(const StTensor& src, GgmlType dst_type, const std::vector<int64_t>& row_order, uint8_t* dst,
                    size_t dst_bytes, float offset = 0.0f);

}  // namespace hayate::convert
