#include "backend/cpu/cpu_kv_cache.h"

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "core/error.h"
#include "core/fp16.h"
#include "quant/quant.h"

namespace hayate {
namespace {

void put(KvType type, uint8_t* dst, const float* src, int64_t n) {
  switch (type) {
    case KvType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case KvType::F16:
      for (int64_t i = 0; i < n; ++i) reinterpret_cast<uint16_t*>(dst)[i] = f32_to_fp16(src[i]);
      return;
    case KvType::Q8_0:
      quant::quantize_row(GgmlType::Q8_0, src, dst, n);
      return;
  }
}

void get(KvType type, const uint8_t* src, float* dst, int64_t n) {
  switch (type) {
    case KvType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case KvType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(reinterpret_cast<const uint16_t*>(src)[i]);
      return;
    case KvType::Q8_0:
      quant::dequantize_row(GgmlType::Q8_0, src, dst, n);
      return;
  }
}

}  // namespace

void CpuKvCache::Free::operator()(uint8_t* p) const { std::free(p); }

std::optional<KvType> cpu_kv_type() {
  const char* v = std::getenv("HAYATE_KV_TYPE");
  if (!v || !*v) return std::nullopt;
  if (std::string_view(v) == "f32") return KvType::F32;
  if (std::string_view(v) == "f16") return KvType::F16;
  if (std::string_view(v) == "q8_0") return KvType::Q8_0;
  fail(ErrorKind::BadInput,
       std::string("HAYATE_KV_TYPE=") + v +
           ": the KV cache types are f32, f16 and q8_0 (unset: f16 for quantized weights, f32 for float ones)");
}

KvType default_kv_type(bool quantized_weights) { return quantized_weights ? KvType::F16 : KvType::F32; }

size_t kv_bytes(KvType type, int64_t n) {
  switch (type) {
    case KvType::F16:
      return static_cast<size_t>(n) * 2;
    case KvType::Q8_0:
      return static_cast<size_t>(n / 32) * 34;
    default:
      return static_cast<size_t>(n) * 4;
  }
}

CpuKvCache::CpuKvCache(const HParams& hp, int32_t blocks, int32_t bs, KvType type)
    : type_(type), head_dim_(hp.head_dim) {
  if (blocks <= 0 || bs <= 0) fail(ErrorKind::BadInput, "KV cache needs a positive number of blocks and block size");
  n_layer = hp.n_layer;
  n_blocks = blocks;
  block_size = bs;
  kv_dim = hp.kv_dim();
  if (type == KvType::Q8_0 && hp.head_dim % 32 != 0)
    fail(ErrorKind::Unsupported, "a q8_0 KV cache needs a head size that is a multiple of 32; this model's is " +
                                     std::to_string(hp.head_dim) + " (use HAYATE_KV_TYPE=f16 or f32)");
  const size_t per_layer = static_cast<size_t>(blocks) * bs * kv_bytes(type, kv_dim);
  bytes = per_layer * 2 * n_layer;
  // calloc: zeroed pages that become resident only once a sequence writes them.
  auto zeroed = [&] {
    Bytes b(static_cast<uint8_t*>(std::calloc(per_layer, 1)));
    if (!b)
      fail(ErrorKind::ResourceExhausted,
           "cannot allocate a KV cache of " + std::to_string(bytes >> 20) + " MiB; use a shorter context (--ctx-size)");
    return b;
  };
  for (int32_t l = 0; l < n_layer; ++l) {
    k_.push_back(zeroed());
    v_.push_back(zeroed());
  }
}

void CpuKvCache::store(int32_t layer, int64_t slot, const float* k, const float* v) {
  for (int64_t off = 0; off < kv_dim; off += head_dim_) {
    put(type_, k_[layer].get() + at(slot, off), k + off, head_dim_);
    put(type_, v_[layer].get() + at(slot, off), v + off, head_dim_);
  }
}

void CpuKvCache::load_k(int32_t layer, int64_t slot, int64_t offset, int64_t n, float* dst) const {
  get(type_, k_[layer].get() + at(slot, offset), dst, n);
}

void CpuKvCache::load_v(int32_t layer, int64_t slot, int64_t offset, int64_t n, float* dst) const {
  get(type_, v_[layer].get() + at(slot, offset), dst, n);
}

}  // namespace hayate
