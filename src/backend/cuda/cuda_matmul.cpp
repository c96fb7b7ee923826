// The CUDA backend's matrix products, attention and top logits (see cuda_backend.h).
#include <algorithm>
#include <bit>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "core/error.h"
#include "core/profile.h"

namespace hayate::cuda {
namespace {

constexpr int64_t kMatvecMaxTokens = 8;          // up to this many tokens: mat-vec (f32 activations)
constexpr int32_t kPrefillMinTokens = 16;        // from this many tokens: the tiled prompt attention
constexpr size_t kTileBytes = size_t{64} << 20;  // dequantized f16 weight tile for cuBLAS

bool is_float_type(GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16; }

// The profile's name for a matmul: which kernel, and whether it is the output layer (the
// vocabulary-sized product that every step ends with).
const char* matmul_name(const Weight& w, int path) {
  static constexpr const char* kNames[2][3] = {
      {"gpu matmul mat-vec", "gpu matmul batched", "gpu matmul cuBLAS"},
      {"gpu matmul mat-vec (output)", "gpu matmul batched (output)", "gpu matmul cuBLAS (output)"}};
  const bool output = w.name == "output.weight" || w.name == "token_embd.weight";
  return kNames[output ? 1 : 0][path];
}

}  // namespace

void CudaBackend::matmul(const Weight& w, Tensor x, Tensor out, const Weight* bias) {
  const size_t mark = scratch_.mark();
  ActQ8 none;
  matmul_with(w, x, out, bias, none);
  scratch_.release(mark);
}

void CudaBackend::matmul_with(const Weight& w, Tensor x, Tensor out, const Weight* bias, ActQ8& shared) {
  if (x.cols != w.cols || out.rows != x.rows || out.cols < w.rows)
    fail(ErrorKind::Internal, "matmul " + w.name + ": shapes do not match");
  const DevWeight dw = dev(w);
  const float* b = nullptr;
  if (bias) {
    if (bias->type != GgmlType::F32 || bias->cols * bias->rows < w.rows)
      fail(ErrorKind::Unsupported, "matmul: bias " + bias->name + " is not F32 of the output size");
    b = static_cast<const float*>(dev(*bias).data);
  }
  const bool quantized = !is_float_type(w.type);
  if (quantized && (reinterpret_cast<uintptr_t>(x.data) % 16 != 0 || x.cols % 32 != 0))
    fail(ErrorKind::Internal, "matmul: activations not 16-byte aligned");
  if (x.rows <= kMatvecMaxTokens) {
    Timed t(*this, matmul_name(w, 0));
    if (matvec_fast_on_ && matvec_fast_fits(dw, x.data, x.cols, x.rows)) {
      const ActQ8 q8 = int8_activations(w.type, x, shared);
      launch(
          [=, this] {
            check(matvec_fast(dw, x.data, x.cols, x.rows, out.data, out.cols, b, stream_, q8.q ? &q8 : nullptr),
                  "matvec_fast kernel");
          },
          "matvec_fast", dw.data, dw.type, dw.rows, dw.cols, x.data, x.cols, x.rows, out.data, out.cols, b, q8.q,
          q8.ready);
    } else
      launch(
          [=, this] {
            check(matvec(dw, x.data, x.cols, x.rows, out.data, out.cols, b, matvec_q4k_on_, stream_), "matvec kernel");
          },
          "matvec", dw.data, dw.type, dw.rows, dw.cols, x.data, x.cols, x.rows, out.data, out.cols, b, matvec_q4k_on_);
    return;
  }
  const bool mma = quantized && x.rows <= mma_max_tokens_ && matmul_mma_fits(dw);
  if (mma || (quantized && x.rows <= batched_max_tokens_)) {
    const size_t mark = scratch_.mark();
    void* xh = scratch_.take(static_cast<size_t>(x.rows * x.cols) * 2);
    BatchedPlan plan = mma ? plan_mma(w.rows, w.cols, x.rows, mma_blocks_per_sm_)
                           : plan_batched(w.rows, w.cols, x.rows, batched_block_rows_);
    plan.prefetch = batched_prefetch_;
    plan.exact = mma_exact_;
    float* partial = plan.partial_floats ? floats(plan.partial_floats) : nullptr;
    Timed t(*this, matmul_name(w, 1));
    launch(
        [=, this] {
          check(f32_to_half(x.data, xh, x.rows * x.cols, false, stream_), "f32_to_half kernel");
          if (mma)
            check(matmul_mma(dw, xh, x.rows, out.data, out.cols, b, plan, partial, stream_), "matmul_mma kernel");
          else
            check(matmul_batched(dw, xh, x.rows, out.data, out.cols, b, plan, partial, stream_),
                  "matmul_batched kernel");
        },
        mma ? "matmul_mma" : "matmul_batched", dw.data, dw.type, dw.rows, dw.cols, x.data, x.cols, x.rows, out.data,
        out.cols, b, xh, plan.block_rows, plan.splits, plan.steps_per_split, plan.partial_floats, plan.prefetch,
        plan.blocks_per_sm, plan.exact, partial);
    scratch_.release(mark);
    return;
  }
  Timed t(*this, matmul_name(w, 2));
  matmul_cublas(w, dw, x, out, quantized);
  if (b) {
    const int64_t rows = w.rows;
    launch([=, this] { check(add_bias(out.data, out.cols, x.rows, rows, b, stream_), "add_bias kernel"); }, "add_bias",
           out.data, out.cols, x.rows, rows, b);
  }
}

void CudaBackend::matmul_parts(std::span<const Weight* const> ws, Tensor x, std::span<const Tensor> outs,
                               std::span<const Weight* const> biases) {
  if (outs.size() != ws.size() || (!biases.empty() && biases.size() != ws.size()))
    fail(ErrorKind::Internal, "matmul_parts: weights, outputs and biases differ in number");
  if (!fuse_parts_ || x.rows > kMatvecMaxTokens || ws.size() < 2) {
    Backend::matmul_parts(ws, x, outs, biases);
    return;
  }
  // Parts of one type run together (in order, up to kMaxMatvecParts a launch); a part whose
  // type no other shares, or a group the kernels do not take, runs alone (matmul's checks). The
  // int8 path quantizes x once for all of them (shared).
  const size_t mark = scratch_.mark();
  ActQ8 shared;
  std::vector<bool> done(ws.size(), false);
  for (size_t i = 0; i < ws.size(); ++i) {
    if (done[i]) continue;
    MatvecParts m;
    size_t members[kMaxMatvecParts] = {};
    bool shapes_ok = true;
    for (size_t j = i; j < ws.size() && m.n < kMaxMatvecParts; ++j) {
      if (done[j] || ws[j]->type != ws[i]->type) continue;
      const Weight& w = *ws[j];
      const Weight* bias = biases.empty() ? nullptr : biases[j];
      if (x.cols != w.cols || outs[j].rows != x.rows || outs[j].cols < w.rows ||
          (bias && (bias->type != GgmlType::F32 || bias->cols * bias->rows < w.rows)))
        shapes_ok = false;  // matmul says what is wrong
      m.w[m.n] = dev(w);
      m.out[m.n] = outs[j].data;
      m.ldo[m.n] = outs[j].cols;
      m.bias[m.n] = bias ? static_cast<const float*>(dev(*bias).data) : nullptr;
      members[m.n++] = j;
    }
    if (!shapes_ok || !matvec_parts_fits(m, x.data, x.cols, x.rows, matvec_fast_on_)) {
      matmul_with(*ws[i], x, outs[i], biases.empty() ? nullptr : biases[i], shared);
      done[i] = true;
      continue;
    }
    for (int p = 0; p < m.n; ++p) done[members[p]] = true;
    // Every part's arguments are the graph's key too (launch adds the rest).
    if (steps_.recording())
      for (int p = 0; p < m.n; ++p)
        steps_.key(m.w[p].data, m.w[p].type, m.w[p].rows, m.w[p].cols, m.out[p], m.ldo[p], m.bias[p]);
    ++fused_.parts;
    Timed t(*this, "gpu matmul mat-vec (parts)");
    const ActQ8 q8 = int8_activations(ws[i]->type, x, shared);
    launch(
        [=, this] {
          check(matvec_parts(m, x.data, x.cols, x.rows, stream_, q8.q ? &q8 : nullptr), "matvec_parts kernel");
        },
        "matvec_parts", m.n, x.data, x.cols, x.rows, matvec_fast_on_, q8.q, q8.ready);
  }
  scratch_.release(mark);
}

void CudaBackend::matmul_swiglu(const Weight& gate_w, const Weight& up_w, Tensor x, Tensor out) {
  if (x.cols != gate_w.cols || out.rows != x.rows || out.cols < gate_w.rows)
    fail(ErrorKind::Internal, "matmul_swiglu " + gate_w.name + ": shapes do not match");
  const DevWeight g = dev(gate_w), u = dev(up_w);
  if (!(matvec_fast_on_ && swiglu_fused_on_ && x.rows <= kMatvecMaxTokens &&
        matvec_fast_swiglu_fits(g, u, x.data, x.cols, x.rows))) {
    Backend::matmul_swiglu(gate_w, up_w, x, out);
    return;
  }
  Timed t(*this, "gpu matmul mat-vec + swiglu");
  const size_t mark = scratch_.mark();
  ActQ8 none;
  const ActQ8 q8 = int8_activations(gate_w.type, x, none);
  launch(
      [=, this] {
        check(matvec_fast_swiglu(g, u, x.data, x.cols, x.rows, out.data, out.cols, stream_, q8.q ? &q8 : nullptr),
              "matvec_fast_swiglu kernel");
      },
      "matvec_fast_swiglu", g.data, u.data, g.type, g.rows, g.cols, x.data, x.cols, x.rows, out.data, out.cols, q8.q);
  scratch_.release(mark);
}

ActQ8 CudaBackend::int8_activations(GgmlType type, Tensor x, ActQ8& shared) {
  const bool kquant = type == GgmlType::Q4_K || type == GgmlType::Q6_K;
  const bool on = matvec_act_ == MatvecAct::Int16 || matvec_act_ == MatvecAct::Int8All
                      ? kquant || type == GgmlType::Q8_0
                      : matvec_act_ == MatvecAct::Int8KQuants && kquant;
  if (!on) return ActQ8{};
  if (shared.q) {  // quantized by an earlier launch of the same call
    ActQ8 ready = shared;
    ready.ready = true;
    return ready;
  }
  const bool bits16 = matvec_act_ == MatvecAct::Int16;
  shared = act_q8_in(scratch_.take(act_q8_bytes(x.rows, x.cols, bits16)), x.rows, x.cols, bits16);
  return shared;
}

void CudaBackend::matmul_cublas(const Weight& w, const DevWeight& dw, Tensor x, Tensor out, bool quantized) {
  if (w.rows > INT32_MAX || w.cols > INT32_MAX || x.rows > INT32_MAX || out.cols > INT32_MAX)
    fail(ErrorKind::Unsupported, "matmul: matrix too large for cuBLAS");
  const int m = static_cast<int>(w.rows), n = static_cast<int>(x.rows), k = static_cast<int>(w.cols);
  const int ldc = static_cast<int>(out.cols);
  if (w.type == GgmlType::F32) {
    launch(
        [=, this] {
          const float one = 1.0f, zero = 0.0f;
          check_blas(cublas().sgemm(blas_, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, static_cast<const float*>(dw.data),
                                    k, x.data, k, &zero, out.data, ldc),
                     "cublasSgemm");
        },
        "sgemm", dw.data, m, n, k, x.data, out.data, ldc);
    return;
  }
  // Activations in the weights' 16-bit type (quantized weights become f16 tiles).
  const bool bf16 = w.type == GgmlType::BF16;
  const size_t mark = scratch_.mark();
  void* xh = scratch_.take(static_cast<size_t>(x.rows * x.cols) * 2);
  const int64_t tile_rows =
      quantized
          ? std::min(w.rows, std::max<int64_t>(64, static_cast<int64_t>(kTileBytes / (static_cast<size_t>(k) * 2))))
          : 0;
  void* tile = quantized ? scratch_.take(static_cast<size_t>(tile_rows) * static_cast<size_t>(k) * 2) : nullptr;
  launch(
      [=, this] {
        const float one = 1.0f, zero = 0.0f;
        const cudaDataType_t type = bf16 ? CUDA_R_16BF : CUDA_R_16F;
        check(f32_to_half(x.data, xh, x.rows * x.cols, bf16, stream_), "f32_to_half kernel");
        if (!quantized) {
          check_blas(cublas().gemm_ex(blas_, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, dw.data, type, k, xh, type, k,
                                      &zero, out.data, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                     "cublasGemmEx");
          return;
        }
        for (int64_t r0 = 0; r0 < dw.rows; r0 += tile_rows) {
          const int64_t rows = std::min(tile_rows, dw.rows - r0);
          check(dequantize_rows_f16(dw, r0, rows, tile, false, stream_), "dequantize_rows_f16 kernel");
          check_blas(cublas().gemm_ex(blas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows), n, k, &one, tile,
                                      CUDA_R_16F, k, xh, CUDA_R_16F, k, &zero, out.data + r0, CUDA_R_32F, ldc,
                                      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                     "cublasGemmEx (dequantized tile)");
        }
      },
      "gemm", dw.data, dw.type, m, n, k, x.data, out.data, ldc, xh, tile, tile_rows);
  scratch_.release(mark);
}

void CudaBackend::top_logits(Tensor logits, std::span<const int32_t> rows, int32_t k, std::vector<TopLogits>& out) {
  if (k <= 0 || k > kMaxTopLogits)
    fail(ErrorKind::Internal, "top_logits: k " + std::to_string(k) + " is outside 1.." + std::to_string(kMaxTopLogits));
  if (logits.cols <= 0 || logits.cols > INT32_MAX) fail(ErrorKind::Internal, "top_logits: bad row length");
  for (int32_t r : rows)
    if (r < 0 || r >= logits.rows) fail(ErrorKind::Internal, "top_logits: row " + std::to_string(r) + " out of range");
  out.clear();
  if (rows.empty()) return;
  const auto n_rows = static_cast<int32_t>(rows.size());
  const auto n_vocab = static_cast<int32_t>(logits.cols);
  const size_t out_bytes = top_logits_out_bytes(n_rows, k);
  if (top_host_bytes_ < out_bytes) {
    if (top_host_) check(cudaFreeHost(top_host_), "cudaFreeHost (top logits)");
    top_host_ = nullptr;
    top_host_bytes_ = 0;
    check(cudaMallocHost(&top_host_, out_bytes), "cudaMallocHost (top logits)");
    top_host_bytes_ = out_bytes;
  }
  const size_t mark = scratch_.mark();
  void* dev_out = scratch_.take(out_bytes);
  void* scratch = scratch_.take(top_logits_scratch_bytes(n_rows, n_vocab, k));
  TopLogitsArgs a;
  a.logits = logits.data;
  a.ld = logits.cols;
  a.rows = static_cast<const int32_t*>(upload(rows.data(), rows.size_bytes()));
  a.n_rows = n_rows;
  a.n_vocab = n_vocab;
  a.k = k;
  a.out = top_logits_out(dev_out, n_rows, k);
  {
    void* host = top_host_;
    Timed t(*this, "gpu top logits");
    launch(
        [=, this] {
          check(cuda::top_logits(a, scratch, stream_), "top_logits kernels");
          check(cudaMemcpyAsync(host, dev_out, out_bytes, cudaMemcpyDeviceToHost, stream_),
                "cudaMemcpyAsync (top logits)");
        },
        "top_logits", a.logits, a.ld, a.rows, a.n_rows, a.n_vocab, a.k, dev_out, scratch, host, out_bytes);
  }
  flush();  // the step's graph, ending with these kernels and the copy of their results
  {
    profile::Timer wait("host waits for the GPU (top logits)");
    sync();
  }
  scratch_.release(mark);
  const TopLogitsOut h = top_logits_out(top_host_, n_rows, k);
  out.resize(rows.size());
  for (int32_t r = 0; r < n_rows; ++r) {
    TopLogits& t = out[static_cast<size_t>(r)];
    const auto listed = static_cast<size_t>(std::clamp(h.n_listed[r], 0, k));
    const size_t at = static_cast<size_t>(r) * static_cast<size_t>(k);
    t.ids.assign(h.ids + at, h.ids + at + listed);
    t.logits.assign(h.logits + at, h.logits + at + listed);
    t.log_norm = h.log_norm[r];
    t.n_finite = h.n_finite[r];
    t.ok = h.bad[r] == 0;
  }
}

void CudaBackend::attention(KvCache& kv_base, int32_t layer, Tensor q, const Batch& batch, int32_t n_head,
                            int32_t n_head_kv, int32_t head_dim, Tensor out) {
  CudaKvCache& kv = cache(kv_base, layer);
  const int32_t n = static_cast<int32_t>(batch.size());
  if (head_dim <= 0 || head_dim > kMaxHeadDim)
    fail(ErrorKind::Unsupported, "attention: head size " + std::to_string(head_dim) + " is over the CUDA kernel's " +
                                     std::to_string(kMaxHeadDim));
  if (n_head_kv <= 0 || n_head % n_head_kv != 0 || q.rows < n || q.cols < int64_t{n_head} * head_dim || out.rows < n ||
      out.cols < int64_t{n_head} * head_dim || int64_t{n_head_kv} * head_dim > kv.kv_dim)
    fail(ErrorKind::Internal, "attention: shapes do not match");
  // Block tables as one n_seq x max_blocks array; every block a token will read must exist.
  std::vector<int32_t> need(batch.sequences.size(), 0);
  int32_t max_pos = 0;
  for (int32_t t = 0; t < n; ++t) {
    const int32_t s = batch.seq[t], pos = batch.positions[t];
    if (s < 0 || s >= static_cast<int32_t>(batch.sequences.size()) || pos < 0)
      fail(ErrorKind::Internal, "attention: bad sequence or position");
    need[s] = std::max(need[s], pos / kv.block_size + 1);
    max_pos = std::max(max_pos, pos);
  }
  // In a recorded step, widths rounded up to powers of two, so that a decode step's launch
  // arguments (and so its graph) stay the same while its sequences grow: unused table entries are
  // never read, and splits past a token's position add nothing in the combine (the same sums,
  // bit for bit, as without the rounding).
  const bool round = steps_.recording();
  size_t max_blocks = 1;
  for (const BatchSequence& s : batch.sequences) max_blocks = std::max(max_blocks, s.block_table.size());
  if (round) max_blocks = std::bit_ceil(max_blocks);
  tables_.assign(batch.sequences.size() * max_blocks, 0);
  for (size_t s = 0; s < batch.sequences.size(); ++s) {
    const auto& table = batch.sequences[s].block_table;
    if (need[s] > static_cast<int32_t>(table.size()))
      fail(ErrorKind::Internal, "attention: a sequence's block table is shorter than its positions");
    for (size_t b = 0; b < table.size(); ++b) {
      if (static_cast<int32_t>(b) < need[s] && (table[b] < 0 || table[b] >= kv.n_blocks))
        fail(ErrorKind::Internal, "attention: block table entry out of range");
      tables_[s * max_blocks + b] = table[b];
    }
  }
  AttentionArgs a;
  a.q = q.data;
  a.ldq = q.cols;
  a.k_cache = kv.k(layer);
  a.v_cache = kv.v(layer);
  a.positions = static_cast<const int32_t*>(upload(batch.positions.data(), batch.positions.size() * 4));
  a.seq = static_cast<const int32_t*>(upload(batch.seq.data(), batch.seq.size() * 4));
  a.block_tables = static_cast<const int32_t*>(upload(tables_.data(), tables_.size() * 4));
  a.max_blocks = static_cast<int32_t>(max_blocks);
  a.block_size = kv.block_size;
  a.kv_dim = kv.kv_dim;
  a.n_tokens = n;
  a.n_head = n_head;
  a.n_head_kv = n_head_kv;
  a.head_dim = head_dim;
  // Short chunks when there are few (token, head) pairs, so that a decode step over a long
  // context still spreads over the whole chip. A warp walks its positions one dependent load at
  // a time, so one sequence's decode (32 heads on Llama-3-8B) takes chunks of 16: 4 positions a
  // warp rather than 16, more blocks in flight (issue 12, stage 6).
  const int64_t pairs = int64_t{n} * n_head;
  a.chunk = pairs >= 256 ? 256 : pairs >= 64 ? 64 : decode_chunk_;
  a.n_split = max_pos / a.chunk + 1;
  if (round) a.n_split = static_cast<int32_t>(std::bit_ceil(static_cast<uint32_t>(a.n_split)));
  a.out = out.data;
  a.ldo = out.cols;
  // A sliding-window layer (KvCache::first_attended): the split kernel skips what lies before it.
  const bool windowed =
      kv.sliding_window > 0 && (kv.window_layers.empty() || kv.window_layers[static_cast<size_t>(layer)]);
  a.window = windowed ? kv.sliding_window : 0;
  // Prompt batches: tiles of consecutive tokens of one sequence, when they are few enough that
  // each tile's keys serve many rows (a decode-shaped batch stays on the split kernel). The tiled
  // kernel has no window.
  const int32_t tile_tokens = prefill_on_ && a.window == 0 ? attention_prefill_tile_tokens(n_head, n_head_kv) : 0;
  if (tile_tokens > 0 && n >= kPrefillMinTokens) {
    tiles_.clear();
    for (int32_t t = 0; t < n; ++t) {
      const size_t last = tiles_.size();
      if (last > 0 && batch.seq[t] == batch.seq[tiles_[last - 2]] && tiles_[last - 1] < tile_tokens)
        ++tiles_[last - 1];
      else
        tiles_.insert(tiles_.end(), {t, 1});
    }
    a.n_tiles = static_cast<int32_t>(tiles_.size() / 2);
    if (int64_t{a.n_tiles} * tile_tokens <= 2 * int64_t{n}) {
      a.tiles = static_cast<const int32_t*>(upload(tiles_.data(), tiles_.size() * 4));
      Timed t(*this, "gpu attention (prefill)");
      launch([=, this] { check(attention_prefill(a, stream_), "attention_prefill kernel"); }, "attention_prefill", a.q,
             a.ldq, a.k_cache, a.v_cache, a.positions, a.seq, a.block_tables, a.max_blocks, a.block_size, a.kv_dim,
             a.n_tokens, a.n_head, a.n_head_kv, a.head_dim, a.tiles, a.n_tiles, a.out, a.ldo);
      return;
    }
    a.n_tiles = 0;
  }
  a.partial = floats(static_cast<size_t>(n) * n_head * a.n_split * (head_dim + 2));
  if (fuse_combine_ && a.n_split > 1) {
    a.counters = attention_counters(static_cast<size_t>(n) * static_cast<size_t>(n_head));
    ++fused_.combine;
  }
  Timed t(*this, "gpu attention");
  launch([=, this] { check(cuda::attention(a, stream_), "attention kernels"); }, "attention", a.q, a.ldq, a.k_cache,
         a.v_cache, a.positions, a.seq, a.block_tables, a.max_blocks, a.block_size, a.kv_dim, a.n_tokens, a.n_head,
         a.n_head_kv, a.head_dim, a.n_split, a.chunk, a.partial, a.out, a.ldo, a.window, a.counters);
}

}  // namespace hayate::cuda
