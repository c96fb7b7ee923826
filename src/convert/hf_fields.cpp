#include "convert/hf_fields.h"

#include <algorithm>

#include "convert/hf_config.h"
#include "core/error.h"

namespace hayate::convert {
namespace {

using J = nlohmann::json;
using H = FieldHandling;

bool is_null(const J& v) { return v.is_null(); }
bool is_false(const J& v) { return v.is_null() || (v.is_boolean() && !v.get<bool>()); }
bool is_true(const J& v) { return v.is_null() || (v.is_boolean() && v.get<bool>()); }
bool is_one(const J& v) { return v.is_null() || (v.is_number() && v.get<double>() == 1.0); }
bool at_most_one(const J& v) { return v.is_null() || (v.is_number() && v.get<double>() <= 1.0); }
bool is_silu(const J& v) { return v.is_null() || v == "silu" || v == "swish"; }
bool is_zero(const J& v) { return v.is_null() || (v.is_number() && v.get<double>() == 0.0); }
bool is_empty_list(const J& v) { return v.is_null() || (v.is_array() && v.empty()); }
bool all_full_attention(const J& v) {
  return v.is_null() ||
         (v.is_array() && std::all_of(v.begin(), v.end(), [](const J& t) { return t == "full_attention"; }));
}
bool all_ones(const J& v) {
  return v.is_null() ||
         (v.is_array() && std::all_of(v.begin(), v.end(), [](const J& t) { return t.is_number() && t == 1; }));
}

const std::vector<HfField> kFields = {
    // What parse_hf_config reads.
    {"architectures", H::Read, "the model class, which picks the architecture"},
    {"hidden_size", H::Read, "embedding_length"},
    {"intermediate_size", H::Read, "feed_forward_length"},
    {"num_hidden_layers", H::Read, "block_count"},
    {"num_attention_heads", H::Read, "attention.head_count"},
    {"num_key_value_heads", H::Read, "attention.head_count_kv"},
    {"head_dim", H::Read, "attention.key_length"},
    {"vocab_size", H::Read, "vocab_size"},
    {"max_position_embeddings", H::Read, "context_length"},
    {"rms_norm_eps", H::Read, "attention.layer_norm_rms_epsilon"},
    {"rope_theta", H::Read, "rope.freq_base"},
    {"rope_scaling", H::Read, "linear and llama3 are converted; other types are refused"},
    {"rope_parameters", H::Read, "transformers 5's rope_theta and rope_scaling"},
    {"tie_word_embeddings", H::Read, "no output.weight: the token table is the output matrix"},
    {"attention_bias", H::Read, "q/k/v/o biases"},
    {"sliding_window", H::Conditional,
     "attention.sliding_window for Mistral, Mixtral, Phi-3 and Gemma 3 (its windowed layers); transformers "
     "ignores it elsewhere"},
    {"original_max_position_embeddings", H::Read, "Phi-3 LongRoPE: rope.scaling.original_context_length"},
    {"rope_local_base_freq", H::NeutralOnly, "a second RoPE base (Gemma 3 reads it: rope.freq_base_swa)", is_null},
    {"sliding_window_pattern", H::NeutralOnly,
     "interleaved windowed and global layers (Gemma 3 reads it: attention.sliding_window_pattern)", is_null},
    {"moe_intermediate_size", H::Read, "expert_feed_forward_length (Qwen3-MoE)"},
    {"norm_topk_prob", H::Read, "expert_weights_norm (Qwen3-MoE; Mixtral always renormalises)"},
    // No effect on the forward pass at inference.
    {"attention_dropout", H::Ignored, "training only"},
    {"hidden_dropout", H::Ignored, "training only"},
    {"initializer_range", H::Ignored, "training only"},
    {"pretraining_tp", H::Ignored, "slices the same matrix product"},
    {"max_window_layers", H::Ignored, "only with use_sliding_window, which is refused"},
    {"use_cache", H::Ignored, "inference bookkeeping"},
    {"cache_implementation", H::Ignored, "transformers' generate() cache choice"},
    {"resid_pdrop", H::Ignored, "training only"},
    {"embd_pdrop", H::Ignored, "training only"},
    {"output_router_logits", H::Ignored, "training only (the router's auxiliary loss)"},
    {"router_aux_loss_coef", H::Ignored, "training only"},
    {"router_jitter_noise", H::Ignored, "training only: transformers adds it in training mode"},
    {"dtype", H::Ignored, "the stored type; convert reads each tensor's own"},
    {"torch_dtype", H::Ignored, "the stored type; convert reads each tensor's own"},
    {"bos_token_id", H::Ignored, "the tokenizer's files say it"},
    {"eos_token_id", H::Ignored, "the tokenizer's files say it"},
    {"pad_token_id", H::Ignored, "the tokenizer's files say it"},
    {"model_type", H::Ignored, "architectures decides"},
    {"transformers_version", H::Ignored, "metadata"},
    {"_name_or_path", H::Ignored, "metadata"},
    // Refused unless neutral: what hayate's forward pass does not implement.
    // Gemma 3 reads hidden_activation (gelu_pytorch_tanh), layer_types, query_pre_attn_scalar;
    // Phi-3 partial_rotary_factor (class_reads, hf_config_families.cpp).
    {"hidden_act", H::NeutralOnly, "a feed-forward activation other than SiLU (SwiGLU)", is_silu},
    {"hidden_activation", H::NeutralOnly, "a feed-forward activation other than SiLU (SwiGLU)", is_silu},
    {"mlp_bias", H::NeutralOnly, "biases in the feed-forward projections", is_false},
    {"use_sliding_window", H::NeutralOnly, "sliding windows in some layers only (max_window_layers)", is_false},
    {"layer_types", H::NeutralOnly, "layers of different attention kinds", all_full_attention},
    {"attn_logit_softcapping", H::NeutralOnly, "soft-capping of attention scores", is_null},
    {"final_logit_softcapping", H::NeutralOnly, "soft-capping of the output logits", is_null},
    {"partial_rotary_factor", H::NeutralOnly, "RoPE over part of each head", is_one},
    {"query_pre_attn_scalar", H::NeutralOnly, "a custom query scale", is_null},
    {"num_local_experts", H::NeutralOnly, "mixture-of-experts layers", at_most_one},
    {"num_experts", H::NeutralOnly, "mixture-of-experts layers", at_most_one},
    {"num_experts_per_tok", H::NeutralOnly, "mixture-of-experts layers", is_null},
    {"decoder_sparse_step", H::NeutralOnly, "dense layers between the mixture-of-experts ones", is_one},
    {"mlp_only_layers", H::NeutralOnly, "dense layers among the mixture-of-experts ones", is_empty_list},
    {"shared_expert_intermediate_size", H::NeutralOnly, "a shared expert beside the routed ones", is_zero},
    {"n_shared_experts", H::NeutralOnly, "shared experts beside the routed ones", is_zero},
    {"embedding_multiplier", H::NeutralOnly, "scaled token embeddings", is_one},
    {"residual_multiplier", H::NeutralOnly, "scaled residual connections", is_one},
    {"attention_multiplier", H::NeutralOnly, "a custom attention scale", is_null},
    {"logits_scaling", H::NeutralOnly, "scaled output logits", is_one},
    {"use_qk_norm", H::NeutralOnly, "q/k norms this architecture does not have", is_false},
    {"qk_layernorm", H::NeutralOnly, "q/k LayerNorms", is_false},
    {"attention_chunk_size", H::NeutralOnly, "chunked attention", is_null},
    {"clip_qkv", H::NeutralOnly, "clamping of q/k/v", is_null},
    {"no_rope_layers", H::NeutralOnly, "layers without RoPE", all_ones},
    {"layer_norm_eps", H::NeutralOnly, "LayerNorm (hayate's architectures use RMSNorm)", is_null},
    {"use_bidirectional_attention", H::NeutralOnly, "bidirectional attention", is_false},
    {"is_causal", H::NeutralOnly, "bidirectional attention", is_true},
};

const char* const kWindowedClasses[] = {"MistralForCausalLM", "MixtralForCausalLM", "Phi3ForCausalLM",
                                        "Gemma3ForCausalLM"};
const char* const kExpertClasses[] = {"MixtralForCausalLM", "Qwen3MoeForCausalLM"};
const char* const kExpertKeys[] = {"num_local_experts", "num_experts", "num_experts_per_tok"};

template <size_t N>
bool listed(const char* const (&list)[N], const std::string& s) {
  return std::find(std::begin(list), std::end(list), s) != std::end(list);
}

}  // namespace

const std::vector<HfField>& hf_fields() { return kFields; }

bool honours_sliding_window(const std::string& hf_class) { return listed(kWindowedClasses, hf_class); }

bool routes_experts(const std::string& hf_class) { return listed(kExpertClasses, hf_class); }

void check_hf_fields(const J& config, const std::string& hf_class, const std::string& what) {
  for (const HfField& f : kFields) {
    if (f.handling != H::NeutralOnly) continue;
    const auto it = config.find(f.key);
    if (it == config.end() || f.neutral(*it) || class_reads(hf_class, f.key)) continue;
    if (routes_experts(hf_class) && listed(kExpertKeys, f.key)) continue;  // read by parse_hf_config
    // A window honoured in every layer may also be written as layer_types of sliding_attention.
    if (std::string(f.key) == "layer_types" && honours_sliding_window(hf_class) && it->is_array() &&
        std::all_of(it->begin(), it->end(), [](const J& t) { return t == "sliding_attention"; }))
      continue;
    fail(ErrorKind::Unsupported, what + ": '" + f.key + "' is " + it->dump() + ", which asks for " + f.note +
                                     "; hayate does not implement that for " + hf_class +
                                     ", so the model cannot be converted to run exactly");
  }
}

std::vector<std::string> unknown_hf_fields(const J& config) {
  std::vector<std::string> out;
  if (!config.is_object()) return out;
  for (const auto& [key, value] : config.items())
    if (std::none_of(kFields.begin(), kFields.end(), [&](const HfField& f) { return key == f.key; }))
      out.push_back(key);
  return out;
}

}  // namespace hayate::convert
