// The CUDA backend: weights uploaded once in their file format, activations and the paged KV
// cache (fp32) in device memory, every operation enqueued on one stream; the host waits only in
// to_host. Decode-sized matmuls use the quantized mat-vec kernels; prompt batches go through
// cuBLAS (weights dequantized to f16 tiles first). With DeviceOptions::cuda_graphs each step
// between reset_scratch() and to_host() is captured as a graph and replayed (updated in place
// when a graph of the same topology was launched before).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cublas_api.h"
#include "backend/cuda/cuda_memory.h"
#include "backend/cuda/cuda_util.h"
#include "backend/cuda/kernels.h"
#include "core/error.h"

namespace hayate {
namespace {

using cuda::check;
using cuda::check_blas;
using cuda::cublas;

constexpr int64_t kMatvecMaxTokens = 8;          // above this a matmul goes through cuBLAS
constexpr size_t kTileBytes = size_t{64} << 20;  // dequantized f16 weight tile for cuBLAS
constexpr size_t kBlasWorkspace = size_t{32} << 20;
constexpr size_t kMaxGraphs = 16;  // executable graphs kept, one per step topology

class CudaKvCache : public KvCache {
 public:
  CudaKvCache(std::shared_ptr<cuda::MemoryBudget> budget, const HParams& hp, int32_t blocks, int32_t bs)
      : budget_(std::move(budget)) {
    n_layer = hp.n_layer;
    n_blocks = blocks;
    block_size = bs;
    kv_dim = hp.kv_dim();
    layer_floats_ = static_cast<size_t>(n_blocks) * block_size * kv_dim;
    bytes = 2 * layer_floats_ * n_layer * sizeof(float);
    data_ = static_cast<float*>(cuda::device_alloc(*budget_, bytes, "the KV cache"));
    check(cudaMemset(data_, 0, bytes), "cudaMemset (KV cache)");
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (KV cache)");
  }
  ~CudaKvCache() override { cuda::device_free(*budget_, data_, bytes); }
  float* k(int32_t layer) { return data_ + (2 * static_cast<size_t>(layer)) * layer_floats_; }
  float* v(int32_t layer) { return data_ + (2 * static_cast<size_t>(layer) + 1) * layer_floats_; }

 private:
  std::shared_ptr<cuda::MemoryBudget> budget_;
  size_t layer_floats_ = 0;
  float* data_ = nullptr;
};

struct Uploaded {
  void* dev = nullptr;
  size_t bytes = 0;
};

class CudaBackend : public Backend {
 public:
  explicit CudaBackend(const DeviceOptions& opt)
      : budget_(std::make_shared<cuda::MemoryBudget>()),
        scratch_(*budget_),
        uploads_(*budget_),
        graphs_(opt.cuda_graphs) {
    if (!(opt.gpu_memory_fraction > 0.0 && opt.gpu_memory_fraction <= 1.0))
      fail(ErrorKind::BadInput, "--gpu-memory-fraction must be in (0, 1]");
    // A constructor that throws runs no destructor: release what was made so far.
    try {
      init(opt);
    } catch (...) {
      release();
      throw;
    }
  }

  ~CudaBackend() override { release(); }

 private:
  void init(const DeviceOptions& opt) {
    check(cudaSetDevice(0), "cudaSetDevice(0)");
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    device_ = prop.name;
    size_t free_bytes = 0, total = 0;
    check(cudaMemGetInfo(&free_bytes, &total), "cudaMemGetInfo");
    budget_->limit = static_cast<uint64_t>(static_cast<double>(free_bytes) * opt.gpu_memory_fraction);
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    check_blas(cublas().create(&blas_), "cublasCreate");
    check_blas(cublas().set_stream(blas_, stream_), "cublasSetStream");
    workspace_ = cuda::device_alloc(*budget_, kBlasWorkspace, "the cuBLAS workspace");
    // A workspace of our own keeps cuBLAS from allocating inside a captured graph.
    check_blas(cublas().set_workspace(blas_, workspace_, kBlasWorkspace), "cublasSetWorkspace");
  }

  void release() noexcept {
    abort_capture();
    drop_graphs();
    if (stream_) (void)cudaStreamSynchronize(stream_);
    for (auto& [host, w] : weights_) cuda::device_free(*budget_, w.dev, w.bytes);
    weights_.clear();
    if (workspace_) cuda::device_free(*budget_, workspace_, kBlasWorkspace);
    workspace_ = nullptr;
    if (blas_) (void)cublas().destroy(blas_);
    blas_ = nullptr;
    if (stream_) (void)cudaStreamDestroy(stream_);
    stream_ = nullptr;
  }

 public:
  std::string name() const override { return "cuda"; }
  std::string device_name() const override { return device_; }
  // The peak, so that a bench row counts the KV cache of its test after the test freed it.
  uint64_t device_memory_bytes() const override { return budget_->peak; }

  void prepare(const Model& m) override {
    for_each_weight(m, [this](const Weight& w, WeightKind) { prepare_weight(w); });
  }

  void prepare_weight(const Weight& w) override {
    if (!w || weights_.count(w.data)) return;
    if (!cuda::type_supported(static_cast<uint32_t>(w.type)))
      fail(ErrorKind::Unsupported, "tensor " + w.name + " has type " + ggml_type_name(w.type) +
                                       ", which the CUDA backend does not support (supported: " + type_names() + ")");
    const size_t bytes = w.row_bytes() * static_cast<size_t>(w.rows);
    void* dev = cuda::device_alloc(*budget_, bytes, "weight " + w.name);
    weights_[w.data] = Uploaded{dev, bytes};
    check(cudaMemcpy(dev, w.data, bytes, cudaMemcpyHostToDevice), "cudaMemcpy (weight upload)");
    // The copy ran on the legacy stream, which does not order against ours: wait for it.
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (weight upload)");
  }

  std::unique_ptr<KvCache> make_kv_cache(const HParams& hp, int32_t n_blocks, int32_t block_size) override {
    if (n_blocks <= 0 || block_size <= 0) fail(ErrorKind::BadInput, "KV cache: blocks and block size must be > 0");
    auto cache = std::make_unique<CudaKvCache>(budget_, hp, n_blocks, block_size);
    cache->backend = name();
    return cache;
  }

  Tensor alloc(int64_t rows, int64_t cols) override {
    if (rows < 0 || cols < 0) fail(ErrorKind::Internal, "alloc: negative shape");
    return Tensor{floats(static_cast<size_t>(rows * cols)), rows, cols};
  }

  void reset_scratch() override {
    // A step that wanted no outputs never called to_host: its captured work still has to run.
    finish_capture();
    sync();
    scratch_.reset();
    uploads_.reset();
    if (graphs_) {
      check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
      capturing_ = true;
    }
  }
  size_t scratch_mark() const override { return scratch_.mark(); }
  void scratch_release(size_t mark) override { scratch_.release(mark); }

  void to_host(Tensor x, float* dst) override {
    finish_capture();
    const size_t bytes = static_cast<size_t>(x.rows * x.cols) * sizeof(float);
    if (bytes > 0)
      check(cudaMemcpyAsync(dst, x.data, bytes, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync (to_host)");
    sync();
  }

  void from_host(const float* src, Tensor x) override {
    uploads_.copy_to(x.data, src, static_cast<size_t>(x.rows * x.cols) * sizeof(float), stream_);
  }

  void get_rows(const Weight& table, std::span<const int32_t> ids, Tensor out) override {
    if (out.rows < static_cast<int64_t>(ids.size()) || out.cols < table.cols)
      fail(ErrorKind::Internal, "get_rows: output too small");
    for (int32_t id : ids)
      if (id < 0 || id >= table.rows)
        fail(ErrorKind::BadInput, "row id " + std::to_string(id) + " is outside " + table.name + " (" +
                                      std::to_string(table.rows) + " rows)");
    const auto* dev_ids = static_cast<const int32_t*>(upload(ids.data(), ids.size_bytes()));
    check(cuda::get_rows(dev(table), dev_ids, static_cast<int64_t>(ids.size()), out.data, out.cols, stream_),
          "get_rows kernel");
  }

  void copy_rows(Tensor x, std::span<const int32_t> rows, Tensor out) override {
    if (out.rows < static_cast<int64_t>(rows.size()) || out.cols < x.cols)
      fail(ErrorKind::Internal, "copy_rows: output too small");
    for (int32_t r : rows)
      if (r < 0 || r >= x.rows) fail(ErrorKind::Internal, "copy_rows: row " + std::to_string(r) + " out of range");
    const auto* dev_rows = static_cast<const int32_t*>(upload(rows.data(), rows.size_bytes()));
    check(cuda::copy_rows(x.data, x.cols, dev_rows, static_cast<int64_t>(rows.size()), x.cols, out.data, out.cols,
                          stream_),
          "copy_rows kernel");
  }

  void rms_norm(Tensor x, const Weight& w, float eps, Tensor out) override {
    if (w.type != GgmlType::F32) fail(ErrorKind::Unsupported, "rms_norm: " + w.name + " is not F32");
    if (w.cols <= 0 || x.cols % w.cols != 0 || out.rows != x.rows || out.cols != x.cols)
      fail(ErrorKind::Internal, "rms_norm: shapes do not match");
    const auto* weight = static_cast<const float*>(dev(w).data);
    check(cuda::rms_norm(x.data, weight, x.rows * (x.cols / w.cols), w.cols, eps, out.data, stream_),
          "rms_norm kernel");
  }

  void matmul(const Weight& w, Tensor x, Tensor out, const Weight* bias) override;

  void rope(Tensor x, int32_t n_heads, std::span<const int32_t> positions, const RopeParams& p) override {
    if (static_cast<int64_t>(positions.size()) < x.rows || p.n_rot <= 0 || p.n_rot % 2 != 0 || p.n_rot > p.head_dim ||
        static_cast<int64_t>(n_heads) * p.head_dim > x.cols)
      fail(ErrorKind::Internal, "rope: shapes do not match");
    // The same frequencies as the host backends, computed the same way (double pow).
    std::vector<float> inv_freq(static_cast<size_t>(p.n_rot / 2));
    for (int32_t i = 0; i < p.n_rot / 2; ++i) {
      double f = std::pow(static_cast<double>(p.theta), -2.0 * i / p.n_rot) * p.freq_scale;
      if (p.freq_factors) f /= p.freq_factors[i];
      inv_freq[static_cast<size_t>(i)] = static_cast<float>(f);
    }
    const auto* dev_freq = static_cast<const float*>(upload(inv_freq.data(), inv_freq.size() * sizeof(float)));
    const auto* dev_pos = static_cast<const int32_t*>(upload(positions.data(), positions.size_bytes()));
    check(cuda::rope(x.data, x.rows, x.cols, n_heads, p.head_dim, p.n_rot, p.type == RopeType::Neox, dev_pos, dev_freq,
                     stream_),
          "rope kernel");
  }

  void store_kv(KvCache& kv_base, int32_t layer, Tensor k, Tensor v, const Batch& batch) override {
    CudaKvCache& kv = cache(kv_base, layer);
    if (k.cols < kv.kv_dim || v.cols < kv.kv_dim || k.rows < static_cast<int64_t>(batch.size()))
      fail(ErrorKind::Internal, "store_kv: shapes do not match");
    slots_.resize(batch.size());
    for (size_t t = 0; t < batch.size(); ++t) {
      const auto& table = batch.sequences.at(static_cast<size_t>(batch.seq[t])).block_table;
      const int32_t pos = batch.positions[t];
      const size_t b = static_cast<size_t>(pos / kv.block_size);
      if (pos < 0 || b >= table.size() || table[b] < 0 || table[b] >= kv.n_blocks)
        fail(ErrorKind::Internal, "store_kv: position " + std::to_string(pos) + " has no KV block");
      slots_[t] = static_cast<int64_t>(table[b]) * kv.block_size + pos % kv.block_size;
    }
    const auto* dev_slots = static_cast<const int64_t*>(upload(slots_.data(), slots_.size() * sizeof(int64_t)));
    check(cuda::store_kv(k.data, k.cols, v.data, v.cols, dev_slots, static_cast<int64_t>(batch.size()), kv.kv_dim,
                         kv.k(layer), kv.v(layer), stream_),
          "store_kv kernel");
  }

  void attention(KvCache& kv, int32_t layer, Tensor q, const Batch& batch, int32_t n_head, int32_t n_head_kv,
                 int32_t head_dim, Tensor out) override;

  void swiglu(Tensor gate, Tensor up, Tensor out) override {
    if (up.rows * up.cols != gate.rows * gate.cols || out.rows * out.cols != gate.rows * gate.cols)
      fail(ErrorKind::Internal, "swiglu: shapes do not match");
    check(cuda::swiglu(gate.data, up.data, out.data, gate.rows * gate.cols, stream_), "swiglu kernel");
  }

  void add(Tensor x, Tensor y) override {
    if (x.rows * x.cols != y.rows * y.cols) fail(ErrorKind::Internal, "add: shapes do not match");
    check(cuda::add(x.data, y.data, x.rows * x.cols, stream_), "add kernel");
  }

 private:
  // The GGUF types the kernels read, by name: the core type table filtered by the CUDA list.
  static std::string type_names() {
    std::string out;
    for (uint32_t raw = 0; raw < 256; ++raw) {
      const GgmlTypeInfo* t = ggml_type_info(raw);
      if (!t || !cuda::type_supported(raw)) continue;
      if (!out.empty()) out += ' ';
      out += t->name;
    }
    return out;
  }

  float* floats(size_t n) { return static_cast<float*>(scratch_.take(n * sizeof(float))); }

  const void* upload(const void* src, size_t bytes) { return uploads_.put(src, bytes, stream_); }

  cuda::DevWeight dev(const Weight& w) const {
    const auto it = weights_.find(w.data);
    if (it == weights_.end())
      fail(ErrorKind::Internal, "CUDA backend: weight " + w.name + " was not uploaded (prepare / prepare_weight)");
    if (it->second.bytes < w.row_bytes() * static_cast<size_t>(w.rows))
      fail(ErrorKind::Internal, "CUDA backend: weight " + w.name + " changed size after upload");
    return cuda::DevWeight{it->second.dev, static_cast<uint32_t>(w.type), w.rows, w.cols,
                           static_cast<int64_t>(w.row_bytes())};
  }

  CudaKvCache& cache(KvCache& kv, int32_t layer) const {
    CudaKvCache& c = cache_of<CudaKvCache>(kv, *this);
    if (layer < 0 || layer >= c.n_layer) fail(ErrorKind::Internal, "KV cache: layer out of range");
    return c;
  }

  void sync() {
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    scratch_.free_retired();
  }

  void abort_capture() noexcept {
    if (!capturing_) return;
    capturing_ = false;
    cudaGraph_t g = nullptr;
    (void)cudaStreamEndCapture(stream_, &g);
    if (g) (void)cudaGraphDestroy(g);
    (void)cudaGetLastError();
  }

  // What cudaGraphExecUpdate cannot change: the node types in order and the edge count. A prompt
  // step and a decode step differ there (cuBLAS against mat-vec, copy_rows or not), so each shape
  // keeps an executable graph of its own, and an update is only tried where it can succeed (a
  // failed update is an API error that compute-sanitizer reports).
  static std::string topology(cudaGraph_t g) {
    size_t n = 0, edges = 0;
    check(cudaGraphGetNodes(g, nullptr, &n), "cudaGraphGetNodes");
    std::vector<cudaGraphNode_t> nodes(n);
    check(cudaGraphGetNodes(g, nodes.data(), &n), "cudaGraphGetNodes");
    check(cudaGraphGetEdges(g, nullptr, nullptr, nullptr, &edges), "cudaGraphGetEdges");
    std::string sig = std::to_string(edges) + ":";
    for (cudaGraphNode_t node : nodes) {
      cudaGraphNodeType t{};
      check(cudaGraphNodeGetType(node, &t), "cudaGraphNodeGetType");
      sig.push_back(static_cast<char>('A' + static_cast<int>(t)));
    }
    return sig;
  }

  void drop_graphs() noexcept {
    for (auto& [sig, exec] : execs_) (void)cudaGraphExecDestroy(exec);
    execs_.clear();
  }

  void finish_capture() {
    if (!capturing_) return;
    capturing_ = false;
    cudaGraph_t g = nullptr;
    check(cudaStreamEndCapture(stream_, &g), "cudaStreamEndCapture");
    cudaGraphExec_t exec = nullptr;
    try {
      const std::string sig = topology(g);
      const auto it = execs_.find(sig);
      if (it != execs_.end()) {
        cudaGraphExecUpdateResultInfo info{};
        if (cudaGraphExecUpdate(it->second, g, &info) == cudaSuccess) {
          exec = it->second;
        } else {  // same topology, yet refused: a fresh instantiation always works
          (void)cudaGetLastError();
          (void)cudaGraphExecDestroy(it->second);
          execs_.erase(it);
        }
      }
      if (!exec) {
        if (execs_.size() >= kMaxGraphs) drop_graphs();  // many prompt shapes: start over
        check(cudaGraphInstantiate(&exec, g, 0), "cudaGraphInstantiate");
        execs_[sig] = exec;
      }
    } catch (...) {
      (void)cudaGraphDestroy(g);
      throw;
    }
    (void)cudaGraphDestroy(g);
    check(cudaGraphLaunch(exec, stream_), "cudaGraphLaunch");
  }

  std::shared_ptr<cuda::MemoryBudget> budget_;
  cuda::Scratch scratch_;
  cuda::Uploads uploads_;
  bool graphs_ = false, capturing_ = false;
  std::string device_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  void* workspace_ = nullptr;
  std::unordered_map<std::string, cudaGraphExec_t> execs_;  // by topology()
  std::unordered_map<const void*, Uploaded> weights_;
  std::vector<int64_t> slots_;
  std::vector<int32_t> tables_;
};

void CudaBackend::matmul(const Weight& w, Tensor x, Tensor out, const Weight* bias) {
  if (x.cols != w.cols || out.rows != x.rows || out.cols < w.rows)
    fail(ErrorKind::Internal, "matmul " + w.name + ": shapes do not match");
  const cuda::DevWeight dw = dev(w);
  const float* b = nullptr;
  if (bias) {
    if (bias->type != GgmlType::F32 || bias->cols * bias->rows < w.rows)
      fail(ErrorKind::Unsupported, "matmul: bias " + bias->name + " is not F32 of the output size");
    b = static_cast<const float*>(dev(*bias).data);
  }
  const bool quantized = w.type != GgmlType::F32 && w.type != GgmlType::F16 && w.type != GgmlType::BF16;
  if (quantized && (reinterpret_cast<uintptr_t>(x.data) % 16 != 0 || x.cols % 32 != 0))
    fail(ErrorKind::Internal, "matmul: activations not 16-byte aligned");
  if (x.rows <= kMatvecMaxTokens) {
    check(cuda::matvec(dw, x.data, x.cols, x.rows, out.data, out.cols, b, stream_), "matvec kernel");
    return;
  }
  if (w.rows > INT32_MAX || w.cols > INT32_MAX || x.rows > INT32_MAX || out.cols > INT32_MAX)
    fail(ErrorKind::Unsupported, "matmul: matrix too large for cuBLAS");
  const int m = static_cast<int>(w.rows), n = static_cast<int>(x.rows), k = static_cast<int>(w.cols);
  const int ldc = static_cast<int>(out.cols);
  const float one = 1.0f, zero = 0.0f;
  if (w.type == GgmlType::F32) {
    check_blas(cublas().sgemm(blas_, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, static_cast<const float*>(dw.data), k,
                              x.data, k, &zero, out.data, ldc),
               "cublasSgemm");
  } else {
    // Activations in the weights' 16-bit type (quantized weights become f16 tiles).
    const bool bf16 = w.type == GgmlType::BF16;
    const cudaDataType_t type = bf16 ? CUDA_R_16BF : CUDA_R_16F;
    const size_t mark = scratch_.mark();
    void* xh = scratch_.take(static_cast<size_t>(x.rows * x.cols) * 2);
    check(cuda::f32_to_half(x.data, xh, x.rows * x.cols, bf16, stream_), "f32_to_half kernel");
    if (!quantized) {
      check_blas(cublas().gemm_ex(blas_, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, dw.data, type, k, xh, type, k, &zero,
                                  out.data, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 "cublasGemmEx");
    } else {
      const int64_t tile_rows =
          std::min(w.rows, std::max<int64_t>(64, static_cast<int64_t>(kTileBytes / (static_cast<size_t>(k) * 2))));
      void* tile = scratch_.take(static_cast<size_t>(tile_rows) * static_cast<size_t>(k) * 2);
      for (int64_t r0 = 0; r0 < w.rows; r0 += tile_rows) {
        const int64_t rows = std::min(tile_rows, w.rows - r0);
        check(cuda::dequantize_rows_f16(dw, r0, rows, tile, false, stream_), "dequantize_rows_f16 kernel");
        check_blas(cublas().gemm_ex(blas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows), n, k, &one, tile,
                                    CUDA_R_16F, k, xh, CUDA_R_16F, k, &zero, out.data + r0, CUDA_R_32F, ldc,
                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                   "cublasGemmEx (dequantized tile)");
      }
    }
    scratch_.release(mark);
  }
  if (b) check(cuda::add_bias(out.data, out.cols, x.rows, w.rows, b, stream_), "add_bias kernel");
}

void CudaBackend::attention(KvCache& kv_base, int32_t layer, Tensor q, const Batch& batch, int32_t n_head,
                            int32_t n_head_kv, int32_t head_dim, Tensor out) {
  CudaKvCache& kv = cache(kv_base, layer);
  const int32_t n = static_cast<int32_t>(batch.size());
  if (head_dim <= 0 || head_dim > cuda::kMaxHeadDim)
    fail(ErrorKind::Unsupported, "attention: head size " + std::to_string(head_dim) + " is over the CUDA kernel's " +
                                     std::to_string(cuda::kMaxHeadDim));
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
  size_t max_blocks = 1;
  for (const BatchSequence& s : batch.sequences) max_blocks = std::max(max_blocks, s.block_table.size());
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
  cuda::AttentionArgs a;
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
  // context still spreads over the whole chip.
  a.chunk = int64_t{n} * n_head >= 256 ? 256 : 64;
  a.n_split = max_pos / a.chunk + 1;
  a.partial = floats(static_cast<size_t>(n) * n_head * a.n_split * (head_dim + 2));
  a.out = out.data;
  a.ldo = out.cols;
  check(cuda::attention(a, stream_), "attention kernels");
}

}  // namespace

bool cuda_built() { return true; }

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

std::unique_ptr<Backend> make_cuda_backend(const DeviceOptions& opt) {
  if (cuda_device_count() == 0)
    fail(ErrorKind::Unsupported, "--device cuda: no CUDA device is visible (driver missing or no GPU)");
  return std::make_unique<CudaBackend>(opt);
}

}  // namespace hayate
