// Tensor element types as GGUF numbers them, with the size facts every layer needs
// (validation in gguf/, kernels in quant/, memory planning in backends).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hayate {

enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
};

struct GgmlTypeInfo {
  GgmlType type;
  const char* name;
  int64_t block_size;  // elements per block (1 for plain types)
  size_t type_size;    // bytes per block
};

// nullptr when the number is not a type this build knows.
const GgmlTypeInfo* ggml_type_info(uint32_t raw_type);
const GgmlTypeInfo& ggml_type_info(GgmlType type);
const char* ggml_type_name(GgmlType type);
std::optional<GgmlType> ggml_type_from_name(std::string_view name);  // "q4_K", "Q8_0", "f16" …

// Bytes of one row of n elements; n must be a multiple of the block size.
size_t ggml_row_size(GgmlType type, int64_t n);

}  // namespace hayate
