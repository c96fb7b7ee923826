// The operations a forward pass is written in. A backend owns memory (activations, KV cache,
// prepared weights) and kernels; the architecture code in forward/forward.cpp only calls these.
// The reference backend (plain fp32, readable) is the oracle every other backend is tested against.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/batch.h"
#include "model/model.h"

namespace hayate {

// Activations: `rows` rows of `cols` floats, row-major, in the backend's memory.
struct Tensor {
  float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
};

struct RopeParams {
  RopeType type = RopeType::Norm;
  int32_t n_rot = 0;  // rotated dimensions of each head (from the start of the head)
  int32_t head_dim = 0;
  float theta = 10000.0f;
  float freq_scale = 1.0f;
  const float* freq_factors = nullptr;  // n_rot/2 divisors, or null
  float attn_factor = 1.0f;             // cos and sin are multiplied by it (LongRoPE)
};

// Paged KV storage: n_blocks blocks of block_size positions, for every layer.
class KvCache {
 public:
  virtual ~KvCache();
  int32_t n_layer = 0, n_blocks = 0, block_size = 0, kv_dim = 0;
  size_t bytes = 0;
  // The model's sliding window (HParams::sliding_window), set by a backend whose attention honours
  // it; the forward pass refuses a cache whose window is not the model's.
  int32_t sliding_window = 0;
  // Per layer of this cache: whether the window applies (HParams::swa_layers); empty: every layer.
  std::vector<bool> window_layers;
  // The first position a token at `pos` attends to in `layer`.
  int32_t first_attended(int32_t layer, int32_t pos) const {
    const bool windowed = sliding_window > 0 && (window_layers.empty() || window_layers[static_cast<size_t>(layer)]);
    return windowed ? std::max(0, pos - sliding_window + 1) : 0;
  }
  std::string backend;  // the name of the backend that made it, for messages
};

// A mixture-of-experts feed-forward (HParams::n_expert > 0) as one backend operation: the
// router, n_expert SwiGLU experts stacked in three weights (model.h: expert_matrix) and how
// tokens are routed.
struct MoeFfn {
  const Weight* router = nullptr;  // n_expert rows of n_embd
  const Weight* gate = nullptr;    // stacked: n_expert * n_ff_exp rows of n_embd
  const Weight* up = nullptr;
  const Weight* down = nullptr;  // stacked: n_expert * n_embd rows of n_ff_exp
  int32_t n_expert = 0;
  int32_t n_used = 0;        // experts per token (top-k)
  bool norm_weights = true;  // renormalise the top-k probabilities to sum 1
};

// The k most likely tokens of one row of logits, most likely first (equal logits: the lower id
// first), and the row's log-sum-exp: what sampling needs of a row when neither a constraint nor
// a penalty changes it, computed where the logits are so that the row stays there.
struct TopLogits {
  std::vector<int32_t> ids;  // at most k; -inf logits are never listed
  std::vector<float> logits;
  double log_norm = 0;   // log(sum(exp(logit))) over the whole row
  int32_t n_finite = 0;  // logits of the row that are not -inf
  bool ok = true;        // false: the row holds NaN or +inf, or only -inf (the host path says which)
};

// The destructor is Backend's key function (backend.cpp): its vtable and typeinfo live in the
// backend library, which everything that runs a Backend links (forward/ sits above it).
class Backend {
 public:
  virtual ~Backend();
  virtual std::string name() const = 0;
  // Whether the backend runs this part of some architectures' computation (model/model.h); a
  // backend that does not is refused such a model at load (check_runs).
  virtual bool implements(ArchFeature) const { return false; }

  // Called once after load (upload, repack). The model must outlive the backend's use of it.
  virtual void prepare(const Model& model) {}
  virtual std::unique_ptr<KvCache> make_kv_cache(const HParams& hp, int32_t n_blocks, int32_t block_size) = 0;

  // Scratch activations live until reset_scratch(), called at the start of each forward.
  virtual Tensor alloc(int64_t rows, int64_t cols) = 0;
  virtual void reset_scratch() = 0;
  // Scratch allocated after mark() is reused once release(mark) is called, so a layer's
  // temporaries are not kept for the whole forward pass.
  virtual size_t scratch_mark() const = 0;
  virtual void scratch_release(size_t mark) = 0;
  virtual void to_host(Tensor x, float* dst) = 0;
  // Copies rows*cols host floats into x (tests and callers that build inputs by hand).
  virtual void from_host(const float* src, Tensor x) {
    std::memcpy(x.data, src, static_cast<size_t>(x.rows * x.cols) * sizeof(float));
  }
  // Makes one weight usable by matmul/get_rows/rms_norm without a whole Model (prepare() does
  // this for every weight of a model). Host backends read weights in place and need nothing.
  virtual void prepare_weight(const Weight& w) {}
  // Most device memory the backend has held at once (weights, KV caches, scratch); 0 for host backends.
  virtual uint64_t device_memory_bytes() const { return 0; }
  // Device memory the backend may still allocate (its budget less what it holds): what
  // --gpu-layers is chosen from. Host backends have no budget.
  virtual uint64_t device_memory_left() const { return UINT64_MAX; }
  // What executes the operations, e.g. the GPU's name; empty for host backends.
  virtual std::string device_name() const { return {}; }
  // Makes the backend's device the calling thread's current one, before a run of operations
  // when several devices take turns in one thread (a pipeline over GPUs, forward/split.h).
  virtual void make_current() {}
  // Starts the work recorded so far (a CUDA backend's step graph) without waiting for it: a
  // tensor-parallel rank whose collectives its peers wait on calls it at the end of its step.
  virtual void submit() {}

  virtual void get_rows(const Weight& table, std::span<const int32_t> ids, Tensor out) = 0;
  virtual void copy_rows(Tensor x, std::span<const int32_t> rows, Tensor out) = 0;
  // RMSNorm of each group of w.cols values (a row, or each head when x.cols is a multiple).
  virtual void rms_norm(Tensor x, const Weight& w, float eps, Tensor out) = 0;
  // out[t][o] = sum_i w[o][i] * x[t][i] (+ bias[o] when bias is given)
  virtual void matmul(const Weight& w, Tensor x, Tensor out, const Weight* bias = nullptr) = 0;
  // outs[i] = ws[i] x (+ *biases[i] where given; biases empty or one entry a weight): several
  // products of the same input (Q, K and V; gate and up). By default one matmul each; a device
  // backend may run them in one launch, with each output the bits the separate matmul gives.
  virtual void matmul_parts(std::span<const Weight* const> ws, Tensor x, std::span<const Tensor> outs,
                            std::span<const Weight* const> biases = {});
  virtual void rope(Tensor x, int32_t n_heads, std::span<const int32_t> positions, const RopeParams& p) = 0;
  virtual void store_kv(KvCache& kv, int32_t layer, Tensor k, Tensor v, const Batch& batch) = 0;
  // Causal attention of each token over its own sequence's positions [kv.first_attended(position), position].
  virtual void attention(KvCache& kv, int32_t layer, Tensor q, const Batch& batch, int32_t n_head, int32_t n_head_kv,
                         int32_t head_dim, Tensor out) = 0;
  virtual void swiglu(Tensor gate, Tensor up, Tensor out) = 0;  // out = silu(gate) * up
  // out = silu(gate_w x) * (up_w x), the feed-forward's first half: by default two matmuls and
  // swiglu; a device backend may do it in one pass over both weights (no launch in between).
  virtual void matmul_swiglu(const Weight& gate_w, const Weight& up_w, Tensor x, Tensor out);
  virtual void add(Tensor x, Tensor y) = 0;  // x += y
  // x += y, then out = rms_norm(x, w): the residual add of a block and the next block's norm. By
  // default the two calls; a device backend may do both in one launch (the same bits).
  virtual void add_rms_norm(Tensor x, Tensor y, const Weight& w, float eps, Tensor out);
  // rope(q, n_head), rope(k, n_head_kv), then store_kv(k, v): a layer's positions and its cache
  // write. By default those three calls; a device backend may do them in one launch (the same
  // bits in q, k and the cache).
  virtual void rope_store_kv(Tensor q, Tensor k, Tensor v, int32_t n_head, int32_t n_head_kv, const RopeParams& p,
                             KvCache& kv, int32_t layer, const Batch& batch);
  // What ArchFeature's architectures need; a backend that implements() them overrides these.
  virtual void scale(Tensor x, float s);                   // x *= s
  virtual void geglu(Tensor gate, Tensor up, Tensor out);  // out = gelu_tanh(gate) * up
  // out = act(gate_w x) * (up_w x): matmul_swiglu, or two matmuls and geglu.
  void matmul_gated(FfnActivation act, const Weight& gate_w, const Weight& up_w, Tensor x, Tensor out);
  // out = the mixture-of-experts feed-forward of x (backend/moe.h): by default each expert's
  // tokens are gathered and run as one batch through matmul_swiglu and matmul.
  virtual void moe_ffn(const MoeFfn& f, Tensor x, Tensor out);

  // BERT-family encoders (ArchFeature::Encoder; forward/encoder.h); a backend that implements()
  // it overrides these. LayerNorm of each row (population variance, as torch), weight and bias.
  virtual void layer_norm(Tensor x, const Weight& w, const Weight& b, float eps, Tensor out);
  virtual void gelu(Tensor x, Tensor out);  // out = x * Phi(x), the erf form
  // Bidirectional attention without a cache: the rows of q, k and v are sequences packed one
  // after another (seq_lens[i] rows each), and each token attends to every token of its own
  // sequence, head by head (n_head heads of q.cols / n_head values).
  virtual void encoder_attention(Tensor q, Tensor k, Tensor v, std::span<const int32_t> seq_lens, int32_t n_head,
                                 Tensor out);
  // Tokens one encoder pass packs at most (forward/encoder.cpp; an input longer than that runs
  // alone): 512 by default, for the CPU, whose larger passes cost more per token (their
  // activations leave the caches); a device backend, for which a pass costs its launches more than
  // its tokens, takes more.
  virtual int64_t encoder_pass_tokens() const { return 512; }

  // The largest k top_logits() accepts; 0 (host backends): it is not offered, and callers copy
  // whole rows with to_host instead.
  virtual int32_t max_top_logits() const { return 0; }
  // TopLogits of rows `rows` of `logits` (each row n_vocab = logits.cols floats), k <= max_top_logits().
  virtual void top_logits(Tensor logits, std::span<const int32_t> rows, int32_t k, std::vector<TopLogits>& out);
};

// `kv` as backend `be`'s own cache type. A cache holds one backend's memory, so one made by
// another backend is a bug: Error(Internal) naming both.
template <class Cache>
Cache& cache_of(KvCache& kv, const Backend& be) {
  if (auto* cache = dynamic_cast<Cache*>(&kv)) return *cache;
  fail(ErrorKind::Internal,
       "backend '" + be.name() + "' was given a KV cache made by backend '" + kv.backend + "', which it cannot read");
}

// Error(Unsupported) naming what `be` lacks of what the model needs (HParams::needed_features),
// with what to do instead.
void check_runs(const Backend& be, const HParams& hp);

// The arguments the encoder's operations take, checked alike by every backend before it reads
// anything: Error(Internal) naming the shape that does not match (a caller's bug), or
// Error(Unsupported) for a LayerNorm weight or bias that is not F32.
void check_layer_norm(Tensor x, const Weight& w, const Weight& b, Tensor out);
void check_gelu(Tensor x, Tensor out);
void check_encoder_attention(Tensor q, Tensor k, Tensor v, std::span<const int32_t> seq_lens, int32_t n_head,
                             Tensor out);

// The backend of that name in the backend table (backend/registry.h: cpu, reference, cuda, ...),
// not yet prepared; a device backend gets default DeviceOptions (see make_backend_for).
std::unique_ptr<Backend> make_backend(const std::string& name, int n_threads);

struct DeviceOptions {
  std::string device = "cpu";        // cpu | cuda | auto
  double gpu_memory_fraction = 0.9;  // of the device's free memory the backend may take
  bool cuda_graphs = false;          // capture decode steps as CUDA graphs
  int32_t device_index = 0;          // which CUDA device (a tensor-parallel rank's: its rank)
  // --tensor-parallel: the model's heads and FFN columns split over this many GPUs
  // (forward/tensor_parallel.h); 1: one GPU. Read by place_model.
  int32_t tensor_parallel = 1;
  // --gpu-layers: layers [0, N) on the device backend, the rest on the CPU backend; none: chosen
  // from the device's memory budget. Read by place_model (forward/placement.h), which splits a
  // model; make_backend_for puts a whole model on one backend and ignores it.
  std::optional<int32_t> gpu_layers{};
};

// --gpu-layers' text: "auto" (or empty) gives none, a count 0, 1, ... gives it; anything else
// (a negative count included) is Error(BadInput). Counts above the model's layers are refused
// where the model is known (place_model).
std::optional<int32_t> parse_gpu_layers(const std::string& text);
inline constexpr const char* kGpuLayersHelp =
    "layers on the GPU: the first N run there, the rest on the CPU backend in the same forward pass "
    "(auto: as many as fit in --gpu-memory-fraction; 0: all on the CPU); needs --device cuda or auto";

inline constexpr const char* kTensorParallelHelp =
    "GPUs to split the model over (tensor parallelism: each GPU holds 1/N of every layer's heads and FFN columns and "
    "of the KV cache, NCCL all-reduces between them); a model whose heads do not divide runs as a pipeline of layers "
    "over the N GPUs; with --device cpu, N CPU backends in one process (for tests)";

// The backend for `model` on the chosen device: "cpu" gives make_backend(cpu_backend, n_threads);
// a device backend's name (cuda) that backend (Error when there is no device or the model does
// not fit); "auto" the first device backend that is available and fits the model, else the CPU
// one, saying why on `log` (may be null). The returned backend is prepared for the model.
std::unique_ptr<Backend> make_backend_for(const Model& model, const std::string& cpu_backend, int n_threads,
                                          const DeviceOptions& opt, std::ostream* log);

// Whether this build has the CUDA backend, and how many devices the driver reports (0 without).
bool cuda_built();
int cuda_device_count();
// The CUDA backend on device 0, not yet prepared (Error without CUDA or a device).
std::unique_ptr<Backend> make_cuda_backend(const DeviceOptions& opt);

}  // namespace hayate
