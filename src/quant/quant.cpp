// The traits table: which conversions and dot kernels serve each type, picked once per process
// from what the CPU supports.
#include "quant/quant.h"

#include <cpuid.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <string_view>

#include "core/error.h"
#include "quant/kernels.h"

namespace hayate::quant {
namespace {

using namespace detail;

struct Entry {
  GgmlType type;
  ToFloatFn to_float;
  FromFloatFn from_float;
  GgmlType vec_dot_type;
  VecDotFn scalar, avx2, avx512;  // nullptr where that variant does not exist
  TileDotFn tile_scalar, tile_avx2;
};

// The portable tiled kernel: one scalar dot per pair, each weight row reused across the tokens.
template <VecDotFn kDot>
void tile_scalar(int64_t n, const void* w, size_t wrb, int64_t n_rows, const void* act, size_t arb, int64_t n_tok,
                 float* out, int64_t os) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t t = 0; t < n_tok; ++t)
      kDot(n, &out[t * os + r], wb + static_cast<size_t>(r) * wrb, ab + static_cast<size_t>(t) * arb);
}

#define HAYATE_KERNELS(name) name##_scalar, name##_avx2, name##_avx512
#define HAYATE_TILES(dot, tile) tile_scalar<dot##_scalar>, tile##_avx2

constexpr Entry kEntries[] = {
    {GgmlType::F32, to_float_f32, from_float_f32, GgmlType::F32, HAYATE_KERNELS(dot_f32),
     HAYATE_TILES(dot_f32, tile_f32)},
    {GgmlType::F16, to_float_f16, from_float_f16, GgmlType::F32, HAYATE_KERNELS(dot_f16),
     HAYATE_TILES(dot_f16, tile_f16)},
    {GgmlType::BF16, to_float_bf16, from_float_bf16, GgmlType::F32, HAYATE_KERNELS(dot_bf16),
     HAYATE_TILES(dot_bf16, tile_bf16)},
    {GgmlType::Q8_0, dequantize_q8_0, quantize_q8_0, GgmlType::Q8_0, HAYATE_KERNELS(dot_q8_0),
     HAYATE_TILES(dot_q8_0, tile_q8_0)},
    {GgmlType::Q4_0, dequantize_q4_0, quantize_q4_0, GgmlType::Q8_0, HAYATE_KERNELS(dot_q4_0),
     HAYATE_TILES(dot_q4_0, tile_q4_0)},
    {GgmlType::Q2_K, dequantize_q2_k, quantize_q2_k, GgmlType::Q8_K, HAYATE_KERNELS(dot_q2_k),
     HAYATE_TILES(dot_q2_k, tile_q2_k)},
    {GgmlType::Q3_K, dequantize_q3_k, quantize_q3_k, GgmlType::Q8_K, HAYATE_KERNELS(dot_q3_k),
     HAYATE_TILES(dot_q3_k, tile_q3_k)},
    {GgmlType::Q4_K, dequantize_q4_k, quantize_q4_k, GgmlType::Q8_K, HAYATE_KERNELS(dot_q4_k),
     HAYATE_TILES(dot_q4_k, tile_q4_k)},
    {GgmlType::Q5_K, dequantize_q5_k, quantize_q5_k, GgmlType::Q8_K, HAYATE_KERNELS(dot_q5_k),
     HAYATE_TILES(dot_q5_k, tile_q5_k)},
    {GgmlType::Q6_K, dequantize_q6_k, quantize_q6_k, GgmlType::Q8_K, HAYATE_KERNELS(dot_q6_k),
     HAYATE_TILES(dot_q6_k, tile_q6_k)},
    // Activation-only type: converts, but no weight kernels.
    {GgmlType::Q8_K, dequantize_q8_k, quantize_q8_k, GgmlType::Q8_K, nullptr, nullptr, nullptr, nullptr, nullptr},
};

#undef HAYATE_KERNELS
#undef HAYATE_TILES

std::atomic<bool> g_force_scalar{false};
std::atomic<bool> g_table_built{false};

bool scalar_only() {
  const char* env = std::getenv("HAYATE_FORCE_SCALAR");
  return g_force_scalar.load() || (env && *env && std::string(env) != "0");
}

const Entry* find_entry(GgmlType type) {
  for (const Entry& e : kEntries)
    if (e.type == type) return &e;
  return nullptr;
}

FromFloatFn activation_converter(GgmlType vec_dot_type) {
  if (scalar_only()) {
    if (vec_dot_type == GgmlType::Q8_0) return quantize_q8_0;
    if (vec_dot_type == GgmlType::Q8_K) return quantize_q8_k;
    return from_float_f32;
  }
  switch (vec_dot_type) {
    case GgmlType::Q8_0:
      return cpu_has_avx2() ? quantize_q8_0_avx2 : quantize_q8_0;
    case GgmlType::Q8_K:
      return cpu_has_avx2() ? quantize_q8_k_avx2 : quantize_q8_k;
    default:
      return from_float_f32;
  }
}

VecDotFn best_kernel(const Entry& e) {
  if (scalar_only()) return e.scalar;
  if (e.avx512 && cpu_has_avx512()) return e.avx512;
  if (e.avx2 && cpu_has_avx2()) return e.avx2;
  return e.scalar;
}

// No AVX-512 tiles: the AVX2 ones run on AVX-512 machines too.
TileDotFn best_tile(const Entry& e) {
  if (scalar_only()) return e.tile_scalar;
  if (e.tile_avx2 && cpu_has_avx2()) return e.tile_avx2;
  return e.tile_scalar;
}

using Table = std::array<TypeTraits, std::size(kEntries)>;

Table build_table() {
  Table table{};
  for (size_t i = 0; i < std::size(kEntries); ++i) {
    const Entry& e = kEntries[i];
    table[i] =
        TypeTraits{e.type,         e.to_float,  e.from_float, e.vec_dot_type, activation_converter(e.vec_dot_type),
                   best_kernel(e), best_tile(e)};
  }
  g_table_built.store(true);
  return table;
}

const TypeTraits& checked_traits(GgmlType type) {
  const TypeTraits* t = traits(type);
  if (!t)
    fail(ErrorKind::Unsupported, std::string("tensor type ") + ggml_type_name(type) +
                                     " has no conversion in this build (supported: " + weight_type_names() + ")");
  return *t;
}

void check_row_length(GgmlType type, int64_t n) {
  (void)ggml_row_size(type, n);  // fails with a message when n is not a multiple of the block size
}

}  // namespace

namespace detail {

// clang 14 does not know "f16c" as a __builtin_cpu_supports feature: ask CPUID (leaf 1, ECX bit 29).
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) != 0;
}

bool cpu_has_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
  return yes;
}

// avx512bf16 is not required: the kernels convert bf16 by shifting and never use its dot instruction.
// HAYATE_MAX_ISA=avx2 hides AVX-512, to measure the AVX2 kernels on an AVX-512 machine.
bool cpu_has_avx512() {
  static const bool yes = [] {
    const char* cap = std::getenv("HAYATE_MAX_ISA");
    if (cap && std::string_view(cap) == "avx2") return false;
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vnni");
  }();
  return yes;
}

}  // namespace detail

const TypeTraits* traits(GgmlType type) {
  static const Table table = build_table();
  for (const TypeTraits& t : table)
    if (t.type == type) return &t;
  return nullptr;
}

bool is_supported_weight_type(GgmlType type) {
  const Entry* e = find_entry(type);
  return e && e->scalar;
}

std::string weight_type_names() {
  std::string out;
  for (const Entry& e : kEntries)
    if (e.scalar) {
      if (!out.empty()) out += ' ';
      out += ggml_type_name(e.type);
    }
  return out;
}

std::vector<DotKernel> dot_kernels(GgmlType type) {
  std::vector<DotKernel> out;
  const Entry* e = find_entry(type);
  if (!e || !e->scalar) return out;
  out.push_back({"scalar", e->scalar});
  if (e->avx2 && cpu_has_avx2()) out.push_back({"avx2", e->avx2});
  if (e->avx512 && cpu_has_avx512()) out.push_back({"avx512", e->avx512});
  return out;
}

std::vector<TileKernel> tile_kernels(GgmlType type) {
  std::vector<TileKernel> out;
  const Entry* e = find_entry(type);
  if (!e || !e->tile_scalar) return out;
  out.push_back({"scalar", e->tile_scalar});
  if (e->tile_avx2 && cpu_has_avx2()) out.push_back({"avx2", e->tile_avx2});
  return out;
}

void force_scalar_kernels() {
  if (g_table_built.load()) fail(ErrorKind::Internal, "force_scalar_kernels() called after the kernel table was built");
  g_force_scalar.store(true);
}

bool scalar_kernels_forced() { return scalar_only(); }

std::string cpu_features() {
  std::string out;
  auto add = [&out](bool has, const char* name) {
    if (!has) return;
    if (!out.empty()) out += ' ';
    out += name;
  };
  add(__builtin_cpu_supports("avx2"), "avx2");
  add(__builtin_cpu_supports("fma"), "fma");
  add(detail::cpu_has_f16c(), "f16c");
  add(__builtin_cpu_supports("avx512f"), "avx512f");
  add(__builtin_cpu_supports("avx512bw"), "avx512bw");
  add(__builtin_cpu_supports("avx512vl"), "avx512vl");
  add(__builtin_cpu_supports("avx512dq"), "avx512dq");
  add(__builtin_cpu_supports("avx512vnni"), "avx512vnni");
  add(__builtin_cpu_supports("avx512bf16"), "avx512bf16");
  return out;
}

void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n) {
  const TypeTraits& t = checked_traits(type);
  check_row_length(type, n);
  t.to_float(src, dst, n);
}

void quantize_row(GgmlType type, const float* src, void* dst, int64_t n) {
  const TypeTraits& t = checked_traits(type);
  check_row_length(type, n);
  t.from_float(src, dst, n);
}

size_t quantize_matrix(GgmlType type, const float* src, void* dst, int64_t rows, int64_t cols) {
  const TypeTraits& t = checked_traits(type);
  const size_t row_bytes = ggml_row_size(type, cols);
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t r = 0; r < rows; ++r) t.from_float(src + r * cols, out + static_cast<size_t>(r) * row_bytes, cols);
  return static_cast<size_t>(rows) * row_bytes;
}

}  // namespace hayate::quant
