#include "convert/hf_config.h"

#include <cmath>
#include <limits>
#include <numbers>

#include "convert/hf_fields.h"
#include "convert/json_file.h"
#include "core/error.h"
#include "gguf/gguf.h"

namespace hayate::convert {

namespace {

int64_t required_size(const nlohmann::json& j, const char* key, const std::string& what) {
  const std::optional<int64_t> v = json_int(j, key, what);
  if (!v) fail(ErrorKind::BadInput, what + ": '" + key + "' is missing");
  if (*v <= 0 || *v > std::numeric_limits<int32_t>::max()) {
    fail(ErrorKind::BadInput, what + ": '" + key + "' is " + std::to_string(*v) + ", not a positive size");
  }
  return *v;
}

// transformers 5 writes the RoPE settings as one "rope_parameters" object (rope_type, rope_theta
// and the scaling fields); Hub checkpoints have "rope_theta" and "rope_scaling". Both are read,
// the older keys first.
const nlohmann::json* rope_parameters(const nlohmann::json& j) {
  const auto it = j.find("rope_parameters");
  return it != j.end() && it->is_object() ? &*it : nullptr;
}

RopeScaling parse_rope_scaling(const nlohmann::json& j, const std::string& what) {
  RopeScaling rs;
  const auto it = j.find("rope_scaling");
  const nlohmann::json* found = it != j.end() && !it->is_null() ? &*it : rope_parameters(j);
  if (!found) return rs;
  if (!found->is_object()) fail(ErrorKind::BadInput, what + ": rope_scaling is not an object");
  const nlohmann::json& r = *found;
  // Newer configs say "rope_type", older ones "type".
  std::string type = json_string(r, "rope_type", what).value_or(json_string(r, "type", what).value_or("default"));
  if (type == "default") return rs;
  rs.factor = json_number(r, "factor", what).value_or(1.0);
  if (!(rs.factor > 0)) fail(ErrorKind::BadInput, what + ": rope_scaling.factor must be positive");
  if (type == "linear") {
    rs.kind = RopeScaling::Kind::Linear;
  } else if (type == "llama3") {
    rs.kind = RopeScaling::Kind::Llama3;
    rs.low_freq_factor = json_number(r, "low_freq_factor", what).value_or(1.0);
    rs.high_freq_factor = json_number(r, "high_freq_factor", what).value_or(4.0);
    rs.original_context = json_number(r, "original_max_position_embeddings", what).value_or(8192.0);
    if (!(rs.high_freq_factor > rs.low_freq_factor) || !(rs.low_freq_factor > 0) || !(rs.original_context > 0)) {
      fail(ErrorKind::BadInput, what +
                                    ": llama3 rope_scaling needs 0 < low_freq_factor < high_freq_factor and a "
                                    "positive original_max_position_embeddings");
    }
  } else if (type == "longrope" || type == "su") {
    rs.kind = RopeScaling::Kind::LongRope;  // its fields: parse_family_config, which knows the class
  } else {
    fail(ErrorKind::Unsupported, what + ": rope_scaling type '" + type +
                                     "' is not supported (hayate converts 'linear', 'llama3' and, for Phi-3, "
                                     "'longrope')");
  }
  return rs;
}

// Mixtral names its expert count num_local_experts, Qwen3-MoE num_experts; Mixtral always
// renormalises the top-k probabilities, Qwen3-MoE when norm_topk_prob (false by default).
void read_experts(const nlohmann::json& j, const std::string& what, HfConfig& c) {
  const char* count_key = j.contains("num_local_experts") ? "num_local_experts" : "num_experts";
  c.expert_count = required_size(j, count_key, what);
  c.expert_used_count = required_size(j, "num_experts_per_tok", what);
  if (c.expert_used_count > c.expert_count)
    fail(ErrorKind::BadInput, what + ": num_experts_per_tok (" + std::to_string(c.expert_used_count) +
                                  ") is more than the " + std::to_string(c.expert_count) + " experts");
  c.expert_feed_forward_length =
      j.contains("moe_intermediate_size") ? required_size(j, "moe_intermediate_size", what) : c.feed_forward_length;
  c.expert_weights_norm =
      c.hf_architecture == "MixtralForCausalLM" || json_bool(j, "norm_topk_prob", what).value_or(false);
}

}  // namespace

std::optional<std::string> gguf_arch_name(std::string_view hf_architecture) {
  const ArchSpec* spec = find_arch_for_hf_class(std::string(hf_architecture));
  if (!spec) return std::nullopt;
  return spec->name;
}

std::string hf_architecture(const nlohmann::json& config, const std::string& what) {
  const auto it = config.find("architectures");
  if (it == config.end() || !it->is_array() || it->empty() || !(*it)[0].is_string()) {
    fail(ErrorKind::BadInput, what + ": no 'architectures' list naming the model class");
  }
  return (*it)[0].get<std::string>();
}

HfConfig parse_hf_config(const nlohmann::json& j, const std::string& what) {
  if (!j.is_object()) fail(ErrorKind::BadInput, what + ": not a JSON object");
  HfConfig c;
  c.hf_architecture = hf_architecture(j, what);
  c.spec = find_arch_for_hf_class(c.hf_architecture);
  if (!c.spec) {
    const std::vector<std::string> classes = supported_hf_classes();
    std::string list;
    for (size_t i = 0; i < classes.size(); ++i)
      list += (i == 0 ? "" : i + 1 == classes.size() ? " and " : ", ") + classes[i];
    fail(ErrorKind::Unsupported,
         what + ": architecture '" + c.hf_architecture + "' is not supported (hayate converts " + list + ")");
  }
  c.arch = c.spec->name;
  c.context_length = required_size(j, "max_position_embeddings", what);
  c.embedding_length = required_size(j, "hidden_size", what);
  c.block_count = required_size(j, "num_hidden_layers", what);
  c.feed_forward_length = required_size(j, "intermediate_size", what);
  c.head_count = required_size(j, "num_attention_heads", what);
  c.vocab_size = required_size(j, "vocab_size", what);
  c.head_count_kv = j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null()
                        ? required_size(j, "num_key_value_heads", what)
                        : c.head_count;
  if (c.head_count % c.head_count_kv != 0) {
    fail(ErrorKind::BadInput, what + ": num_attention_heads (" + std::to_string(c.head_count) +
                                  ") is not a multiple of num_key_value_heads (" + std::to_string(c.head_count_kv) +
                                  ")");
  }
  if (j.contains("head_dim") && !j["head_dim"].is_null()) {
    c.head_dim = required_size(j, "head_dim", what);
  } else {
    if (c.embedding_length % c.head_count != 0) {
      fail(ErrorKind::BadInput,
           what + ": hidden_size is not a multiple of num_attention_heads and no head_dim is given");
    }
    c.head_dim = c.embedding_length / c.head_count;
  }
  if (c.head_dim % 2 != 0) fail(ErrorKind::BadInput, what + ": head_dim " + std::to_string(c.head_dim) + " is odd");
  c.rms_norm_eps = json_number(j, "rms_norm_eps", what).value_or(1e-6);
  c.rope_theta =
      json_number(j, "rope_theta", what)
          .value_or(rope_parameters(j) ? json_number(*rope_parameters(j), "rope_theta", what).value_or(10000.0)
                                       : 10000.0);
  if (!(c.rms_norm_eps > 0) || !(c.rope_theta > 0)) {
    fail(ErrorKind::BadInput, what + ": rms_norm_eps and rope_theta must be positive");
  }
  c.tie_word_embeddings = json_bool(j, "tie_word_embeddings", what).value_or(false);
  c.attention_bias = c.spec->qkv_bias || json_bool(j, "attention_bias", what).value_or(false);
  check_hf_fields(j, c.hf_architecture, what);
  c.unknown_fields = unknown_hf_fields(j);
  c.rope_scaling = parse_rope_scaling(j, what);
  if (honours_sliding_window(c.hf_architecture) && j.contains("sliding_window") && !j["sliding_window"].is_null())
    c.sliding_window = required_size(j, "sliding_window", what);
  parse_family_config(j, c, what);
  if (routes_experts(c.hf_architecture)) read_experts(j, what, c);
  return c;
}

HfConfig read_hf_config(const std::string& dir) {
  const std::string path = join_path(dir, "config.json");
  if (!is_file(path)) {
    fail(ErrorKind::NotFound, dir + ": no config.json (is this a Hugging Face model directory?)");
  }
  return parse_hf_config(read_json_file(path), path);
}

void add_hparams_metadata(const HfConfig& c, gguf::Writer& w) {
  using gguf::Value;
  const std::string& a = c.arch;
  const auto u32 = [](int64_t v) { return Value::u32(static_cast<uint32_t>(v)); };
  w.set(a + ".context_length", u32(c.context_length));
  w.set(a + ".embedding_length", u32(c.embedding_length));
  w.set(a + ".block_count", u32(c.block_count));
  w.set(a + ".feed_forward_length", u32(c.feed_forward_length));
  w.set(a + ".attention.head_count", u32(c.head_count));
  w.set(a + ".attention.head_count_kv", u32(c.head_count_kv));
  w.set(a + ".attention.layer_norm_rms_epsilon", Value::f32(static_cast<float>(c.rms_norm_eps)));
  w.set(a + ".attention.key_length", u32(c.head_dim));
  w.set(a + ".attention.value_length", u32(c.head_dim));
  w.set(a + ".rope.dimension_count", u32(c.rope_dims > 0 ? c.rope_dims : c.head_dim));
  w.set(a + ".rope.freq_base", Value::f32(static_cast<float>(c.rope_theta)));
  if (!c.swa_layers.empty()) {
    std::vector<Value> pattern;
    for (const bool b : c.swa_layers) pattern.push_back(Value::boolean(b));
    w.set(a + ".attention.sliding_window_pattern", Value::array(gguf::ValueType::Bool, std::move(pattern)));
    w.set(a + ".rope.freq_base_swa", Value::f32(static_cast<float>(c.rope_theta_swa)));
  }
  if (c.attention_scale > 0) w.set(a + ".attention.scale", Value::f32(static_cast<float>(c.attention_scale)));
  if (c.rope_scaling.kind == RopeScaling::Kind::LongRope) {
    w.set(a + ".rope.scaling.original_context_length", u32(static_cast<int64_t>(c.rope_scaling.original_context)));
    w.set(a + ".rope.scaling.attn_factor", Value::f32(static_cast<float>(c.rope_scaling.attn_factor)));
  }
  if (c.rope_scaling.kind == RopeScaling::Kind::Linear) {
    w.set(a + ".rope.scaling.type", Value::string("linear"));
    w.set(a + ".rope.scaling.factor", Value::f32(static_cast<float>(c.rope_scaling.factor)));
  }
  w.set(a + ".vocab_size", u32(c.vocab_size));
  if (c.sliding_window > 0) w.set(a + ".attention.sliding_window", u32(c.sliding_window));
  if (c.expert_count > 0) {
    w.set(a + ".expert_count", u32(c.expert_count));
    w.set(a + ".expert_used_count", u32(c.expert_used_count));
    w.set(a + ".expert_feed_forward_length", u32(c.expert_feed_forward_length));
    w.set(a + ".expert_weights_norm", Value::boolean(c.expert_weights_norm));
  }
}

std::vector<float> llama3_rope_factors(const HfConfig& c) {
  const RopeScaling& rs = c.rope_scaling;
  const double low_freq_wavelen = rs.original_context / rs.low_freq_factor;
  const double high_freq_wavelen = rs.original_context / rs.high_freq_factor;
  std::vector<float> factors;
  for (int64_t i = 0; i < c.head_dim / 2; ++i) {
    // The frequency in float, as the reference computes it with float32 tensors.
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(c.head_dim);
    const float freq = 1.0f / std::pow(static_cast<float>(c.rope_theta), exponent);
    const double wavelen = 2.0 * std::numbers::pi / static_cast<double>(freq);
    double f;
    if (wavelen < high_freq_wavelen) {
      f = 1.0;
    } else if (wavelen > low_freq_wavelen) {
      f = rs.factor;
    } else {
      const double smooth =
          (rs.original_context / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
      f = 1.0 / ((1.0 - smooth) / rs.factor + smooth);
    }
    factors.push_back(static_cast<float>(f));
  }
  return factors;
}

}  // namespace hayate::convert
