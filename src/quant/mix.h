// Per-tensor type choice for `hayate quantize`: a file type names a mix, and each tensor's
// type follows from its name, layer and shape. The rules are written out in mix.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/ggml_types.h"

namespace hayate::quant {

// The *_PURE types put every 2-D weight in one k-quant (no per-tensor mix), so that tests and
// benchmarks can make a model of each weight format.
enum class FileType {
  F32,
  F16,
  BF16,
  Q8_0,
  Q4_0,
  Q3_K_S,
  Q4_K_M,
  Q5_K_M,
  Q6_K,
  Q2_K_PURE,
  Q3_K_PURE,
  Q4_K_PURE,
  Q5_K_PURE
};

// Case-insensitive: "Q4_K_M", "q4_k_m", "f16", "BF16" …
std::optional<FileType> file_type_from_name(std::string_view name);
const char* file_type_name(FileType ft);  // canonical spelling, e.g. "Q4_K_M"
// llama.cpp's general.file_type number (F32=0, F16=1, Q4_0=2, Q8_0=7, Q3_K_S=11, Q4_K_M=15, …).
uint32_t file_type_gguf_id(FileType ft);
// The file type a general.file_type number names; the *_PURE types are left out, since
// llama.cpp gives their numbers to other mixes (Q2_K, Q3_K_M, Q4_K_S, Q5_K_S). nullopt: none.
std::optional<FileType> file_type_from_gguf_id(uint32_t id);
// Every file type's name in lower case, in the table's order, for help and messages:
// "f32 f16 bf16 q8_0 q4_0 q3_k_s ... q5_k_pure".
std::string file_type_names();

// The type tensor `tensor_name` ("blk.7.ffn_down.weight", "output.weight" …) gets in a file of
// type `ft`. `layer` is its block index (-1 outside blocks), `n_cols` its shape[0] (the row
// length, which must suit the block size), `n_dims` its number of dimensions.
// `output_is_tied`: the model has no output.weight and reuses token_embd.weight in its place,
// so token_embd is treated as the output matrix.
GgmlType choose_tensor_type(FileType ft, const std::string& tensor_name, int layer, int n_layers, int64_t n_cols,
                            int64_t n_dims, bool output_is_tied = false);

// llama.cpp's "use more bits" layer rule: the first and last eighth of the layers and every
// third layer in between.
bool use_more_bits(int layer, int n_layers);

}  // namespace hayate::quant
