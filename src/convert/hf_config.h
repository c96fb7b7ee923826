// config.json of a Hugging Face causal LM -> the hyperparameters a GGUF file records.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/model.h"

namespace hayate::gguf {
class Writer;
}

namespace hayate::convert {

struct RopeScaling {
  enum class Kind { None, Linear, Llama3, LongRope };
  Kind kind = Kind::None;
  double factor = 1.0;
  // Llama 3.1 ("rope_type": "llama3") only:
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_context = 8192.0;  // also LongRoPE's
  // LongRoPE ("longrope", or its old name "su"; Phi-3): per-frequency divisors for contexts past
  // original_context and within it, and the factor on cos and sin.
  std::vector<float> long_factor, short_factor;
  double attn_factor = 1.0;
};

struct HfConfig {
  std::string hf_architecture;     // "LlamaForCausalLM"
  std::string arch;                // GGUF general.architecture: "llama", "qwen2", "qwen3"
  const ArchSpec* spec = nullptr;  // that architecture's row of the table in model/model.h
  int64_t context_length = 0;
  int64_t embedding_length = 0;
  int64_t block_count = 0;
  int64_t feed_forward_length = 0;
  int64_t head_count = 0;
  int64_t head_count_kv = 0;
  int64_t head_dim = 0;
  int64_t vocab_size = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v (and, unless the architecture requires q/k/v biases, o) projections have biases
  RopeScaling rope_scaling;
  int64_t sliding_window = 0;  // > 0: attention.sliding_window (hf_fields.h says for which classes)
  int64_t rope_dims = 0;       // rope.dimension_count (partial_rotary_factor); 0: head_dim
  // Gemma 3: the layers the window applies to (layer_types), their RoPE base, and
  // query_pre_attn_scalar^-1/2 as attention.scale (0: none written).
  std::vector<bool> swa_layers;
  double rope_theta_swa = 0.0;
  double attention_scale = 0.0;
  // Mixture of experts (hf_fields.h: routes_experts): experts, experts per token, an expert's
  // feed-forward size, whether the chosen probabilities are renormalised.
  int64_t expert_count = 0;
  int64_t expert_used_count = 0;
  int64_t expert_feed_forward_length = 0;
  bool expert_weights_norm = true;
  std::vector<std::string> unknown_fields;  // keys hf_fields.h does not list, for the log
};

// "LlamaForCausalLM" -> "llama" … (ArchSpec::hf_classes); nullopt for a class no architecture lists.
std::optional<std::string> gguf_arch_name(std::string_view hf_architecture);

// The first entry of config.json's "architectures" list (Error(BadInput) when there is none).
std::string hf_architecture(const nlohmann::json& config, const std::string& what);

// Error(Unsupported) for an unknown architecture or rope scaling or a key whose value hayate
// cannot run (hf_fields.h), Error(BadInput) for missing or inconsistent sizes. `what` names the
// file in messages.
HfConfig parse_hf_config(const nlohmann::json& config, const std::string& what);
HfConfig read_hf_config(const std::string& dir);  // Error(NotFound) without config.json

// The ARCH.* hyperparameter keys (general.* is the caller's).
void add_hparams_metadata(const HfConfig& cfg, gguf::Writer& w);

// The Gemma 3 and Phi-3 parts of config.json (hf_config_families.cpp), after the common ones.
void parse_family_config(const nlohmann::json& config, HfConfig& c, const std::string& what);
// A model class's own reading of keys the common table refuses unless neutral (hf_fields.h).
bool class_reads(const std::string& hf_class, std::string_view key);

// Per-frequency divisors for rope_freqs.weight (head_dim / 2 values), as Llama 3.1 scales them.
std::vector<float> llama3_rope_factors(const HfConfig& cfg);

}  // namespace hayate::convert
