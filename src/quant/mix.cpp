// Which type each tensor gets, following the habits of llama.cpp's quantize so that our files
// are what users of those mixes expect.
//
//  1. Tensors of one dimension (norms, biases, scales) stay F32, as does anything that is not a
//     "*.weight" matrix and the MoE router "ffn_gate_inp" (tiny, and routing is sensitive).
//  2. F32 / F16 / BF16 files: every other tensor in that type.
//  3. Otherwise each file type has a base type: Q8_0→Q8_0, Q4_0→Q4_0, Q3_K_S→Q3_K,
//     Q4_K_M→Q4_K, Q5_K_M→Q5_K, Q6_K→Q6_K.
//  4. output.weight (and token_embd.weight when the output is tied to it) is the most
//     sensitive matrix: Q8_0 in Q8_0 files, Q6_K in all others. An untied token_embd keeps
//     the base type (it is only read one row at a time).
//  5. Q4_K_M and Q5_K_M ("medium") spend more bits where it matters: attn_v and ffn_down
//     (including MoE ffn_down_exps / _shexp) get Q6_K in the layers picked by use_more_bits —
//     the first eighth, the last eighth, and every third layer between; a fused attn_qkv goes
//     one step up (Q5_K resp. Q6_K). Q3_K_S is Q3_K throughout except rule 4.
//  6. The chosen type must fit the row length n_cols: k-quants need multiples of 256, else
//     Q8_0 is used (this build has no Q5_0 / Q4_1 fallbacks); Q8_0 and Q4_0 need multiples of
//     32, else F16.
#include "quant/mix.h"

#include <cctype>
#include <cstdlib>

namespace hayate::quant {
namespace {

struct FileTypeInfo {
  FileType ft;
  const char* name;
  uint32_t gguf_id;
  GgmlType base;
  bool pure = false;
};

constexpr FileTypeInfo kFileTypes[] = {
    {FileType::F32, "F32", 0, GgmlType::F32},
    {FileType::F16, "F16", 1, GgmlType::F16},
    {FileType::BF16, "BF16", 32, GgmlType::BF16},
    {FileType::Q8_0, "Q8_0", 7, GgmlType::Q8_0},
    {FileType::Q4_0, "Q4_0", 2, GgmlType::Q4_0},
    {FileType::Q3_K_S, "Q3_K_S", 11, GgmlType::Q3_K},
    {FileType::Q4_K_M, "Q4_K_M", 15, GgmlType::Q4_K},
    {FileType::Q5_K_M, "Q5_K_M", 17, GgmlType::Q5_K},
    {FileType::Q6_K, "Q6_K", 18, GgmlType::Q6_K},
    // llama.cpp numbers the closest mixes of these types 10 (Q2_K), 12 (Q3_K_M), 14 (Q4_K_S), 16 (Q5_K_S).
    {FileType::Q2_K_PURE, "Q2_K_PURE", 10, GgmlType::Q2_K, true},
    {FileType::Q3_K_PURE, "Q3_K_PURE", 12, GgmlType::Q3_K, true},
    {FileType::Q4_K_PURE, "Q4_K_PURE", 14, GgmlType::Q4_K, true},
    {FileType::Q5_K_PURE, "Q5_K_PURE", 16, GgmlType::Q5_K, true},
};

const FileTypeInfo& info(FileType ft) {
  for (const auto& f : kFileTypes)
    if (f.ft == ft) return f;
  return kFileTypes[0];  // unreachable for valid enum values
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// "blk.12.attn_v.weight" -> 12, or -1.
int layer_from_name(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  char* end = nullptr;
  const long v = std::strtol(name.c_str() + 4, &end, 10);
  return end != name.c_str() + 4 && *end == '.' ? static_cast<int>(v) : -1;
}

bool is_k_quant(GgmlType t) {
  return t == GgmlType::Q2_K || t == GgmlType::Q3_K || t == GgmlType::Q4_K || t == GgmlType::Q5_K ||
         t == GgmlType::Q6_K;
}

// Rule 6.
GgmlType fit_row_length(GgmlType t, int64_t n_cols) {
  if (is_k_quant(t) && n_cols % 256 != 0) t = GgmlType::Q8_0;
  if ((t == GgmlType::Q8_0 || t == GgmlType::Q4_0) && n_cols % 32 != 0) t = GgmlType::F16;
  return t;
}

}  // namespace

std::optional<FileType> file_type_from_name(std::string_view name) {
  for (const auto& f : kFileTypes)
    if (equal_ignoring_case(name, f.name)) return f.ft;
  return std::nullopt;
}

const char* file_type_name(FileType ft) { return info(ft).name; }

uint32_t file_type_gguf_id(FileType ft) { return info(ft).gguf_id; }

std::optional<FileType> file_type_from_gguf_id(uint32_t id) {
  for (const auto& f : kFileTypes)
    if (!f.pure && f.gguf_id == id) return f.ft;
  return std::nullopt;
}

std::string file_type_names() {
  std::string out;
  for (const auto& f : kFileTypes) {
    if (!out.empty()) out += ' ';
    for (const char* c = f.name; *c; ++c) out += static_cast<char>(std::tolower(static_cast<unsigned char>(*c)));
  }
  return out;
}

bool use_more_bits(int layer, int n_layers) {
  if (layer < 0 || n_layers <= 0) return false;
  return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

GgmlType choose_tensor_type(FileType ft, const std::string& name, int layer, int n_layers, int64_t n_cols,
                            int64_t n_dims, bool output_is_tied) {
  // Rule 1.
  if (n_dims < 2 || !ends_with(name, ".weight") || contains(name, "ffn_gate_inp")) return GgmlType::F32;
  const GgmlType base = info(ft).base;
  // Rule 2.
  if (base == GgmlType::F32 || base == GgmlType::F16 || base == GgmlType::BF16) return base;

  GgmlType t = base;
  if (info(ft).pure) return fit_row_length(t, n_cols);
  const bool is_output = name == "output.weight" || (output_is_tied && name == "token_embd.weight");
  if (layer < 0) layer = layer_from_name(name);
  if (is_output) {  // rule 4
    t = ft == FileType::Q8_0 ? GgmlType::Q8_0 : GgmlType::Q6_K;
  } else if (ft == FileType::Q4_K_M || ft == FileType::Q5_K_M) {  // rule 5
    const bool more = use_more_bits(layer, n_layers);
    if ((contains(name, "attn_v.weight") || contains(name, "ffn_down")) && more) t = GgmlType::Q6_K;
    if (contains(name, "attn_qkv.weight")) t = ft == FileType::Q4_K_M ? GgmlType::Q5_K : GgmlType::Q6_K;
  }
  return fit_row_length(t, n_cols);
}

}  // namespace hayate::quant
