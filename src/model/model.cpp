#include "model/model.h"

#include <cmath>
#include <deque>
#include <limits>
#include <set>

#include "core/error.h"
#include "model/bert.h"
#include "quant/quant.h"

namespace hayate {
namespace {

std::deque<ArchSpec> builtin_archs() {
  return {
      // llama.cpp writes Mixtral as llama with experts; hayate does the same.
      {"llama",
       RopeType::Norm,
       false,
       false,
       {"LlamaForCausalLM", "MistralForCausalLM", "MixtralForCausalLM"},
       Experts::Allowed},
      {"qwen2", RopeType::Neox, true, false, {"Qwen2ForCausalLM"}},
      {"qwen3", RopeType::Neox, false, true, {"Qwen3ForCausalLM"}},
      {.name = "gemma3",
       .rope_type = RopeType::Neox,
       .qk_norm = true,
       .hf_classes = {"Gemma3ForCausalLM"},
       .ffn_act = FfnActivation::GeluTanh,
       .post_norms = true,
       .scale_embeddings = true,
       .swa_period = 6},
      {.name = "phi3",
       .rope_type = RopeType::Neox,
       .hf_classes = {"Phi3ForCausalLM"},
       .fused_qkv = true,
       .fused_gate_up = true,
       .long_rope = true},
      {.name = "qwen3moe",
       .rope_type = RopeType::Neox,
       .qk_norm = true,
       .hf_classes = {"Qwen3MoeForCausalLM"},
       .experts = Experts::Required},
  };
}

// A deque: rows keep their addresses when a row is registered.
std::deque<ArchSpec>& archs() {
  static std::deque<ArchSpec> table = builtin_archs();
  return table;
}

int32_t get_count(const gguf::File& f, const std::string& key, bool required, int32_t fallback = 0) {
  const gguf::Value* v = f.find(key);
  if (!v) {
    if (required) fail(ErrorKind::BadInput, f.name() + ": required key " + key + " is missing");
    return fallback;
  }
  const int64_t n = v->as_i64(f.name() + ": " + key);
  if (n <= 0 || n > (1 << 24))
    fail(ErrorKind::BadInput, f.name() + ": " + key + " = " + std::to_string(n) + " is out of range");
  return static_cast<int32_t>(n);
}

// GGUF keys (after "<arch>.") that change the computation in ways hayate's forward pass does
// not implement, each with the value that means "no change" and what it would need. A file
// that sets one otherwise is refused by name rather than run wrongly.
struct RefusedKey {
  const char* key;
  double neutral;  // the value that leaves the computation as hayate does it; NaN: any value is refused
  const char* needs;
};

constexpr double kAny = std::numeric_limits<double>::quiet_NaN();

constexpr RefusedKey kRefusedKeys[] = {
    {"attn_logit_softcapping", 0.0, "soft-capping of attention scores (gemma2)"},
    {"final_logit_softcapping", 0.0, "soft-capping of the output logits (gemma2)"},
    {"expert_shared_count", 0.0, "shared experts beside the routed ones (qwen2moe, deepseek)"},
    {"expert_gating_func", 1.0, "a router other than softmax (sigmoid gating)"},
    {"expert_weights_scale", 1.0, "scaled expert weights"},
    {"leading_dense_block_count", 0.0, "dense layers before the mixture-of-experts ones"},
    {"attention.layer_norm_epsilon", kAny, "LayerNorm (hayate's architectures use RMSNorm)"},
    {"attention.sliding_window_pattern", kAny, "interleaved sliding-window and global layers"},
    {"attention.clamp_kqv", kAny, "clamping of q/k/v"},
    {"attention.causal", 1.0, "non-causal (bidirectional) attention"},
    {"embedding_scale", kAny, "scaled token embeddings"},
    {"residual_scale", kAny, "scaled residual connections"},
    {"logit_scale", kAny, "scaled output logits"},
    {"rope.scaling.attn_factor", 1.0, "a YaRN-style attention factor"},
};

// Keys of kRefusedKeys that an architecture's row says it implements.
bool implemented_by(const ArchSpec& spec, std::string_view key) {
  return (key == "attention.sliding_window_pattern" && spec.swa_period > 0) ||
         (key == "rope.scaling.attn_factor" && spec.long_rope);
}

void refuse_unsupported_keys(const gguf::File& f, const std::string& prefix, const ArchSpec& spec) {
  for (const RefusedKey& r : kRefusedKeys) {
    if (implemented_by(spec, r.key)) continue;
    const std::string key = prefix + r.key;
    const gguf::Value* v = f.find(key);
    if (!v) continue;
    const bool scalar = v->type() != gguf::ValueType::String && v->type() != gguf::ValueType::Array;
    if (scalar && !std::isnan(r.neutral)) {
      const std::string what = f.name() + ": " + key;
      const double value = v->type() == gguf::ValueType::Bool ? (v->as_bool(what) ? 1.0 : 0.0) : v->as_f64(what);
      if (value == r.neutral) continue;
    }
    fail(ErrorKind::Unsupported, f.name() + ": " + key + " = " + v->to_display() + " asks for " + r.needs +
                                     ", which hayate does not implement; the model cannot be run exactly");
  }
}

// expert_count and the keys that go with it. An incomplete description is a layout hayate does
// not know (Unsupported), as a file of an architecture without experts that asks for them.
void read_experts(const gguf::File& f, const std::string& a, const ArchSpec& spec, HParams& hp) {
  const gguf::Value* count = f.find(a + "expert_count");
  const int64_t n = count ? count->as_i64(f.name() + ": " + a + "expert_count") : 0;
  const std::string asks =
      f.name() + ": " + a + "expert_count = " + std::to_string(n) + " asks for mixture-of-experts layers";
  if (n == 0) {
    if (spec.experts == Experts::Required)
      fail(ErrorKind::BadInput, f.name() + ": " + a + "expert_count is missing or 0; " + spec.name + " needs experts");
    return;
  }
  if (spec.experts == Experts::None)
    fail(ErrorKind::Unsupported,
         asks + ", which hayate does not implement for " + spec.name + "; the model cannot be run exactly");
  if (!f.find(a + "expert_used_count"))
    fail(ErrorKind::Unsupported,
         asks + " without " + a + "expert_used_count (experts per token), a layout hayate does not know");
  hp.n_expert = get_count(f, a + "expert_count", true);
  hp.n_expert_used = get_count(f, a + "expert_used_count", true);
  if (hp.n_expert_used > hp.n_expert)
    fail(ErrorKind::BadInput, f.name() + ": " + a + "expert_used_count " + std::to_string(hp.n_expert_used) +
                                  " is more than expert_count " + std::to_string(hp.n_expert));
  hp.n_ff_exp = get_count(f, a + "expert_feed_forward_length", false, hp.n_ff);
  if (const gguf::Value* norm = f.find(a + "expert_weights_norm"))
    hp.expert_weights_norm = norm->as_bool(f.name() + ": " + a + "expert_weights_norm");
}

class WeightLoader {
 public:
  WeightLoader(const gguf::File& f, const HParams& hp) : f_(f), hp_(hp) {}

  // Checks that the tensor exists with exactly the shape {cols, rows} (rows 0 = a vector) and a type
  // the kernels support.
  Weight get(const std::string& name, int64_t cols, int64_t rows, bool required = true, int64_t experts = 0) const {
    const gguf::TensorInfo* t = f_.find_tensor(name);
    if (!t) {
      if (required)
        fail(ErrorKind::BadInput, f_.name() + ": tensor " + name + " is missing (needed by " + hp_.arch + ")");
      return Weight{name, GgmlType::F32, cols, rows, nullptr};
    }
    const bool vector = rows == 0;
    std::vector<int64_t> want_shape = {cols};
    if (!vector) want_shape.push_back(rows);
    if (experts > 0) want_shape.push_back(experts);
    if (t->shape != want_shape) {
      std::string got, want;
      for (size_t i = 0; i < t->shape.size(); ++i) got += (i ? ", " : "") + std::to_string(t->shape[i]);
      for (size_t i = 0; i < want_shape.size(); ++i) want += (i ? ", " : "") + std::to_string(want_shape[i]);
      fail(ErrorKind::BadInput, f_.name() + ": tensor " + name + " has shape {" + got + "}, expected {" + want + "}");
    }
    if (!quant::is_supported_weight_type(t->type))
      fail(ErrorKind::Unsupported,
           f_.name() + ": tensor " + name + " has type " + ggml_type_name(t->type) +
               ", which this build does not support for weights (supported: " + quant::weight_type_names() + ")");
    if (vector && t->type != GgmlType::F32)
      fail(ErrorKind::Unsupported,
           f_.name() + ": tensor " + name + " is " + ggml_type_name(t->type) + "; norm and bias vectors must be f32");
    return Weight{name, t->type, cols, vector ? 1 : rows * std::max<int64_t>(experts, 1), t->data};
  }

 private:
  const gguf::File& f_;
  const HParams& hp_;
};

// Rows [r0, r0 + rows) of a matrix, as a matrix of their own (a fused projection's part).
Weight row_view(const Weight& w, int64_t r0, int64_t rows) { return Weight{w.name, w.type, w.cols, rows, w.row(r0)}; }

// Which layers of an interleaved model are windowed: the file's per-layer pattern (true: sliding),
// else every swa_period-th layer global, as llama.cpp assumes for Gemma 3 files without one.
std::vector<bool> swa_pattern(const gguf::File& f, const std::string& a, const HParams& hp, int32_t period) {
  std::vector<bool> out(static_cast<size_t>(hp.n_layer));
  const gguf::Value* v = f.find(a + "attention.sliding_window_pattern");
  if (!v) {
    for (int32_t il = 0; il < hp.n_layer; ++il) out[static_cast<size_t>(il)] = (il + 1) % period != 0;
    return out;
  }
  const std::string what = f.name() + ": " + a + "attention.sliding_window_pattern";
  const auto& items = v->as_array(what);
  if (items.size() != out.size())
    fail(ErrorKind::BadInput,
         what + " has " + std::to_string(items.size()) + " entries for " + std::to_string(hp.n_layer) + " layers");
  for (size_t i = 0; i < items.size(); ++i)
    out[i] = items[i].type() == gguf::ValueType::Bool ? items[i].as_bool(what) : items[i].as_i64(what) != 0;
  return out;
}

}  // namespace

const char* arch_feature_name(ArchFeature f) {
  switch (f) {
    case ArchFeature::LayerWindows:
      return "sliding windows on some layers only";
    case ArchFeature::GeluFeedForward:
      return "a GELU-tanh gated feed-forward";
    case ArchFeature::PostNorms:
      return "norms of the attention and feed-forward outputs";
    case ArchFeature::ScaledInput:
      return "scaled token embeddings or queries";
    case ArchFeature::RopeAttnFactor:
      return "LongRoPE's attention factor";
    case ArchFeature::Encoder:
      return "a BERT encoder (LayerNorm, GELU, bidirectional attention)";
  }
  return "?";
}

std::vector<ArchFeature> HParams::needed_features() const {
  std::vector<ArchFeature> out;
  if (!swa_layers.empty()) out.push_back(ArchFeature::LayerWindows);
  if (ffn_act == FfnActivation::GeluTanh) out.push_back(ArchFeature::GeluFeedForward);
  if (post_norms) out.push_back(ArchFeature::PostNorms);
  if (embd_scale != 1.0f || attn_scale != 0.0f) out.push_back(ArchFeature::ScaledInput);
  if (rope_attn_factor != 1.0f) out.push_back(ArchFeature::RopeAttnFactor);
  if (arch == "bert") out.push_back(ArchFeature::Encoder);
  return out;
}

void apply_arch(const ArchSpec& spec, HParams& hp) {
  hp.rope_type = spec.rope_type;
  hp.qkv_bias = spec.qkv_bias;
  hp.qk_norm = spec.qk_norm;
  hp.ffn_act = spec.ffn_act;
  hp.post_norms = spec.post_norms;
  hp.fused_qkv = spec.fused_qkv;
  hp.fused_gate_up = spec.fused_gate_up;
}

const ArchSpec* find_arch(const std::string& name) {
  for (const auto& a : archs())
    if (name == a.name) return &a;
  return nullptr;
}

const ArchSpec* find_arch_for_hf_class(const std::string& name) {
  for (const auto& a : archs())
    for (const auto& c : a.hf_classes)
      if (name == c) return &a;
  return nullptr;
}

std::vector<std::string> supported_archs() {
  std::vector<std::string> out;
  for (const auto& a : archs()) out.push_back(a.name);
  return out;
}

std::vector<std::string> supported_hf_classes() {
  std::vector<std::string> out;
  for (const auto& a : archs()) out.insert(out.end(), a.hf_classes.begin(), a.hf_classes.end());
  return out;
}

void register_arch(ArchSpec spec) {
  if (spec.name.empty() || find_arch(spec.name))
    fail(ErrorKind::BadInput, "register_arch: the architecture name '" + spec.name + "' is empty or taken");
  for (const auto& c : spec.hf_classes)
    if (find_arch_for_hf_class(c))
      fail(ErrorKind::BadInput, "register_arch: the Hugging Face class '" + c + "' already maps to an architecture");
  archs().push_back(std::move(spec));
}

std::vector<WeightSpec> layer_weights(const HParams& hp) {
  using K = WeightKind;
  using L = LayerWeights;
  const int64_t e = hp.n_embd, q = hp.q_dim(), kv = hp.kv_dim(), f = hp.n_ff;
  const bool split_qkv = !hp.fused_qkv, split_ffn = !hp.fused_gate_up;
  // A fused file's attn_q/k/v and ffn_gate are views of attn_qkv and ffn_up, made by the loader.
  std::vector<WeightSpec> specs = {
      {"attn_norm.weight", K::Norm, e, 0, true, &L::attn_norm},
      {"attn_qkv.weight", K::Matrix, e, q + 2 * kv, hp.fused_qkv, &L::wqkv},
      {"attn_q.weight", K::Matrix, e, q, split_qkv, &L::wq},
      {"attn_k.weight", K::Matrix, e, kv, split_qkv, &L::wk},
      {"attn_v.weight", K::Matrix, e, kv, split_qkv, &L::wv},
      {"attn_q.bias", K::Bias, q, 0, hp.qkv_bias, &L::bq},
      {"attn_k.bias", K::Bias, kv, 0, hp.qkv_bias, &L::bk},
      {"attn_v.bias", K::Bias, kv, 0, hp.qkv_bias, &L::bv},
      {"attn_q_norm.weight", K::Norm, hp.head_dim, 0, hp.qk_norm, &L::q_norm},
      {"attn_k_norm.weight", K::Norm, hp.head_dim, 0, hp.qk_norm, &L::k_norm},
      {"attn_output.weight", K::Matrix, q, e, true, &L::wo},
      {"attn_output.bias", K::Bias, e, 0, false, &L::bo},
      {"post_attention_norm.weight", K::Norm, e, 0, hp.post_norms, &L::post_attn_norm},
      {"ffn_norm.weight", K::Norm, e, 0, true, &L::ffn_norm},
  };
  if (hp.n_expert > 0) {
    const int64_t n = hp.n_expert, fe = hp.n_ff_exp;
    specs.insert(specs.end(), {
                                  {"ffn_gate_inp.weight", K::Matrix, e, n, true, &L::ffn_gate_inp},
                                  {"ffn_gate_exps.weight", K::Matrix, e, fe, true, &L::ffn_gate_exps, n},
                                  {"ffn_up_exps.weight", K::Matrix, e, fe, true, &L::ffn_up_exps, n},
                                  {"ffn_down_exps.weight", K::Matrix, fe, e, true, &L::ffn_down_exps, n},
                              });
  } else {
    specs.insert(specs.end(), {
                                  {"ffn_gate.weight", K::Matrix, e, f, split_ffn, &L::ffn_gate},
                                  {"ffn_up.weight", K::Matrix, e, split_ffn ? f : 2 * f, true, &L::ffn_up},
                                  {"ffn_down.weight", K::Matrix, f, e, true, &L::ffn_down},
                              });
  }
  specs.push_back({"post_ffw_norm.weight", K::Norm, e, 0, hp.post_norms, &L::post_ffn_norm});
  return specs;
}

Weight expert_matrix(const Weight& stacked, int32_t n_expert, int32_t e) {
  Weight w = stacked;
  w.rows = stacked.rows / n_expert;
  w.data = stacked.row(w.rows * e);
  return w;
}

void for_each_weight(const HParams& hp, const std::function<void(const WeightSpec&)>& f) {
  for (const WeightSpec& spec : layer_weights(hp)) f(spec);
}

void for_each_weight(const Model& m, const std::function<void(const Weight&, WeightKind)>& f) {
  if (m.encoder) {
    m.encoder->for_each_weight(f);
    return;
  }
  f(m.tok_embd, WeightKind::Table);
  f(m.output_norm, WeightKind::Norm);
  f(m.output, WeightKind::Matrix);
  const std::vector<WeightSpec> specs = layer_weights(m.hp);
  for (const LayerWeights& l : m.layers)
    for (const WeightSpec& spec : specs) {
      const Weight& w = l.*spec.member;
      if (!w) continue;
      if (spec.experts == 0) {
        f(w, spec.kind);
        continue;
      }
      for (int32_t e = 0; e < spec.experts; ++e) f(expert_matrix(w, static_cast<int32_t>(spec.experts), e), spec.kind);
    }
}

HParams read_hparams(const gguf::File& f) {
  HParams hp;
  hp.arch = f.get_string("general.architecture", "");
  if (hp.arch.empty()) fail(ErrorKind::BadInput, f.name() + ": general.architecture is missing");
  const ArchSpec* spec = find_arch(hp.arch);
  if (!spec) {
    std::string list;
    for (const auto& a : supported_archs()) list += (list.empty() ? "" : ", ") + a;
    fail(ErrorKind::Unsupported,
         f.name() + ": architecture '" + hp.arch + "' is not supported (supported: " + list + ")");
  }
  const std::string a = hp.arch + ".";
  apply_arch(*spec, hp);
  hp.n_embd = get_count(f, a + "embedding_length", true);
  hp.n_layer = get_count(f, a + "block_count", true);
  hp.n_head = get_count(f, a + "attention.head_count", true);
  hp.n_head_kv = get_count(f, a + "attention.head_count_kv", false, hp.n_head);
  hp.n_ff = get_count(f, a + "feed_forward_length", true);
  hp.n_ctx_train = get_count(f, a + "context_length", false, 2048);
  if (hp.n_embd % hp.n_head != 0 && !f.find(a + "attention.key_length"))
    fail(ErrorKind::BadInput,
         f.name() + ": embedding_length is not a multiple of head_count and key_length is missing");
  hp.head_dim = get_count(f, a + "attention.key_length", false, hp.n_embd / hp.n_head);
  const int32_t v_dim = get_count(f, a + "attention.value_length", false, hp.head_dim);
  if (v_dim != hp.head_dim)
    fail(ErrorKind::Unsupported, f.name() + ": value_length " + std::to_string(v_dim) + " differs from key_length " +
                                     std::to_string(hp.head_dim));
  hp.n_rot = get_count(f, a + "rope.dimension_count", false, hp.head_dim);
  if (hp.n_rot > hp.head_dim || hp.n_rot % 2 != 0)
    fail(ErrorKind::BadInput, f.name() + ": rope.dimension_count " + std::to_string(hp.n_rot) +
                                  " is invalid for head size " + std::to_string(hp.head_dim));
  if (hp.n_head % hp.n_head_kv != 0)
    fail(ErrorKind::BadInput, f.name() + ": head_count " + std::to_string(hp.n_head) +
                                  " is not a multiple of head_count_kv " + std::to_string(hp.n_head_kv));
  refuse_unsupported_keys(f, a, *spec);
  read_experts(f, a, *spec, hp);
  if (f.find(a + "attention.sliding_window")) hp.sliding_window = get_count(f, a + "attention.sliding_window", true);
  if (spec->swa_period > 0 && hp.sliding_window > 0) {
    hp.swa_layers = swa_pattern(f, a, hp, spec->swa_period);
    hp.rope_theta_swa = static_cast<float>(f.get_f64(a + "rope.freq_base_swa", 10000.0));  // llama.cpp's default
  }
  if (spec->scale_embeddings) hp.embd_scale = static_cast<float>(std::sqrt(static_cast<double>(hp.n_embd)));
  if (const gguf::Value* v = f.find(a + "attention.scale")) {
    hp.attn_scale = static_cast<float>(v->as_f64(f.name() + ": " + a + "attention.scale"));
    if (!(hp.attn_scale > 0)) fail(ErrorKind::BadInput, f.name() + ": " + a + "attention.scale must be positive");
  } else if (spec->swa_period > 0 && hp.n_layer == 62) {
    // llama.cpp's Gemma 3 27B rule for files without the key: query_pre_attn_scalar = n_embd / n_head.
    hp.attn_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hp.n_embd / hp.n_head)));
  }
  if (spec->long_rope) {
    hp.n_ctx_orig = get_count(f, a + "rope.scaling.original_context_length", false, hp.n_ctx_train);
    const double ratio = static_cast<double>(hp.n_ctx_train) / hp.n_ctx_orig;
    // Without the key, the factor transformers derives from the two context lengths.
    const double derived = ratio > 1 ? std::sqrt(1 + std::log(ratio) / std::log(double(hp.n_ctx_orig))) : 1.0;
    hp.rope_attn_factor = static_cast<float>(f.get_f64(a + "rope.scaling.attn_factor", derived));
  }
  hp.rms_eps = static_cast<float>(f.get_f64(a + "attention.layer_norm_rms_epsilon", 1e-5));
  hp.rope_theta = static_cast<float>(f.get_f64(a + "rope.freq_base", 10000.0));
  const std::string scaling = f.get_string(a + "rope.scaling.type", "none");
  if (scaling == "linear") {
    const double factor = f.get_f64(a + "rope.scaling.factor", 1.0);
    if (!(factor > 0)) fail(ErrorKind::BadInput, f.name() + ": rope.scaling.factor must be positive");
    hp.rope_freq_scale = static_cast<float>(1.0 / factor);
  } else if (scaling != "none") {
    fail(ErrorKind::Unsupported, f.name() + ": rope scaling type '" + scaling + "' is not supported");
  }
  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  if (!embd || embd->shape.size() != 2)
    fail(ErrorKind::BadInput, f.name() + ": tensor token_embd.weight is missing or not 2-D");
  hp.n_vocab = static_cast<int32_t>(embd->shape[1]);
  return hp;
}

std::unique_ptr<Model> Model::load(const std::string& path) { return from_file(gguf::File::open(path)); }

std::unique_ptr<Model> Model::from_file(std::unique_ptr<gguf::File> file) {
  auto m = std::make_unique<Model>();
  if (is_bert_file(*file)) {
    m->encoder = BertModel::load(*file);
    m->hp.arch = "bert";
    m->hp.n_vocab = m->encoder->hp.n_vocab;
    m->hp.n_embd = m->encoder->hp.n_embd;
    m->hp.n_ctx_train = m->encoder->hp.n_ctx_train;
    m->hp.n_head = m->hp.n_head_kv = m->hp.head_dim = 1;  // no KV cache is used; keeps sizes non-zero
    m->file = std::move(file);
    return m;
  }
  m->hp = read_hparams(*file);
  const HParams& hp = m->hp;
  WeightLoader w(*file, hp);
  m->tok_embd = w.get("token_embd.weight", hp.n_embd, hp.n_vocab);
  m->output_norm = w.get("output_norm.weight", hp.n_embd, 0);
  m->output = w.get("output.weight", hp.n_embd, hp.n_vocab, false);
  if (!m->output) m->output = m->tok_embd;  // tied embeddings
  m->rope_freqs = w.get("rope_freqs.weight", hp.n_rot / 2, 0, false);
  m->rope_long = w.get("rope_factors_long.weight", hp.n_rot / 2, 0, false);
  m->rope_short = w.get("rope_factors_short.weight", hp.n_rot / 2, 0, false);
  if (m->rope_long || m->rope_short) {
    if (!m->rope_long || !m->rope_short || m->rope_freqs || hp.n_ctx_orig == 0)
      fail(ErrorKind::BadInput, file->name() +
                                    ": LongRoPE needs both rope_factors_long and rope_factors_short (and no "
                                    "rope_freqs) in a " +
                                    hp.arch + " model");
    m->use_context(hp.n_ctx_train);
  }
  const std::vector<WeightSpec> specs = layer_weights(hp);
  const int64_t q = hp.q_dim(), kv = hp.kv_dim();
  for (int il = 0; il < hp.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    LayerWeights l;
    for (const WeightSpec& spec : specs)
      l.*spec.member = w.get(p + spec.suffix, spec.cols, spec.rows, spec.required, spec.experts);
    if (hp.fused_qkv) {
      l.wq = row_view(l.wqkv, 0, q);
      l.wk = row_view(l.wqkv, q, kv);
      l.wv = row_view(l.wqkv, q + kv, kv);
      l.wqkv = Weight{};  // read through its views only
    }
    if (hp.fused_gate_up) {
      l.ffn_gate = row_view(l.ffn_up, 0, hp.n_ff);
      l.ffn_up = row_view(l.ffn_up, hp.n_ff, hp.n_ff);
    }
    m->layers.push_back(std::move(l));
  }
  // A tensor no weight reads would be silently dropped from the computation (an output bias, an
  // expert, a LayerNorm bias...): refuse the file instead, naming it.
  std::set<std::string, std::less<>> used;
  for_each_weight(*m, [&](const Weight& wt, WeightKind) { used.insert(wt.name); });
  for (const Weight* r : {&m->rope_freqs, &m->rope_long, &m->rope_short})
    if (*r) used.insert(r->name);
  for (const gguf::TensorInfo& t : file->tensors())
    if (!used.count(t.name))
      fail(ErrorKind::Unsupported, file->name() + ": tensor " + t.name + " is not used by hayate's " + hp.arch +
                                       " forward pass; the model needs computation hayate does not implement");
  m->file = std::move(file);
  return m;
}

void Model::use_context(int32_t n_ctx) {
  if (rope_long && rope_short) rope_freqs = n_ctx > hp.n_ctx_orig ? rope_long : rope_short;
}

size_t Model::weight_bytes() const {
  size_t total = 0;
  for (const auto& t : file->tensors()) total += t.nbytes;
  return total;
}

}  // namespace hayate
