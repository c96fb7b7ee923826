#include "core/ggml_types.h"

#include <cctype>
#include <string>

#include "core/error.h"

namespace hayate {
namespace {

constexpr GgmlTypeInfo kTypes[] = {
    {GgmlType::F32, "f32", 1, 4},       {GgmlType::F16, "f16", 1, 2},       {GgmlType::Q4_0, "q4_0", 32, 18},
    {GgmlType::Q4_1, "q4_1", 32, 20},   {GgmlType::Q5_0, "q5_0", 32, 22},   {GgmlType::Q5_1, "q5_1", 32, 24},
    {GgmlType::Q8_0, "q8_0", 32, 34},   {GgmlType::Q8_1, "q8_1", 32, 36},   {GgmlType::Q2_K, "q2_K", 256, 84},
    {GgmlType::Q3_K, "q3_K", 256, 110}, {GgmlType::Q4_K, "q4_K", 256, 144}, {GgmlType::Q5_K, "q5_K", 256, 176},
    {GgmlType::Q6_K, "q6_K", 256, 210}, {GgmlType::Q8_K, "q8_K", 256, 292}, {GgmlType::I8, "i8", 1, 1},
    {GgmlType::I16, "i16", 1, 2},       {GgmlType::I32, "i32", 1, 4},       {GgmlType::I64, "i64", 1, 8},
    {GgmlType::F64, "f64", 1, 8},       {GgmlType::BF16, "bf16", 1, 2},
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

const GgmlTypeInfo* ggml_type_info(uint32_t raw_type) {
  for (const auto& t : kTypes)
    if (static_cast<uint32_t>(t.type) == raw_type) return &t;
  return nullptr;
}

const GgmlTypeInfo& ggml_type_info(GgmlType type) {
  const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(type));
  if (!info) fail(ErrorKind::Internal, "unknown tensor type " + std::to_string(static_cast<uint32_t>(type)));
  return *info;
}

const char* ggml_type_name(GgmlType type) { return ggml_type_info(type).name; }

std::optional<GgmlType> ggml_type_from_name(std::string_view name) {
  const std::string want = lower(name);
  for (const auto& t : kTypes)
    if (lower(t.name) == want) return t.type;
  return std::nullopt;
}

size_t ggml_row_size(GgmlType type, int64_t n) {
  const GgmlTypeInfo& info = ggml_type_info(type);
  if (n % info.block_size != 0)
    fail(ErrorKind::BadInput, std::string("row of ") + std::to_string(n) + " elements is not a multiple of the " +
                                  info.name + " block size " + std::to_string(info.block_size));
  return static_cast<size_t>(n / info.block_size) * info.type_size;
}

}  // namespace hayate
