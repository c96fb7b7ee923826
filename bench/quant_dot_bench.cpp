// Dot-product and conversion throughput of every weight type and kernel.
// Each iteration multiplies a 4096 x 4096 weight matrix (too large for the caches, as in real
// decoding) by one activation row; bytes/s counts weight bytes read.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "quant/quant.h"
#include "quant/repack.h"

namespace hayate::quant {
namespace {

constexpr int64_t kCols = 4096;
constexpr int64_t kRows = 4096;

std::vector<float> gaussian(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// Weights are quantized once per type and shared by its kernels.
const std::vector<uint8_t>& weights(GgmlType type) {
  static std::vector<std::vector<uint8_t>> cache(64);
  auto& w = cache[static_cast<size_t>(type)];
  if (w.empty()) {
    const std::vector<float> f = gaussian(kCols * 64, 1);  // 64 distinct rows, repeated
    const size_t row = ggml_row_size(type, kCols);
    std::vector<uint8_t> block(row * 64);
    quantize_matrix(type, f.data(), block.data(), 64, kCols);
    w.resize(row * kRows);
    for (int64_t r = 0; r < kRows; ++r) std::copy_n(block.data() + (r % 64) * row, row, w.data() + r * row);
  }
  return w;
}

void BM_MatVec(benchmark::State& state, GgmlType type, VecDotFn fn) {
  const TypeTraits* t = traits(type);
  const std::vector<uint8_t>& w = weights(type);
  const std::vector<float> a = gaussian(kCols, 2);
  std::vector<uint8_t> act(ggml_row_size(t->vec_dot_type, kCols));
  t->from_float_vec_dot(a.data(), act.data(), kCols);
  const size_t row = ggml_row_size(type, kCols);
  std::vector<float> out(kRows);
  for (auto _ : state) {
    for (int64_t r = 0; r < kRows; ++r) fn(kCols, &out[r], w.data() + r * row, act.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.size()));
}

// The tiled kernels on the same matrix with n_tok activation rows: n_tok = 1 is the decode
// path (bytes/s of weights), larger ones a batch (items/s = multiply-adds).
void BM_Tile(benchmark::State& state, GgmlType type, TileDotFn fn, int64_t n_tok) {
  const TypeTraits* t = traits(type);
  const std::vector<uint8_t>& w = weights(type);
  const std::vector<float> a = gaussian(kCols * n_tok, 2);
  const size_t act_row = ggml_row_size(t->vec_dot_type, kCols);
  std::vector<uint8_t> act(act_row * static_cast<size_t>(n_tok));
  for (int64_t i = 0; i < n_tok; ++i) t->from_float_vec_dot(a.data() + i * kCols, act.data() + i * act_row, kCols);
  const size_t row = ggml_row_size(type, kCols);
  std::vector<float> out(static_cast<size_t>(kRows * n_tok));
  for (auto _ : state) {
    // Row chunks of 64 as the backend uses for batches.
    for (int64_t r = 0; r < kRows; r += 64)
      fn(kCols, w.data() + r * row, row, 64, act.data(), act_row, n_tok, &out[r], kRows);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kRows * kCols * n_tok);
}

// Q8_0 regrouped in 8-row groups (quant/repack.h), as the CPU backend runs it after prepare().
void BM_TileQ8_0x8(benchmark::State& state, TileDotFn fn, int64_t n_tok) {
  const std::vector<uint8_t>& w = weights(GgmlType::Q8_0);
  std::vector<uint8_t> packed(q8_0x8_bytes(kRows, kCols));
  repack_q8_0x8(w.data(), kRows, kCols, 0, kRows / kQ8_0x8Rows, packed.data());
  const std::vector<float> a = gaussian(kCols * n_tok, 2);
  const size_t act_row = ggml_row_size(GgmlType::Q8_0, kCols);
  std::vector<uint8_t> act(act_row * static_cast<size_t>(n_tok));
  for (int64_t i = 0; i < n_tok; ++i)
    traits(GgmlType::Q8_0)->from_float_vec_dot(a.data() + i * kCols, act.data() + i * act_row, kCols);
  const size_t group = q8_0x8_group_bytes(kCols);
  std::vector<float> out(static_cast<size_t>(kRows * n_tok));
  for (auto _ : state) {
    for (int64_t r = 0; r < kRows; r += 64)
      fn(kCols, packed.data() + static_cast<size_t>(r / kQ8_0x8Rows) * group, group, 64, act.data(), act_row, n_tok,
         &out[r], kRows);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(packed.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kRows * kCols * n_tok);
}

// The same batch as n_tok separate vec_dot calls per row (the old matmul), for comparison.
void BM_PairsBaseline(benchmark::State& state, GgmlType type, int64_t n_tok) {
  const TypeTraits* t = traits(type);
  const std::vector<uint8_t>& w = weights(type);
  const std::vector<float> a = gaussian(kCols * n_tok, 2);
  const size_t act_row = ggml_row_size(t->vec_dot_type, kCols);
  std::vector<uint8_t> act(act_row * static_cast<size_t>(n_tok));
  for (int64_t i = 0; i < n_tok; ++i) t->from_float_vec_dot(a.data() + i * kCols, act.data() + i * act_row, kCols);
  const size_t row = ggml_row_size(type, kCols);
  std::vector<float> out(static_cast<size_t>(kRows * n_tok));
  for (auto _ : state) {
    for (int64_t r = 0; r < kRows; ++r)
      for (int64_t i = 0; i < n_tok; ++i)
        t->vec_dot(kCols, &out[i * kRows + r], w.data() + r * row, act.data() + i * act_row);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kRows * kCols * n_tok);
}

void BM_QuantizeActivation(benchmark::State& state, GgmlType type) {
  const TypeTraits* t = traits(type);
  const std::vector<float> a = gaussian(kCols, 3);
  std::vector<uint8_t> act(ggml_row_size(t->vec_dot_type, kCols));
  for (auto _ : state) {
    t->from_float_vec_dot(a.data(), act.data(), kCols);
    benchmark::DoNotOptimize(act.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kCols);
}

void BM_QuantizeWeights(benchmark::State& state, GgmlType type) {
  const std::vector<float> f = gaussian(kCols * 16, 4);
  std::vector<uint8_t> q(ggml_row_size(type, kCols) * 16);
  for (auto _ : state) {
    quantize_matrix(type, f.data(), q.data(), 16, kCols);
    benchmark::DoNotOptimize(q.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kCols * 16);
}

const bool kRegistered = [] {
  const GgmlType types[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0,
                            GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};
  for (const GgmlType type : types) {
    const std::string name = ggml_type_name(type);
    for (const DotKernel& k : dot_kernels(type))
      benchmark::RegisterBenchmark(("matvec/" + name + "/" + k.isa).c_str(), BM_MatVec, type, k.fn)
          ->Unit(benchmark::kMillisecond);
    for (const int64_t n_tok : {1, 8, 64}) {
      const std::string suffix = "/tok" + std::to_string(n_tok);
      benchmark::RegisterBenchmark(("pairs/" + name + suffix).c_str(), BM_PairsBaseline, type, n_tok)
          ->Unit(benchmark::kMillisecond);
      for (const TileKernel& k : tile_kernels(type))
        if (std::string(k.isa) != "scalar" || n_tok == 1)
          benchmark::RegisterBenchmark(("tile/" + name + "/" + k.isa + suffix).c_str(), BM_Tile, type, k.fn, n_tok)
              ->Unit(benchmark::kMillisecond);
    }
    benchmark::RegisterBenchmark(("quantize/" + name).c_str(), BM_QuantizeWeights, type)->Unit(benchmark::kMillisecond);
  }
  if (const TileDotFn fn = q8_0x8_tile())
    for (const int64_t n_tok : {1, 8, 64})
      benchmark::RegisterBenchmark(("tile/q8_0x8/avx2/tok" + std::to_string(n_tok)).c_str(), BM_TileQ8_0x8, fn, n_tok)
          ->Unit(benchmark::kMillisecond);
  for (const GgmlType type : {GgmlType::Q8_0, GgmlType::Q8_K})
    benchmark::RegisterBenchmark((std::string("activation/") + ggml_type_name(type)).c_str(), BM_QuantizeActivation,
                                 type);
  return true;
}();

}  // namespace
}  // namespace hayate::quant
