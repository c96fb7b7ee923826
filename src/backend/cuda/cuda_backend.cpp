// The CUDA backend's lifetime, memory, graphs and cheap operations (see cuda_backend.h; the
// matrix products, attention and top logits are in cuda_matmul.cpp).
#include "backend/cuda/cuda_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/profile.h"

namespace hayate {
namespace cuda {

constexpr size_t kBlasWorkspace = size_t{32} << 20;
// Steps of more tokens (prompts) run their recorded launches without a graph: their shapes
// rarely repeat, and their launches are few beside their work.
constexpr size_t kGraphMaxTokens = 64;

CudaKvCache::CudaKvCache(std::shared_ptr<MemoryBudget> budget, const HParams& hp, int32_t blocks, int32_t bs)
    : budget_(std::move(budget)) {
  n_layer = hp.n_layer;
  n_blocks = blocks;
  block_size = bs;
  kv_dim = hp.kv_dim();
  layer_floats_ = static_cast<size_t>(n_blocks) * block_size * kv_dim;
  bytes = 2 * layer_floats_ * n_layer * sizeof(float);
  data_ = static_cast<float*>(device_alloc(*budget_, bytes, "the KV cache"));
  check(cudaMemset(data_, 0, bytes), "cudaMemset (KV cache)");
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (KV cache)");
}

CudaKvCache::~CudaKvCache() { device_free(*budget_, data_, bytes); }

OpTimes::~OpTimes() {
  for (cudaEvent_t e : events_) (void)cudaEventDestroy(e);
}

void OpTimes::begin(cudaStream_t s) {
  while (events_.size() < 2 * n_ + 2) {
    cudaEvent_t e = nullptr;
    check(cudaEventCreate(&e), "cudaEventCreate (profile)");
    events_.push_back(e);
  }
  check(cudaEventRecord(events_[2 * n_], s), "cudaEventRecord (profile)");
}

void OpTimes::end(const char* name, cudaStream_t s) {
  check(cudaEventRecord(events_[2 * n_ + 1], s), "cudaEventRecord (profile)");
  if (names_.size() <= n_) names_.resize(n_ + 1);
  names_[n_++] = name;
}

void OpTimes::collect() {
  for (size_t i = 0; i < n_; ++i) {
    float ms = 0;
    if (cudaEventElapsedTime(&ms, events_[2 * i], events_[2 * i + 1]) == cudaSuccess)
      profile::add(names_[i], ms / 1e3);
    else
      (void)cudaGetLastError();
  }
  n_ = 0;
}

// HAYATE_CUDA_DISABLE: a comma-separated list naming features to leave off.
static bool disabled(const char* feature) { return feature_listed(std::getenv("HAYATE_CUDA_DISABLE"), feature); }

CudaBackend::CudaBackend(const DeviceOptions& opt)
    : budget_(std::make_shared<MemoryBudget>()), scratch_(*budget_), uploads_(*budget_), graphs_(opt.cuda_graphs) {
  if (!(opt.gpu_memory_fraction > 0.0 && opt.gpu_memory_fraction <= 1.0))
    fail(ErrorKind::BadInput, "--gpu-memory-fraction must be in (0, 1]");
  times_.on = profile::enabled();
  // HAYATE_CUDA_GRAPHS=1|0 overrides the options: runs a whole test program under graphs.
  if (const char* v = std::getenv("HAYATE_CUDA_GRAPHS"); v && *v) graphs_ = std::strcmp(v, "0") != 0;
  top_logits_on_ = !disabled("top_logits");
  matvec_q4k_on_ = !disabled("matvec_q4k");
  prefill_on_ = !disabled("prefill");
  if (disabled("short_chunks")) decode_chunk_ = 64;
  fuse_parts_ = !disabled("fuse_qkv");
  fuse_norm_ = !disabled("fuse_norm");
  fuse_rope_ = !disabled("fuse_rope");
  fuse_combine_ = !disabled("fuse_combine");
  // The fused gate/up/SwiGLU mat-vec: off until a GPU run has checked it (docs/cuda.md, stage 3);
  // HAYATE_CUDA_SWIGLU_FUSED=1 turns it on.
  const char* fused = std::getenv("HAYATE_CUDA_SWIGLU_FUSED");
  swiglu_fused_on_ = fused && std::strcmp(fused, "1") == 0 && !disabled("swiglu_fused");
  // The coalesced Q4_K/Q6_K/Q8_0 mat-vec (matvec_fast.cu): on by default since an H100 run passed
  // backend_cuda_kernels_test and the greedy check with it, memcheck clean (docs/cuda.md, stage 2);
  // HAYATE_CUDA_MATVEC_FAST=0 or HAYATE_CUDA_DISABLE=matvec_fast turns it off.
  constexpr bool kMatvecFastDefault = true;
  matvec_fast_on_ = kMatvecFastDefault;
  if (const char* v = std::getenv("HAYATE_CUDA_MATVEC_FAST"); v && *v) matvec_fast_on_ = std::strcmp(v, "1") == 0;
  if (disabled("matvec_fast")) matvec_fast_on_ = false;
  // The mat-vec's activations as integer codes (docs/cuda.md, stages 8 and 9): 16-bit by default
  // (dp2a; logits within 1e-4-ish of the f32 path), 8-bit as an option (dp4a; an H100 timed its
  // tg128 at 1.10x the f32 path's, but on the random-weight test models it moved the logits by
  // 2.0-2.2e-2 of their largest, as far as the CPU backend's 8-bit activations move them, where
  // the CUDA forward tests ask 1e-2), f32 with 0.
  if (const char* v = std::getenv("HAYATE_CUDA_MATVEC_INT8"); v && *v)
    matvec_act_ = std::strcmp(v, "0") == 0    ? MatvecAct::F32
                  : std::strcmp(v, "16") == 0 ? MatvecAct::Int16
                  : std::strcmp(v, "all") == 0 ? MatvecAct::Int8All
                                              : MatvecAct::Int8KQuants;
  if (disabled("batched"))
    batched_max_tokens_ = 0;
  else if (const char* v = std::getenv("HAYATE_CUDA_BATCHED_MAX_TOKENS"); v && *v)
    batched_max_tokens_ = std::max(0L, std::strtol(v, nullptr, 10));
  if (const char* v = std::getenv("HAYATE_CUDA_BATCHED_BM"); v && std::strcmp(v, "64") == 0) batched_block_rows_ = 64;
  if (const char* v = std::getenv("HAYATE_CUDA_BATCHED_PREFETCH"); v && *v)
    batched_prefetch_ = std::strcmp(v, "1") == 0;
  if (const char* v = std::getenv("HAYATE_CUDA_MMA_MAX_TOKENS"); v && *v)
    mma_max_tokens_ = std::max(0L, std::strtol(v, nullptr, 10));
  if (disabled("mma") || disabled("batched")) mma_max_tokens_ = 0;
  if (const char* v = std::getenv("HAYATE_CUDA_MMA_BLOCKS"); v && *v) mma_blocks_per_sm_ = std::atoi(v);
  if (const char* v = std::getenv("HAYATE_CUDA_MMA_EXACT"); v && *v) mma_exact_ = std::strcmp(v, "0") != 0;
  // A constructor that throws runs no destructor: release what was made so far.
  try {
    init(opt);
  } catch (...) {
    release();
    throw;
  }
}

void CudaBackend::init(const DeviceOptions& opt) {
  device_index_ = opt.device_index;
  check(cudaSetDevice(device_index_), "cudaSetDevice");
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, device_index_), "cudaGetDeviceProperties");
  device_ = prop.name;
  size_t free_bytes = 0, total = 0;
  check(cudaMemGetInfo(&free_bytes, &total), "cudaMemGetInfo");
  budget_->limit = static_cast<uint64_t>(static_cast<double>(free_bytes) * opt.gpu_memory_fraction);
  check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  check_blas(cublas().create(&blas_), "cublasCreate");
  check_blas(cublas().set_stream(blas_, stream_), "cublasSetStream");
  workspace_ = device_alloc(*budget_, kBlasWorkspace, "the cuBLAS workspace");
  // A workspace of our own keeps cuBLAS from allocating inside a captured graph.
  check_blas(cublas().set_workspace(blas_, workspace_, kBlasWorkspace), "cublasSetWorkspace");
}

void CudaBackend::release() noexcept {
  steps_.abort();
  steps_.clear();
  if (stream_) (void)cudaStreamSynchronize(stream_);
  for (auto& [host, w] : weights_) device_free(*budget_, w.dev, w.bytes);
  weights_.clear();
  for (RopeTable& t : rope_tables_) device_free(*budget_, t.dev, t.factors.size() * sizeof(float) + 4);
  rope_tables_.clear();
  for (const Counters& c : counters_) device_free(*budget_, c.dev, c.n * sizeof(int));
  counters_.clear();
  if (top_host_) (void)cudaFreeHost(top_host_);
  top_host_ = nullptr;
  if (workspace_) device_free(*budget_, workspace_, kBlasWorkspace);
  workspace_ = nullptr;
  if (blas_) (void)cublas().destroy(blas_);
  blas_ = nullptr;
  if (stream_) (void)cudaStreamDestroy(stream_);
  stream_ = nullptr;
}

void CudaBackend::prepare(const Model& m) {
  check(cudaSetDevice(device_index_), "cudaSetDevice");
  // Stacked expert tensors whole first: for_each_weight then walks their experts' views, which
  // resolve into these uploads (no per-expert copies).
  if (m.hp.n_expert > 0) {
    const std::vector<WeightSpec> specs = layer_weights(m.hp);
    for (const LayerWeights& l : m.layers)
      for (const WeightSpec& spec : specs)
        if (spec.experts > 0) prepare_weight(l.*spec.member);
  }
  for_each_weight(m, [this](const Weight& w, WeightKind) { prepare_weight(w); });
}

const std::pair<const uint8_t* const, CudaBackend::Uploaded>* CudaBackend::upload_holding(const void* p,
                                                                                          size_t bytes) const {
  const auto* host = static_cast<const uint8_t*>(p);
  auto it = weights_.upper_bound(host);  // the first upload starting after p
  if (it == weights_.begin()) return nullptr;
  --it;
  if (static_cast<size_t>(host - it->first) + bytes > it->second.bytes) return nullptr;
  return &*it;
}

void CudaBackend::prepare_weight(const Weight& w) {
  check(cudaSetDevice(device_index_), "cudaSetDevice");
  const size_t bytes = w ? w.row_bytes() * static_cast<size_t>(w.rows) : 0;
  if (!w || upload_holding(w.data, bytes)) return;
  if (!type_supported(static_cast<uint32_t>(w.type)))
    fail(ErrorKind::Unsupported, "tensor " + w.name + " has type " + ggml_type_name(w.type) +
                                     ", which the CUDA backend does not support (supported: " + type_names() + ")");
  const auto* host = static_cast<const uint8_t*>(w.data);
  // A weight starting where a smaller one was uploaded (a view of its first rows, prepared
  // before the whole) replaces it: nothing has run on the device yet.
  if (const auto it = weights_.find(host); it != weights_.end()) {
    device_free(*budget_, it->second.dev, it->second.bytes);
    weights_.erase(it);
  }
  void* dev = device_alloc(*budget_, bytes, "weight " + w.name);
  weights_[host] = Uploaded{dev, bytes};
  check(cudaMemcpy(dev, w.data, bytes, cudaMemcpyHostToDevice), "cudaMemcpy (weight upload)");
  // The copy ran on the legacy stream, which does not order against ours: wait for it.
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (weight upload)");
}

std::unique_ptr<KvCache> CudaBackend::make_kv_cache(const HParams& hp, int32_t n_blocks, int32_t block_size) {
  check(cudaSetDevice(device_index_), "cudaSetDevice");
  if (n_blocks <= 0 || block_size <= 0) fail(ErrorKind::BadInput, "KV cache: blocks and block size must be > 0");
  auto cache = std::make_unique<CudaKvCache>(budget_, hp, n_blocks, block_size);
  cache->backend = name();
  cache->sliding_window = hp.sliding_window;  // attention() honours it
  cache->window_layers = hp.swa_layers;
  return cache;
}

Tensor CudaBackend::alloc(int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0) fail(ErrorKind::Internal, "alloc: negative shape");
  return Tensor{floats(static_cast<size_t>(rows * cols)), rows, cols};
}

void CudaBackend::make_current() { check(cudaSetDevice(device_index_), "cudaSetDevice"); }

void CudaBackend::reset_scratch() {
  make_current();  // a tensor-parallel rank's thread
  // A step that wanted no outputs never read them: its recorded work still has to run.
  flush();
  sync();
  scratch_.reset();
  uploads_.reset();
  if (graphs_) steps_.begin();
}

void CudaBackend::flush() {
  try {
    steps_.end(stream_);
  } catch (...) {
    steps_.abort();
    throw;
  }
}

const void* CudaBackend::upload(const void* src, size_t bytes) {
  const Uploads::Staged st = uploads_.put(src, bytes);
  if (st.fresh && bytes > 0) {
    void* dev = st.dev;
    const void* host = st.host;
    launch(
        [=, this] {
          check(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync (upload)");
        },
        "upload", dev, host, bytes);
  }
  return st.dev;
}

void CudaBackend::to_host(Tensor x, float* dst) {
  flush();
  const size_t bytes = static_cast<size_t>(x.rows * x.cols) * sizeof(float);
  {
    Timed t(*this, "gpu copy to host");
    if (bytes > 0)
      check(cudaMemcpyAsync(dst, x.data, bytes, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync (to_host)");
  }
  profile::Timer wait("host waits for the GPU (to_host)");
  sync();
}

void CudaBackend::from_host(const float* src, Tensor x) {
  const size_t bytes = static_cast<size_t>(x.rows * x.cols) * sizeof(float);
  if (bytes == 0) return;
  const void* host = uploads_.stage_copy(src, bytes);
  float* dst = x.data;
  launch(
      [=, this] {
        check(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync (from_host)");
      },
      "from_host", dst, host, bytes);
}

void CudaBackend::get_rows(const Weight& table, std::span<const int32_t> ids, Tensor out) {
  if (out.rows < static_cast<int64_t>(ids.size()) || out.cols < table.cols)
    fail(ErrorKind::Internal, "get_rows: output too small");
  for (int32_t id : ids)
    if (id < 0 || id >= table.rows)
      fail(ErrorKind::BadInput,
           "row id " + std::to_string(id) + " is outside " + table.name + " (" + std::to_string(table.rows) + " rows)");
  if (ids.size() > kGraphMaxTokens) steps_.set_eager();
  const auto* dev_ids = static_cast<const int32_t*>(upload(ids.data(), ids.size_bytes()));
  const DevWeight d = dev(table);
  const auto n = static_cast<int64_t>(ids.size());
  float* o = out.data;
  const int64_t ldo = out.cols;
  Timed t(*this, "gpu get_rows");
  launch([=, this] { check(cuda::get_rows(d, dev_ids, n, o, ldo, stream_), "get_rows kernel"); }, "get_rows", d.data,
         d.type, d.cols, dev_ids, n, o, ldo);
}

void CudaBackend::copy_rows(Tensor x, std::span<const int32_t> rows, Tensor out) {
  if (out.rows < static_cast<int64_t>(rows.size()) || out.cols < x.cols)
    fail(ErrorKind::Internal, "copy_rows: output too small");
  for (int32_t r : rows)
    if (r < 0 || r >= x.rows) fail(ErrorKind::Internal, "copy_rows: row " + std::to_string(r) + " out of range");
  const auto* dev_rows = static_cast<const int32_t*>(upload(rows.data(), rows.size_bytes()));
  const auto n = static_cast<int64_t>(rows.size());
  Timed t(*this, "gpu copy_rows");
  launch(
      [=, this] {
        check(cuda::copy_rows(x.data, x.cols, dev_rows, n, x.cols, out.data, out.cols, stream_), "copy_rows kernel");
      },
      "copy_rows", x.data, x.cols, dev_rows, n, out.data, out.cols);
}

void CudaBackend::rms_norm(Tensor x, const Weight& w, float eps, Tensor out) {
  if (w.type != GgmlType::F32) fail(ErrorKind::Unsupported, "rms_norm: " + w.name + " is not F32");
  if (w.cols <= 0 || x.cols % w.cols != 0 || out.rows != x.rows || out.cols != x.cols)
    fail(ErrorKind::Internal, "rms_norm: shapes do not match");
  const auto* weight = static_cast<const float*>(dev(w).data);
  const int64_t groups = x.rows * (x.cols / w.cols), group = w.cols;
  Timed t(*this, "gpu rms_norm");
  launch([=, this] { check(cuda::rms_norm(x.data, weight, groups, group, eps, out.data, stream_), "rms_norm kernel"); },
         "rms_norm", x.data, weight, groups, group, eps, out.data);
}

const float* CudaBackend::rope_frequencies(const RopeParams& p) {
  const size_t n = static_cast<size_t>(p.n_rot / 2);
  for (const RopeTable& t : rope_tables_)
    if (t.p.type == p.type && t.p.n_rot == p.n_rot && t.p.theta == p.theta && t.p.freq_scale == p.freq_scale &&
        (t.p.freq_factors != nullptr) == (p.freq_factors != nullptr) &&
        (!p.freq_factors || std::memcmp(t.factors.data(), p.freq_factors, n * sizeof(float)) == 0))
      return t.dev;
  // The same frequencies as the host backends, computed the same way (double pow).
  std::vector<float> inv_freq(n);
  for (size_t i = 0; i < n; ++i) {
    double f = std::pow(static_cast<double>(p.theta), -2.0 * static_cast<double>(i) / p.n_rot) * p.freq_scale;
    if (p.freq_factors) f /= p.freq_factors[i];
    inv_freq[i] = static_cast<float>(f);
  }
  RopeTable t;
  t.p = p;
  if (p.freq_factors)
    t.factors.assign(p.freq_factors, p.freq_factors + n);
  else
    t.factors.resize(n);  // the size counts the device bytes either way
  t.dev = static_cast<float*>(device_alloc(*budget_, n * sizeof(float) + 4, "rope frequencies"));
  // Synchronous: a table outlives the step (and any graph) that first asked for it.
  check(cudaMemcpy(t.dev, inv_freq.data(), n * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy (rope table)");
  rope_tables_.push_back(std::move(t));
  return rope_tables_.back().dev;
}

void CudaBackend::check_rope(Tensor x, int32_t n_heads, std::span<const int32_t> positions, const RopeParams& p) const {
  if (static_cast<int64_t>(positions.size()) < x.rows || p.n_rot <= 0 || p.n_rot % 2 != 0 || p.n_rot > p.head_dim ||
      static_cast<int64_t>(n_heads) * p.head_dim > x.cols)
    fail(ErrorKind::Internal, "rope: shapes do not match");
}

void CudaBackend::rope(Tensor x, int32_t n_heads, std::span<const int32_t> positions, const RopeParams& p) {
  check_rope(x, n_heads, positions, p);
  const float* dev_freq = rope_frequencies(p);
  const auto* dev_pos = static_cast<const int32_t*>(upload(positions.data(), positions.size_bytes()));
  const int32_t head_dim = p.head_dim, n_rot = p.n_rot;
  const bool neox = p.type == RopeType::Neox;
  const float factor = p.attn_factor;
  Timed t(*this, "gpu rope");
  launch(
      [=, this] {
        check(cuda::rope(x.data, x.rows, x.cols, n_heads, head_dim, n_rot, neox, dev_pos, dev_freq, factor, stream_),
              "rope kernel");
      },
      "rope", x.data, x.rows, x.cols, n_heads, head_dim, n_rot, neox, dev_pos, dev_freq, factor);
}

int* CudaBackend::attention_counters(size_t n) {
  if (!counters_.empty() && counters_.back().n >= n) return counters_.back().dev;
  const size_t count = std::max<size_t>(n, 4096);
  auto* dev = static_cast<int*>(device_alloc(*budget_, count * sizeof(int), "attention counters"));
  counters_.push_back(Counters{dev, count});
  // Synchronous: the kernels count on zeros from their first launch on.
  check(cudaMemset(dev, 0, count * sizeof(int)), "cudaMemset (attention counters)");
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (attention counters)");
  return dev;
}

const int64_t* CudaBackend::kv_slots(const CudaKvCache& kv, const Batch& batch) {
  slots_.resize(batch.size());
  for (size_t t = 0; t < batch.size(); ++t) {
    const auto& table = batch.sequences.at(static_cast<size_t>(batch.seq[t])).block_table;
    const int32_t pos = batch.positions[t];
    const size_t b = static_cast<size_t>(pos / kv.block_size);
    if (pos < 0 || b >= table.size() || table[b] < 0 || table[b] >= kv.n_blocks)
      fail(ErrorKind::Internal, "store_kv: position " + std::to_string(pos) + " has no KV block");
    slots_[t] = static_cast<int64_t>(table[b]) * kv.block_size + pos % kv.block_size;
  }
  return static_cast<const int64_t*>(upload(slots_.data(), slots_.size() * sizeof(int64_t)));
}

void CudaBackend::store_kv(KvCache& kv_base, int32_t layer, Tensor k, Tensor v, const Batch& batch) {
  CudaKvCache& kv = cache(kv_base, layer);
  if (k.cols < kv.kv_dim || v.cols < kv.kv_dim || k.rows < static_cast<int64_t>(batch.size()))
    fail(ErrorKind::Internal, "store_kv: shapes do not match");
  const int64_t* dev_slots = kv_slots(kv, batch);
  const auto n = static_cast<int64_t>(batch.size());
  const int32_t kv_dim = kv.kv_dim;
  float *kc = kv.k(layer), *vc = kv.v(layer);
  Timed t(*this, "gpu store_kv");
  launch(
      [=, this] {
        check(cuda::store_kv(k.data, k.cols, v.data, v.cols, dev_slots, n, kv_dim, kc, vc, stream_), "store_kv kernel");
      },
      "store_kv", k.data, k.cols, v.data, v.cols, dev_slots, n, kv_dim, kc, vc);
}

void CudaBackend::rope_store_kv(Tensor q, Tensor k, Tensor v, int32_t n_head, int32_t n_head_kv, const RopeParams& p,
                                KvCache& kv_base, int32_t layer, const Batch& batch) {
  CudaKvCache& kv = cache(kv_base, layer);
  const auto n = static_cast<int64_t>(batch.size());
  // The one launch writes k's heads into the cache row by row: the cache's rows must be exactly
  // the KV heads (else the separate calls, which copy kv_dim floats of k as they are).
  if (!fuse_rope_ || q.rows != n || k.rows != n || v.rows != n || n_head <= 0 || n_head_kv <= 0 ||
      int64_t{n_head_kv} * p.head_dim != kv.kv_dim || v.cols < kv.kv_dim) {
    Backend::rope_store_kv(q, k, v, n_head, n_head_kv, p, kv_base, layer, batch);
    return;
  }
  check_rope(q, n_head, batch.positions, p);
  check_rope(k, n_head_kv, batch.positions, p);
  RopeStoreArgs a;
  a.q = q.data;
  a.ldq = q.cols;
  a.k = k.data;
  a.ldk = k.cols;
  a.v = v.data;
  a.ldv = v.cols;
  a.n_tokens = n;
  a.n_head = n_head;
  a.n_head_kv = n_head_kv;
  a.head_dim = p.head_dim;
  a.n_rot = p.n_rot;
  a.neox = p.type == RopeType::Neox;
  a.inv_freq = rope_frequencies(p);
  a.attn_factor = p.attn_factor;
  a.positions = static_cast<const int32_t*>(upload(batch.positions.data(), batch.positions.size() * sizeof(int32_t)));
  a.slots = kv_slots(kv, batch);
  a.k_cache = kv.k(layer);
  a.v_cache = kv.v(layer);
  ++fused_.rope;
  Timed t(*this, "gpu rope + store_kv");
  launch([=, this] { check(cuda::rope_store_kv(a, stream_), "rope_store_kv kernel"); }, "rope_store_kv", a.q, a.ldq,
         a.k, a.ldk, a.v, a.ldv, a.n_tokens, a.n_head, a.n_head_kv, a.head_dim, a.n_rot, a.neox, a.inv_freq,
         a.attn_factor, a.positions, a.slots, a.k_cache, a.v_cache);
}

void CudaBackend::add_rms_norm(Tensor x, Tensor y, const Weight& w, float eps, Tensor out) {
  const int64_t n = x.rows * x.cols;
  // One block per group adds the group's elements and normalises them; an output that overlaps y
  // (read by other blocks) would need the two launches.
  const bool apart = out.data + out.rows * out.cols <= y.data || y.data + n <= out.data;
  if (!fuse_norm_ || w.type != GgmlType::F32 || w.cols <= 0 || x.cols % w.cols != 0 || y.rows * y.cols != n ||
      out.rows != x.rows || out.cols != x.cols || !apart) {
    Backend::add_rms_norm(x, y, w, eps, out);
    return;
  }
  const auto* weight = static_cast<const float*>(dev(w).data);
  const int64_t groups = x.rows * (x.cols / w.cols), group = w.cols;
  ++fused_.norm;
  Timed t(*this, "gpu add + rms_norm");
  launch(
      [=, this] {
        check(cuda::add_rms_norm(x.data, y.data, weight, groups, group, eps, out.data, stream_), "add_rms_norm kernel");
      },
      "add_rms_norm", x.data, y.data, weight, groups, group, eps, out.data);
}

void CudaBackend::gated(GatedKernel kernel, Tensor gate, Tensor up, Tensor out, const char* name, const char* timer,
                        const char* what) {
  if (up.rows * up.cols != gate.rows * gate.cols || out.rows * out.cols != gate.rows * gate.cols)
    fail(ErrorKind::Internal, std::string(name) + ": shapes do not match");
  const int64_t n = gate.rows * gate.cols;
  Timed t(*this, timer);
  launch([=, this] { check(kernel(gate.data, up.data, out.data, n, stream_), what); }, name, gate.data, up.data,
         out.data, n);
}

void CudaBackend::swiglu(Tensor gate, Tensor up, Tensor out) {
  gated(cuda::swiglu, gate, up, out, "swiglu", "gpu swiglu", "swiglu kernel");
}

void CudaBackend::geglu(Tensor gate, Tensor up, Tensor out) {
  gated(cuda::geglu, gate, up, out, "geglu", "gpu geglu", "geglu kernel");
}

void CudaBackend::scale(Tensor x, float s) {
  const int64_t n = x.rows * x.cols;
  Timed t(*this, "gpu scale");
  launch([=, this] { check(cuda::scale(x.data, s, n, stream_), "scale kernel"); }, "scale", x.data, s, n);
}

void CudaBackend::add(Tensor x, Tensor y) {
  if (x.rows * x.cols != y.rows * y.cols) fail(ErrorKind::Internal, "add: shapes do not match");
  const int64_t n = x.rows * x.cols;
  Timed t(*this, "gpu add");
  launch([=, this] { check(cuda::add(x.data, y.data, n, stream_), "add kernel"); }, "add", x.data, y.data, n);
}

// The GGUF types the kernels read, by name: the core type table filtered by the CUDA list.
std::string CudaBackend::type_names() {
  std::string out;
  for (uint32_t raw = 0; raw < 256; ++raw) {
    const GgmlTypeInfo* t = ggml_type_info(raw);
    if (!t || !type_supported(raw)) continue;
    if (!out.empty()) out += ' ';
    out += t->name;
  }
  return out;
}

DevWeight CudaBackend::dev(const Weight& w) const {
  const size_t bytes = w.row_bytes() * static_cast<size_t>(w.rows);
  const auto* up = upload_holding(w.data, bytes);
  if (!up) {
    if (weights_.count(static_cast<const uint8_t*>(w.data)))
      fail(ErrorKind::Internal, "CUDA backend: weight " + w.name + " changed size after upload");
    fail(ErrorKind::Internal, "CUDA backend: weight " + w.name + " was not uploaded (prepare / prepare_weight)");
  }
  // A view (an expert of a stacked tensor) starts a whole number of rows into its upload, which
  // every kernel already meets inside a matrix; the kernels that load 16 bytes at a time check
  // the start's alignment themselves (or, matvec.cu's Q4_K kernel, need rows of 16-byte multiples).
  const auto offset = static_cast<size_t>(static_cast<const uint8_t*>(w.data) - up->first);
  const auto* data = static_cast<const uint8_t*>(up->second.dev) + offset;
  return DevWeight{data, static_cast<uint32_t>(w.type), w.rows, w.cols, static_cast<int64_t>(w.row_bytes())};
}

CudaKvCache& CudaBackend::cache(KvCache& kv, int32_t layer) const {
  CudaKvCache& c = cache_of<CudaKvCache>(kv, *this);
  if (layer < 0 || layer >= c.n_layer) fail(ErrorKind::Internal, "KV cache: layer out of range");
  return c;
}

void CudaBackend::sync() {
  check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  scratch_.free_retired();
  times_.collect();
}

}  // namespace cuda

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
  return std::make_unique<cuda::CudaBackend>(opt);
}

}  // namespace hayate
