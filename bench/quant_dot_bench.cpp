// Dot-product and conversion throughput of every weight type and kernel.
// Each iteration multiplies a 4096 x 4096 weight matrix (too large for the caches, as in real
// decoding) by one activation row; bytes/s counts weight bytes read.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "quant/packed.h"
#include "quant/quant.h"

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

// n_tok rows of `cols` activations as the packed format's kernels read them (its converter, or
// the floats as they are).
std::vector<uint8_t> packed_acts(const PackedFormat& f, const std::vector<float>& a, int64_t cols, int64_t n_tok) {
  const size_t act_row = f.act_row_bytes(cols);
  std::vector<uint8_t> act(act_row * static_cast<size_t>(n_tok));
  for (int64_t i = 0; i < n_tok; ++i) {
    if (f.convert_act)
      f.convert_act(a.data() + i * cols, act.data() + i * act_row, cols);
    else
      std::memcpy(act.data() + i * act_row, a.data() + i * cols, act_row);
  }
  return act;
}

// A packed format (quant/packed.h), as the CPU backend runs it after prepare(): activations
// converted with the format's converter, row chunks of 64.
void BM_Packed(benchmark::State& state, const PackedFormat* f, int64_t n_tok) {
  const std::vector<uint8_t>& w = weights(f->type);
  std::vector<uint8_t> packed(packed_bytes(*f, kRows, kCols));
  f->pack(w.data(), kRows, kCols, 0, kRows / f->group_rows, packed.data());
  const std::vector<float> a = gaussian(kCols * n_tok, 2);
  const size_t act_row = f->act_row_bytes(kCols);
  const std::vector<uint8_t> act = packed_acts(*f, a, kCols, n_tok);
  const size_t group = f->group_bytes(kCols);
  std::vector<float> out(static_cast<size_t>(kRows * n_tok));
  for (auto _ : state) {
    for (int64_t r = 0; r < kRows; r += 64)
      f->tile(kCols, packed.data() + static_cast<size_t>(r / f->group_rows) * group, group, 64, act.data(), act_row,
              n_tok, &out[r], kRows);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(packed.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kRows * kCols * n_tok);
}

// A prompt as the CPU backend runs it on a TinyLlama-sized matrix (2048 × 2048, 512 tokens):
// tasks of 64 rows × 64 tokens, a chunk's token blocks one after another, so the chunk's packed
// weights are read from cache after the first block. Items/s = multiply-adds.
void BM_PackedPrompt(benchmark::State& state, const PackedFormat* f) {
  constexpr int64_t kN = 2048, kR = 2048, kT = 512, kChunk = 64, kBlock = 64;
  const std::vector<float> wf = gaussian(kN * kR, 5), a = gaussian(kN * kT, 6);
  const size_t row = ggml_row_size(f->type, kN);
  std::vector<uint8_t> w(row * kR);
  quantize_matrix(f->type, wf.data(), w.data(), kR, kN);
  std::vector<uint8_t> packed(packed_bytes(*f, kR, kN));
  f->pack(w.data(), kR, kN, 0, kR / f->group_rows, packed.data());
  const size_t act_row = f->act_row_bytes(kN);
  const std::vector<uint8_t> act = packed_acts(*f, a, kN, kT);
  const size_t group = f->group_bytes(kN);
  std::vector<float> out(static_cast<size_t>(kR * kT));
  for (auto _ : state) {
    for (int64_t r = 0; r < kR; r += kChunk)
      for (int64_t t0 = 0; t0 < kT; t0 += kBlock)
        f->tile(kN, packed.data() + static_cast<size_t>(r / f->group_rows) * group, group, kChunk,
                act.data() + static_cast<size_t>(t0) * act_row, act_row, kBlock, &out[t0 * kR + r], kR);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kR * kN * kT);
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
  for (const GgmlType type : types)
    for (const PackedFormat* f : packed_formats(type))
      for (const int64_t n_tok : {1, 8, 64})
        benchmark::RegisterBenchmark(
            (std::string("packed/") + f->name + "/" + f->isa + "/tok" + std::to_string(n_tok)).c_str(), BM_Packed, f,
            n_tok)
            ->Unit(benchmark::kMillisecond);
  for (const GgmlType type : types)
    for (const PackedFormat* f : packed_formats(type))
      benchmark::RegisterBenchmark((std::string("prompt/") + f->name + "/" + f->isa).c_str(), BM_PackedPrompt, f)
          ->Unit(benchmark::kMillisecond);
  for (const GgmlType type : {GgmlType::Q8_0, GgmlType::Q8_K})
    benchmark::RegisterBenchmark((std::string("activation/") + ggml_type_name(type)).c_str(), BM_QuantizeActivation,
                                 type);
  return true;
}();

}  // namespace
}  // namespace hayate::quant
