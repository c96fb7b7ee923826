// The CUDA backend's class, shared by cuda_backend.cpp (lifetime, memory, graphs, the cheap
// operations) and cuda_matmul.cpp (matmul, attention, top logits). Internal to backend/cuda/.
//
// Weights are uploaded once in their file format, activations and the paged KV cache (fp32) live
// in device memory, every operation is enqueued on one stream and the host waits only in to_host
// and top_logits. Matmuls of up to 8 tokens use the mat-vec kernels; quantized weights with more
// tokens the batched tensor-core kernel (matmul_batched.cu); float weights cuBLAS. With
// DeviceOptions::cuda_graphs each step between reset_scratch() and the read of its results
// (to_host, top_logits) is recorded and launched as one CUDA graph, captured the first time its
// launches' arguments occur and replayed after (step_graph.h).
//
// HAYATE_PROFILE=1 times every operation with a pair of CUDA events (eager steps only) and adds
// the device time to core/profile.h's table as "gpu ...". HAYATE_CUDA_DISABLE, a comma-separated
// list of top_logits, batched, matvec_q4k, matvec_fast and swiglu_fused, turns the device sampling,
// the batched kernel, the Q4_K mat-vec kernel, the coalesced Q4_K/Q6_K/Q8_0 mat-vec or its fused
// gate/up/SwiGLU form off, to compare with before; fuse_qkv, fuse_norm and fuse_rope turn off
// stage 7's single launches of Q/K/V (and gate/up), of the residual add with the next RMSNorm,
// and of RoPE with the KV-cache write, and fuse_combine the decode attention's combine done by
// its chunk kernel (each the same bits as the launches it replaces);
// HAYATE_CUDA_BATCHED_MAX_TOKENS (default 64) is the most tokens the batched kernel takes (more
// go to cuBLAS on dequantized f16 tiles); HAYATE_CUDA_BATCHED_BM=64 its 64-row tiles (default 128);
// HAYATE_CUDA_BATCHED_PREFETCH=1|0 its L2 prefetch of the weights two column steps ahead;
// Q4_K/Q5_K/Q6_K/Q8_0 weights whose rows fit it take the tensor-core kernel of matmul_mma.cu
// instead, up to HAYATE_CUDA_MMA_MAX_TOKENS (default 64; `mma` in HAYATE_CUDA_DISABLE, or
// `batched`, turns it off), HAYATE_CUDA_MMA_BLOCKS=1|2 its resident blocks per SM,
// HAYATE_CUDA_MMA_EXACT=1|0 its decoding in f32 (the default until the f16 one is measured) or f16;
// HAYATE_CUDA_MATVEC_FAST=1|0 the coalesced Q4_K/Q6_K/Q8_0 mat-vec (on by default) and
// HAYATE_CUDA_MATVEC_ROWS=1|2|4 its rows per warp; HAYATE_CUDA_MATVEC_PARTS=1|2|4|8 the warps
// to a row of it and of the F16/BF16 mat-vec (split-K; default by the matrix's shape);
// HAYATE_CUDA_MATVEC_OCC=4 its one-token Q4_K kernels built for 4 blocks an SM (to measure);
// HAYATE_CUDA_SWIGLU_FUSED=1 its fused gate/up/SwiGLU form (off until verified on a GPU);
// HAYATE_CUDA_MATVEC_INT8=16|1|all|0 its activations: quantized once a call in blocks of 32 to
// 16-bit codes for Q4_K, Q6_K and Q8_0 weights (16, the default: dp2a sums, stage 9), to 8-bit
// codes for Q4_K and Q6_K (1) or all three (all; dp4a sums, stage 8: on random-weight test models
// they move logits past the forward tests' 1e-2 bound), or f32 (0);
// `short_chunks` in HAYATE_CUDA_DISABLE gives decode attention its 64-position chunks of before
// stage 6 (16 under 64 (token, head) pairs).
#pragma once

#include <cuda_runtime_api.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cublas_api.h"
#include "backend/cuda/cuda_memory.h"
#include "backend/cuda/cuda_util.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/step_graph.h"

namespace hayate::cuda {

class CudaKvCache : public KvCache {
 public:
  CudaKvCache(std::shared_ptr<MemoryBudget> budget, const HParams& hp, int32_t blocks, int32_t bs);
  ~CudaKvCache() override;
  float* k(int32_t layer) { return data_ + (2 * static_cast<size_t>(layer)) * layer_floats_; }
  float* v(int32_t layer) { return data_ + (2 * static_cast<size_t>(layer) + 1) * layer_floats_; }

 private:
  std::shared_ptr<MemoryBudget> budget_;
  size_t layer_floats_ = 0;
  float* data_ = nullptr;
};

// Device time per operation for HAYATE_PROFILE: an event before and after each, read at the
// next synchronisation.
class OpTimes {
 public:
  ~OpTimes();
  void begin(cudaStream_t s);
  void end(const char* name, cudaStream_t s);
  void collect();  // after the stream synchronised
  bool on = false;

 private:
  std::vector<cudaEvent_t> events_;
  std::vector<const char*> names_;
  size_t n_ = 0;
};

class CudaBackend : public Backend {
 public:
  explicit CudaBackend(const DeviceOptions& opt);
  ~CudaBackend() override { release(); }

  std::string name() const override { return "cuda"; }
  // Every feature: gemma3's and phi3's parts (sliding windows per layer, GELU feed-forward,
  // post-norms, scaled inputs, LongRoPE's attention factor) and the BERT encoder's (cuda_encoder.cpp).
  bool implements(ArchFeature) const override { return true; }
  std::string device_name() const override { return device_; }
  // The peak, so that a bench row counts the KV cache of its test after the test freed it.
  uint64_t device_memory_bytes() const override { return budget_->peak; }
  uint64_t device_memory_left() const override {
    return budget_->limit > budget_->used ? budget_->limit - budget_->used : 0;
  }

  void prepare(const Model& m) override;
  void prepare_weight(const Weight& w) override;
  std::unique_ptr<KvCache> make_kv_cache(const HParams& hp, int32_t n_blocks, int32_t block_size) override;
  Tensor alloc(int64_t rows, int64_t cols) override;
  void reset_scratch() override;
  size_t scratch_mark() const override { return scratch_.mark(); }
  void scratch_release(size_t mark) override { scratch_.release(mark); }
  void to_host(Tensor x, float* dst) override;
  void from_host(const float* src, Tensor x) override;

  void get_rows(const Weight& table, std::span<const int32_t> ids, Tensor out) override;
  void copy_rows(Tensor x, std::span<const int32_t> rows, Tensor out) override;
  void rms_norm(Tensor x, const Weight& w, float eps, Tensor out) override;
  void matmul(const Weight& w, Tensor x, Tensor out, const Weight* bias) override;
  void matmul_parts(std::span<const Weight* const> ws, Tensor x, std::span<const Tensor> outs,
                    std::span<const Weight* const> biases) override;
  void add_rms_norm(Tensor x, Tensor y, const Weight& w, float eps, Tensor out) override;
  void rope_store_kv(Tensor q, Tensor k, Tensor v, int32_t n_head, int32_t n_head_kv, const RopeParams& p, KvCache& kv,
                     int32_t layer, const Batch& batch) override;
  void rope(Tensor x, int32_t n_heads, std::span<const int32_t> positions, const RopeParams& p) override;
  void store_kv(KvCache& kv, int32_t layer, Tensor k, Tensor v, const Batch& batch) override;
  void attention(KvCache& kv, int32_t layer, Tensor q, const Batch& batch, int32_t n_head, int32_t n_head_kv,
                 int32_t head_dim, Tensor out) override;
  void swiglu(Tensor gate, Tensor up, Tensor out) override;
  void matmul_swiglu(const Weight& gate_w, const Weight& up_w, Tensor x, Tensor out) override;
  void add(Tensor x, Tensor y) override;
  void scale(Tensor x, float s) override;
  void geglu(Tensor gate, Tensor up, Tensor out) override;
  // The BERT encoder's operations (cuda_encoder.cpp, kernels in encoder.cu).
  void layer_norm(Tensor x, const Weight& w, const Weight& b, float eps, Tensor out) override;
  void gelu(Tensor x, Tensor out) override;
  void encoder_attention(Tensor q, Tensor k, Tensor v, std::span<const int32_t> seq_lens, int32_t n_head,
                         Tensor out) override;
  int64_t encoder_pass_tokens() const override { return 8192; }
  // The router's matmul, the experts' matmuls and the weighted sum on the device; the routing on
  // the host (backend/moe.h route_tokens, as the CPU backends route) from the router's logits,
  // the one read-back of a MoE layer: a step with MoE layers runs without a graph (cuda_moe.cpp).
  void moe_ffn(const MoeFfn& f, Tensor x, Tensor out) override;
  int32_t max_top_logits() const override { return top_logits_on_ ? kMaxTopLogits : 0; }
  // Captures and replays of step graphs so far (tests, the profile).
  const StepGraphs& step_graphs() const { return steps_; }
  // Stage 7's fused launches enqueued or recorded so far (tests: the fused path did run).
  struct FusedLaunches {
    int64_t parts = 0, norm = 0, rope = 0, combine = 0;
  };
  const FusedLaunches& fused_launches() const { return fused_; }
  void top_logits(Tensor logits, std::span<const int32_t> rows, int32_t k, std::vector<TopLogits>& out) override;
  // Work of another library (NCCL's collectives) on this backend's stream, in order with its
  // operations and recorded into the step's graph when graphs are on. `what` (a literal), `data`
  // and `count` are its key: the same three mean the same call.
  void on_stream(const char* what, const void* data, int64_t count, std::function<void(cudaStream_t)> f) {
    launch([f = std::move(f), this] { f(stream_); }, what, data, count);
  }
  int device_index() const { return device_index_; }
  void make_current() override;
  void submit() override { flush(); }

 private:
  // Times one operation's device work into `name` while profiling (eager steps only).
  class Timed {
   public:
    Timed(CudaBackend& be, const char* name) : be_(be), name_(be.times_.on && !be.steps_.recording() ? name : nullptr) {
      if (name_) be_.times_.begin(be_.stream_);
    }
    ~Timed() {
      if (name_) be_.times_.end(name_, be_.stream_);
    }
    Timed(const Timed&) = delete;
    Timed& operator=(const Timed&) = delete;

   private:
    CudaBackend& be_;
    const char* name_;
  };

  void init(const DeviceOptions& opt);
  void release() noexcept;
  static std::string type_names();
  float* floats(size_t n) { return static_cast<float*>(scratch_.take(n * sizeof(float))); }
  // A device copy of host bytes for this step's kernels (see Uploads::put).
  const void* upload(const void* src, size_t bytes);
  // Enqueues `f` (an operation's launches on stream_) now, or records it for the step's graph
  // under `keys`: the operation's name, then every argument its launches take.
  template <class F, class... K>
  void launch(F&& f, const K&... keys) {
    if (!steps_.recording()) {
      f();
      return;
    }
    steps_.key(keys...);
    steps_.add(std::forward<F>(f));
  }
  // Enqueues the recorded step (its graph), so that its results can be read.
  void flush();
  DevWeight dev(const Weight& w) const;
  CudaKvCache& cache(KvCache& kv, int32_t layer) const;
  // n zeroed ints for AttentionArgs::counters (kernels leave them 0). A larger need allocates a
  // larger array; the older ones are kept until release, since graphs captured with them may
  // still replay.
  int* attention_counters(size_t n);
  struct Counters {
    int* dev = nullptr;
    size_t n = 0;
  };
  std::vector<Counters> counters_;
  // The cache slot of each token of the batch, uploaded for this step's kernels.
  const int64_t* kv_slots(const CudaKvCache& kv, const Batch& batch);
  // Rope's checks; Error(Internal) when x cannot be rotated with these parameters.
  void check_rope(Tensor x, int32_t n_heads, std::span<const int32_t> positions, const RopeParams& p) const;
  // swiglu and geglu: `kernel` over gate and up (the same size) into out, timed as `timer` and
  // recorded under `name`; `what` names the kernel in its errors. The three are literals.
  using GatedKernel = cudaError_t (*)(const float*, const float*, float*, int64_t, cudaStream_t);
  void gated(GatedKernel kernel, Tensor gate, Tensor up, Tensor out, const char* name, const char* timer,
             const char* what);
  const float* rope_frequencies(const RopeParams& p);
  void matmul_cublas(const Weight& w, const DevWeight& dw, Tensor x, Tensor out, bool quantized);
  // matmul with `shared`: x quantized to 8 bits by an earlier product of the same call (its q
  // set), or to be set by this one (the int8 path); the caller takes and releases its scratch.
  void matmul_with(const Weight& w, Tensor x, Tensor out, const Weight* bias, ActQ8& shared);
  // The integer-code activations for a product of weights of `type` (none where matvec_act_
  // leaves that format f32): `shared`'s when set (ready), else new scratch, which `shared` then names.
  ActQ8 int8_activations(GgmlType type, Tensor x, ActQ8& shared);
  void sync();

  std::shared_ptr<MemoryBudget> budget_;
  Scratch scratch_;
  Uploads uploads_;
  OpTimes times_;
  bool graphs_ = false;
  StepGraphs steps_;
  bool top_logits_on_ = true, matvec_q4k_on_ = true, matvec_fast_on_ = true, swiglu_fused_on_ = true;
  // The mat-vec's activations (HAYATE_CUDA_MATVEC_INT8): f32 (0), 16-bit codes for Q4_K, Q6_K and
  // Q8_0 (16, the default), 8-bit codes for Q4_K and Q6_K (1) or all three (all).
  enum class MatvecAct { F32, Int16, Int8KQuants, Int8All };
  MatvecAct matvec_act_ = MatvecAct::Int16;
  bool prefill_on_ = true;  // the tiled attention of prompt batches; HAYATE_CUDA_DISABLE=prefill
  // Stage 7's fused launches; HAYATE_CUDA_DISABLE=fuse_qkv (matmul_parts: Q/K/V and gate/up),
  // fuse_norm (add_rms_norm), fuse_rope (rope_store_kv) give the separate launches of before.
  bool fuse_parts_ = true, fuse_norm_ = true, fuse_rope_ = true;
  // The decode attention's combine done by the chunk kernel's last block (AttentionArgs::counters);
  // HAYATE_CUDA_DISABLE=fuse_combine gives its own launch.
  bool fuse_combine_ = true;
  FusedLaunches fused_;
  int32_t decode_chunk_ = 16;        // attention positions a block under 64 (token, head) pairs
  int64_t batched_max_tokens_ = 64;  // 0: the batched kernel is off
  int batched_block_rows_ = 128;     // HAYATE_CUDA_BATCHED_BM: 64 or 128
  bool batched_prefetch_ = false;    // HAYATE_CUDA_BATCHED_PREFETCH
  int64_t mma_max_tokens_ = 64;      // HAYATE_CUDA_MMA_MAX_TOKENS; 0: the tensor-core kernel is off
  int mma_blocks_per_sm_ = 0;        // HAYATE_CUDA_MMA_BLOCKS=1|2 (0: plan_mma's default)
  bool mma_exact_ = true;            // HAYATE_CUDA_MMA_EXACT=1|0: f32 decoding (f16 when 0)
  std::string device_;
  int device_index_ = 0;  // DeviceOptions::device_index: made current by the entry points a thread may start with
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  void* workspace_ = nullptr;
  struct Uploaded {
    void* dev = nullptr;
    size_t bytes = 0;
  };
  // By host address. A weight that is a view of an uploaded one (an expert of a stacked *_exps
  // tensor, model.h expert_matrix) resolves to the same bytes of its device copy.
  std::map<const uint8_t*, Uploaded> weights_;
  // The upload holding host bytes [p, p + bytes), or null.
  const std::pair<const uint8_t* const, Uploaded>* upload_holding(const void* p, size_t bytes) const;
  std::vector<float> router_logits_;  // moe_ffn's host copy
  // Rope inverse frequencies by their parameters, computed and uploaded once (not per call).
  struct RopeTable {
    RopeParams p;
    std::vector<float> factors;
    float* dev = nullptr;
  };
  std::vector<RopeTable> rope_tables_;
  std::vector<int64_t> slots_;
  std::vector<int32_t> tables_, tiles_;
  std::vector<int32_t> encoder_tiles_;  // encoder_attention's (first row, length, first query) triples
  void* top_host_ = nullptr;            // pinned: top_logits' results
  size_t top_host_bytes_ = 0;
};

}  // namespace hayate::cuda
