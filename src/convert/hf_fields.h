// The config.json keys hayate knows, each with how it is handled: read into the GGUF file,
// ignored because it does not change what the model computes at inference, or refused unless it
// has its neutral value because hayate's forward pass does not implement what it asks for. A
// model hayate cannot run exactly is refused by name at conversion, never converted to run wrongly.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hayate::convert {

enum class FieldHandling {
  Read,         // parsed by parse_hf_config and written to the GGUF file
  Ignored,      // metadata or training-only: no effect on the forward pass
  Conditional,  // honoured for some model classes, ignored by transformers for the others
  NeutralOnly,  // refused unless its value leaves the computation as hayate does it
};

struct HfField {
  const char* key;
  FieldHandling handling;
  const char* note;  // what hayate does with it, or what a non-neutral value would need
  // NeutralOnly: true when the value changes nothing (absent keys are always neutral).
  bool (*neutral)(const nlohmann::json& value) = nullptr;
};

const std::vector<HfField>& hf_fields();

// Model classes whose config's sliding_window limits attention (transformers' Mistral); other
// classes do not read it (Qwen2/Qwen3 only with use_sliding_window, which is refused).
bool honours_sliding_window(const std::string& hf_class);

// Model classes whose feed-forward is a mixture of experts (Mixtral, Qwen3-MoE): their expert
// keys (num_local_experts / num_experts, num_experts_per_tok) are read, not refused.
bool routes_experts(const std::string& hf_class);

// Error(Unsupported) naming the first key whose value hayate cannot run ("config.json:
// 'final_logit_softcapping' is 30.0: soft-capping of the output logits (gemma2), which hayate
// does not implement"). `hf_class` decides the Conditional keys.
void check_hf_fields(const nlohmann::json& config, const std::string& hf_class, const std::string& what);

// The keys of config.json the table does not list (convert names them in its log).
std::vector<std::string> unknown_hf_fields(const nlohmann::json& config);

}  // namespace hayate::convert
