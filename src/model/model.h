// A loaded model: hyper-parameters read from GGUF metadata and views of its weights inside the
// memory-mapped file (nothing is copied). What differs between architectures is data here
// (ArchSpec); the forward pass in forward.cpp is written once for all of them.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/ggml_types.h"
#include "gguf/gguf.h"

namespace hayate {

enum class RopeType {
  Norm,  // rotate adjacent pairs (x[2i], x[2i+1]) — GGUF llama, whose Q/K rows the converter permuted
  Neox,  // rotate halves (x[i], x[i + n_rot/2]) — Qwen2/Qwen3, as in Hugging Face
};

// The feed-forward's gate activation: silu(gate) * up (SwiGLU) or gelu_tanh(gate) * up (GeGLU, Gemma).
enum class FfnActivation { Silu, GeluTanh };

// Computation beyond llama's that an architecture may need. A backend says which it implements
// (Backend::implements); a model that needs one its backend lacks is refused at load.
enum class ArchFeature {
  LayerWindows,     // a sliding window on some layers only, each layer kind with its own RoPE base
  GeluFeedForward,  // FfnActivation::GeluTanh
  PostNorms,        // RMSNorm of the attention and feed-forward outputs before the residual add
  ScaledInput,      // token embeddings times a constant, queries times a constant
  RopeAttnFactor,   // cos and sin of RoPE times a constant (LongRoPE)
  Encoder,          // a BERT-family encoder (Backend::layer_norm, gelu, encoder_attention)
};
const char* arch_feature_name(ArchFeature f);

// Whether an architecture's feed-forward may be a mixture of experts (expert_count > 0): llama
// files may (Mixtral is written as llama), qwen3moe must, the others may not.
enum class Experts { None, Allowed, Required };

// What an architecture is, as data. One row per GGUF general.architecture in the table of
// model.cpp, which the loader, synth, the forward pass (through HParams) and the converter read.
struct ArchSpec {
  std::string name;
  RopeType rope_type = RopeType::Norm;
  bool qkv_bias = false;  // attn_q/k/v.bias tensors are required
  bool qk_norm = false;   // per-head RMSNorm of q and k (attn_q_norm / attn_k_norm)
  // Hugging Face model classes (config.json "architectures") that `hayate convert` writes as this
  // architecture. Norm rope means the converter permutes Q/K rows, as GGUF llama files are.
  std::vector<std::string> hf_classes = {};
  Experts experts = Experts::None;
  FfnActivation ffn_act = FfnActivation::Silu;
  bool post_norms = false;        // post_attention_norm / post_ffw_norm (Gemma 2/3)
  bool scale_embeddings = false;  // token embeddings times sqrt(n_embd) (Gemma)
  // > 0: layers alternate sliding-window and global attention; without the file's
  // attention.sliding_window_pattern, every swa_period-th layer is global (llama.cpp's default).
  int32_t swa_period = 0;
  // Fused projections, viewed as their parts at load: attn_qkv (q, k, v rows) and ffn_up of
  // 2 * n_ff rows (gate, then up) — Phi-3's layout, as llama.cpp writes it.
  bool fused_qkv = false;
  bool fused_gate_up = false;
  bool long_rope = false;  // rope_factors_long / rope_factors_short and rope.scaling.attn_factor (LongRoPE)
};

const ArchSpec* find_arch(const std::string& name);               // nullptr when unknown
const ArchSpec* find_arch_for_hf_class(const std::string& name);  // nullptr when unknown
std::vector<std::string> supported_archs();
std::vector<std::string> supported_hf_classes();
// Adds a row (tests, embedders); Error(BadInput) when the name is taken. Call before the table
// is read from other threads.
void register_arch(ArchSpec spec);

struct HParams {
  std::string arch;
  RopeType rope_type = RopeType::Norm;
  int32_t n_vocab = 0;
  int32_t n_embd = 0;
  int32_t n_layer = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim = 0;  // attention.key_length (== value_length here)
  int32_t n_rot = 0;     // rope.dimension_count
  int32_t n_ff = 0;
  int32_t n_ctx_train = 0;
  float rms_eps = 1e-5f;
  float rope_theta = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / linear rope scaling factor
  bool qkv_bias = false;
  bool qk_norm = false;
  // attention.sliding_window: each token attends to the last `sliding_window` positions, itself
  // included (Mistral; transformers masks kv_idx <= q_idx - window); 0: to every earlier position.
  int32_t sliding_window = 0;
  // Per layer: whether the window applies; empty: every layer (Mistral). Gemma 3 interleaves.
  std::vector<bool> swa_layers;
  float rope_theta_swa = 0.0f;  // RoPE base of the windowed layers of an interleaved model (no scaling there)
  FfnActivation ffn_act = FfnActivation::Silu;
  bool post_norms = false;
  bool fused_qkv = false;
  bool fused_gate_up = false;
  float embd_scale = 1.0f;        // token embeddings are multiplied by it
  float attn_scale = 0.0f;        // attention scores' scale; 0: 1 / sqrt(head_dim)
  float rope_attn_factor = 1.0f;  // RoPE's cos and sin times it (LongRoPE)
  int32_t n_ctx_orig = 0;         // LongRoPE: the context up to which the short factors apply
  // Mixture of experts (n_expert > 0): every layer's feed-forward is n_expert SwiGLU experts of
  // n_ff_exp rows; a router (softmax over the experts) sends each token to its n_expert_used most
  // likely ones, whose outputs are summed weighted by those probabilities, renormalised to sum 1
  // when expert_weights_norm (Mixtral, Qwen3-MoE with norm_topk_prob).
  int32_t n_expert = 0;
  int32_t n_expert_used = 0;
  int32_t n_ff_exp = 0;
  bool expert_weights_norm = true;

  int32_t q_dim() const { return n_head * head_dim; }
  bool windowed(int32_t layer) const {
    return sliding_window > 0 && (swa_layers.empty() || swa_layers[static_cast<size_t>(layer)]);
  }
  std::vector<ArchFeature> needed_features() const;
  int32_t kv_dim() const { return n_head_kv * head_dim; }
};

// A weight tensor viewed as a matrix of `rows` rows of `cols` elements (GGUF shape {cols, rows}).
// A 1-D tensor is one row. `data` is null for an optional tensor the file does not have.
struct Weight {
  std::string name;
  GgmlType type = GgmlType::F32;
  int64_t cols = 0;
  int64_t rows = 0;
  const void* data = nullptr;

  explicit operator bool() const { return data != nullptr; }
  size_t row_bytes() const { return ggml_row_size(type, cols); }
  const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + r * row_bytes(); }
};

struct LayerWeights {
  Weight attn_norm, wq, wk, wv, wo;
  Weight bq, bk, bv;      // qwen2
  Weight bo;              // attention_bias of a llama/mistral config: the output projection's too
  Weight q_norm, k_norm;  // qwen3
  Weight ffn_norm, ffn_gate, ffn_up, ffn_down;
  Weight post_attn_norm, post_ffn_norm;  // gemma3
  Weight wqkv;  // a fused file's attn_qkv, only while loading: wq, wk and wv are views of its rows
  // Mixture of experts: the router (n_expert rows) and the experts' matrices stacked, each viewed
  // as one matrix of n_expert * rows rows (expert e's rows first to last, e = 0, 1, ...).
  Weight ffn_gate_inp, ffn_gate_exps, ffn_up_exps, ffn_down_exps;
};

// The architecture's flags copied into hyper-parameters (what layer_weights and the forward read).
void apply_arch(const ArchSpec& spec, HParams& hp);

// Expert e's matrix of a stacked weight of n_expert experts: a view of its rows.
Weight expert_matrix(const Weight& stacked, int32_t n_expert, int32_t e);

// How a backend operation reads a weight: rows by id (get_rows), as a matrix (matmul), as a
// norm (rms_norm) or as a bias added after a matmul.
enum class WeightKind { Table, Matrix, Norm, Bias };

// One weight of a layer: its GGUF name after "blk.N.", its shape and whether the architecture
// needs it (an optional one the file lacks stays a null Weight).
struct WeightSpec {
  const char* suffix;
  WeightKind kind;
  int64_t cols, rows;  // GGUF shape {cols, rows}; rows 0: a vector
  bool required;
  Weight LayerWeights::*member;
  int64_t experts = 0;  // > 0: a stack of that many {cols, rows} matrices, GGUF shape {cols, rows, experts}
};

// The one list of a layer's weights, in the order files store them: the loader, synth, the
// converter and the backends' prepare all walk it.
std::vector<WeightSpec> layer_weights(const HParams& hp);
void for_each_weight(const HParams& hp, const std::function<void(const WeightSpec&)>& f);

struct BertModel;

struct Model {
  HParams hp;
  std::unique_ptr<gguf::File> file;
  // A BERT-family encoder (model/bert.h) for embeddings or rerank: no decoder weights, hp holds
  // only arch "bert", n_vocab, n_embd and n_ctx_train, and the engine runs forward/encoder.h on
  // its backend (ArchFeature::Encoder).
  std::shared_ptr<const BertModel> encoder;
  Weight tok_embd, output_norm, output;  // output is tok_embd when embeddings are tied
  Weight rope_freqs;                     // optional per-frequency divisors (llama3 rope scaling)
  Weight rope_long, rope_short;          // LongRoPE's divisors; rope_freqs is one of them (use_context)
  std::vector<LayerWeights> layers;

  // The context length the model will run with: LongRoPE's long factors apply beyond the original
  // context. transformers picks them per call by the sequence's length, so the two agree for
  // every sequence when n_ctx is at most the original context or every sequence is longer; llama.cpp
  // chooses as here. Load chooses for the trained context (long).
  void use_context(int32_t n_ctx);

  // Opens, validates every tensor the architecture needs (name, shape, type) and maps them.
  static std::unique_ptr<Model> load(const std::string& path);
  static std::unique_ptr<Model> from_file(std::unique_ptr<gguf::File> file);

  size_t weight_bytes() const;  // bytes of all tensors the forward pass reads
};

// Every weight of the model that backend operations read (tok_embd, output_norm, output, then
// each layer's in file order), skipping optional ones the file lacks. A tied output is tok_embd
// again, as a Matrix. A stack of experts is given as its experts' matrices, one by one (each
// named as the stack), since matmul reads one expert at a time. rope_freqs is left out: the forward pass hands it to
// rope() as host data.
void for_each_weight(const Model& m, const std::function<void(const Weight&, WeightKind)>& f);

// Reads the hyper-parameters of the file's architecture (Error on missing or bad keys). A key
// that would change the computation in a way hayate does not implement (soft-capping, shared
// experts, LayerNorm, ...) is Error(Unsupported) naming it: such a file is refused, never run wrongly.
HParams read_hparams(const gguf::File& file);

}  // namespace hayate
