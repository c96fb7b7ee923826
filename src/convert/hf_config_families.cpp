// The config.json fields of Gemma 3 (interleaved windows, per-kind RoPE, query scale, GELU) and
// Phi-3 (LongRoPE, partial rotary), read as transformers reads them, in its 4.x and 5.x spellings.
#include <algorithm>
#include <cmath>

#include "convert/hf_config.h"
#include "convert/json_file.h"
#include "core/error.h"

namespace hayate::convert {
namespace {

using J = nlohmann::json;

std::vector<float> float_list(const J& obj, const char* key, const std::string& what) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_array() ||
      !std::all_of(it->begin(), it->end(), [](const J& v) { return v.is_number(); }))
    fail(ErrorKind::BadInput, what + ": rope_scaling." + key + " must be a list of numbers");
  std::vector<float> out;
  for (const J& v : *it) out.push_back(v.get<float>());
  return out;
}

// The RoPE object that holds the scaling fields: rope_scaling (Hub checkpoints), else
// transformers 5's rope_parameters.
const J* rope_object(const J& j) {
  for (const char* key : {"rope_scaling", "rope_parameters"}) {
    const auto it = j.find(key);
    if (it != j.end() && it->is_object()) return &*it;
  }
  return nullptr;
}

// Gemma3TextConfig: layer_types, else the older sliding_window_pattern (every p-th layer
// global), else transformers' default of 6; RoPE per layer kind: transformers 5's
// rope_parameters {full_attention, sliding_attention}, or rope_theta / rope_local_base_freq with
// rope_scaling on the global layers only.
void parse_gemma3(const J& j, HfConfig& c, const std::string& what) {
  const std::string act = json_string(j, "hidden_activation", what).value_or("gelu_pytorch_tanh");
  if (act != "gelu_pytorch_tanh")
    fail(ErrorKind::Unsupported, what + ": 'hidden_activation' is \"" + act +
                                     "\"; hayate implements Gemma 3's gelu_pytorch_tanh only, so the model cannot be "
                                     "converted to run exactly");
  if (c.sliding_window == 0) fail(ErrorKind::BadInput, what + ": a Gemma 3 config needs 'sliding_window'");
  c.swa_layers.assign(static_cast<size_t>(c.block_count), false);
  if (const auto it = j.find("layer_types"); it != j.end() && !it->is_null()) {
    if (!it->is_array() || it->size() != c.swa_layers.size())
      fail(ErrorKind::BadInput,
           what + ": 'layer_types' must list one type per layer (" + std::to_string(c.block_count) + ")");
    for (size_t i = 0; i < it->size(); ++i) {
      const J& t = (*it)[i];
      if (t != "sliding_attention" && t != "full_attention")
        fail(ErrorKind::Unsupported, what + ": layer_types[" + std::to_string(i) + "] is " + t.dump() +
                                         "; Gemma 3 layers are sliding_attention or full_attention");
      c.swa_layers[i] = t == "sliding_attention";
    }
  } else {
    const int64_t period = json_int(j, "sliding_window_pattern", what).value_or(6);
    if (period <= 0) fail(ErrorKind::BadInput, what + ": 'sliding_window_pattern' must be positive");
    for (int64_t i = 0; i < c.block_count; ++i) c.swa_layers[static_cast<size_t>(i)] = (i + 1) % period != 0;
  }

  const auto params = j.find("rope_parameters");
  if (params != j.end() && params->is_object() && params->contains("full_attention")) {
    const J& full = params->at("full_attention");
    const J& local = params->value("sliding_attention", J::object());
    c.rope_theta = json_number(full, "rope_theta", what).value_or(1000000.0);
    c.rope_theta_swa = json_number(local, "rope_theta", what).value_or(10000.0);
    const std::string local_type = json_string(local, "rope_type", what).value_or("default");
    if (local_type != "default")
      fail(ErrorKind::Unsupported, what + ": rope_parameters.sliding_attention has rope_type '" + local_type +
                                       "'; hayate scales the RoPE of Gemma 3's global layers only");
    c.rope_scaling = RopeScaling{};
    const std::string type = json_string(full, "rope_type", what).value_or("default");
    if (type == "linear") {
      c.rope_scaling.kind = RopeScaling::Kind::Linear;
      c.rope_scaling.factor = json_number(full, "factor", what).value_or(1.0);
    } else if (type != "default") {
      fail(ErrorKind::Unsupported, what + ": rope_parameters.full_attention has rope_type '" + type +
                                       "'; hayate converts 'default' and 'linear' for Gemma 3");
    }
  } else {
    c.rope_theta = json_number(j, "rope_theta", what).value_or(1000000.0);
    c.rope_theta_swa = json_number(j, "rope_local_base_freq", what).value_or(10000.0);
  }
  if (c.rope_scaling.kind != RopeScaling::Kind::None && c.rope_scaling.kind != RopeScaling::Kind::Linear)
    fail(ErrorKind::Unsupported, what + ": hayate converts linear RoPE scaling only for Gemma 3");
  if (!(c.rope_theta > 0) || !(c.rope_theta_swa > 0) || !(c.rope_scaling.factor > 0))
    fail(ErrorKind::BadInput, what + ": Gemma 3's RoPE bases and scaling factor must be positive");

  const double scalar = json_number(j, "query_pre_attn_scalar", what).value_or(256.0);
  if (!(scalar > 0)) fail(ErrorKind::BadInput, what + ": 'query_pre_attn_scalar' must be positive");
  c.attention_scale = 1.0 / std::sqrt(scalar);
}

// Phi3Config: rotary dimensions from partial_rotary_factor, LongRoPE's factors and the attention
// factor transformers derives when the config gives none.
void parse_phi3(const J& j, HfConfig& c, const std::string& what) {
  const J* rope = rope_object(j);
  std::optional<double> partial = json_number(j, "partial_rotary_factor", what);
  if (!partial && rope) partial = json_number(*rope, "partial_rotary_factor", what);
  const double factor = partial.value_or(1.0);
  c.rope_dims = static_cast<int64_t>(static_cast<double>(c.head_dim) * factor);  // int(), as transformers
  if (!(factor > 0 && factor <= 1) || c.rope_dims < 2 || c.rope_dims % 2 != 0)
    fail(ErrorKind::BadInput, what + ": partial_rotary_factor " + std::to_string(factor) +
                                  " gives no even number of rotary dimensions for head_dim " +
                                  std::to_string(c.head_dim));
  RopeScaling& rs = c.rope_scaling;
  if (rs.kind == RopeScaling::Kind::None) return;
  if (rs.kind != RopeScaling::Kind::LongRope)
    fail(ErrorKind::Unsupported, what + ": hayate converts LongRoPE ('longrope' or 'su') scaling only for Phi-3");
  rs.long_factor = float_list(*rope, "long_factor", what);
  rs.short_factor = float_list(*rope, "short_factor", what);
  const auto half = static_cast<size_t>(c.rope_dims / 2);
  if (rs.long_factor.size() != half || rs.short_factor.size() != half)
    fail(ErrorKind::BadInput, what + ": LongRoPE's long_factor and short_factor need " + std::to_string(half) +
                                  " values each (rotary dimensions / 2)");
  std::optional<double> original = json_number(*rope, "original_max_position_embeddings", what);
  if (!original) original = json_number(j, "original_max_position_embeddings", what);
  if (!original || !(*original >= 2))
    fail(ErrorKind::BadInput, what + ": LongRoPE needs original_max_position_embeddings (at least 2)");
  rs.original_context = *original;
  const double ratio = static_cast<double>(c.context_length) / *original;
  // transformers 4 derives the factor from the two context lengths, transformers 5 takes a given
  // 'factor' first: where they would differ, neither can be matched for sure.
  if (const std::optional<double> given = json_number(*rope, "factor", what); given && *given != ratio)
    fail(ErrorKind::Unsupported, what + ": LongRoPE's 'factor' " + std::to_string(*given) +
                                     " differs from max_position_embeddings / original_max_position_embeddings (" +
                                     std::to_string(ratio) + "), which transformers versions read differently");
  const double derived = ratio > 1 ? std::sqrt(1 + std::log(ratio) / std::log(*original)) : 1.0;
  rs.attn_factor = json_number(*rope, "attention_factor", what).value_or(derived);
}

}  // namespace

bool class_reads(const std::string& hf_class, std::string_view key) {
  if (hf_class == "Gemma3ForCausalLM")
    return key == "hidden_activation" || key == "layer_types" || key == "query_pre_attn_scalar" ||
           key == "sliding_window_pattern" || key == "rope_local_base_freq" || key == "hidden_act";
  if (hf_class == "Phi3ForCausalLM") return key == "partial_rotary_factor";
  return false;
}

void parse_family_config(const J& j, HfConfig& c, const std::string& what) {
  if (c.hf_architecture == "Gemma3ForCausalLM") {
    parse_gemma3(j, c, what);
  } else if (c.hf_architecture == "Phi3ForCausalLM") {
    parse_phi3(j, c, what);
  } else if (c.rope_scaling.kind == RopeScaling::Kind::LongRope) {
    fail(ErrorKind::Unsupported,
         what + ": rope_scaling type 'longrope' is converted for Phi-3 only, not for " + c.hf_architecture);
  }
}

}  // namespace hayate::convert
