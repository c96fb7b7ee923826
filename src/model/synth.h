// Random-weight models of any supported architecture and shape, deterministic from a seed:
// the project's own fixtures for shape, speed and loader tests (no model can be downloaded).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace hayate {

struct SynthOptions {
  std::string arch = "llama";
  int32_t n_embd = 256;
  int32_t n_layer = 4;
  int32_t n_head = 8;
  int32_t n_head_kv = 4;
  int32_t head_dim = 0;  // 0: n_embd / n_head
  int32_t n_ff = 768;
  int32_t n_ctx = 2048;
  int32_t n_vocab = 0;  // 0: the tokenizer's size
  float rope_theta = 10000.0f;
  float rms_eps = 1e-5f;
  bool tie_embeddings = false;
  int32_t sliding_window = 0;     // > 0: attention.sliding_window (Mistral-style windowed attention)
  std::vector<bool> swa_pattern;  // non-empty: attention.sliding_window_pattern, one entry a layer (gemma3)
  float rope_theta_swa = 0.0f;    // > 0: rope.freq_base_swa
  float attn_scale = 0.0f;        // > 0: attention.scale
  // > 0: LongRoPE (phi3): rope_factors_long / rope_factors_short and this original context
  int32_t long_rope_original = 0;
  // > 0: a mixture of n_expert experts of n_ff_exp rows (0: n_ff) in every layer, n_expert_used
  // per token (llama with experts is Mixtral's layout; qwen3moe needs them).
  int32_t n_expert = 0;
  int32_t n_expert_used = 2;
  int32_t n_ff_exp = 0;
  uint64_t seed = 42;
  std::string file_type = "f16";  // a name of quant::file_type_names()
  std::string vocab_from;         // a GGUF whose tokenizer.* metadata is copied; empty: built-in byte tokenizer
  std::string name;               // general.name; default "<arch>-random-<shape> (random weights)"
};

// Writes the model to `path` (atomically). Prints one line per step to `log`.
void synth_model(const SynthOptions& opt, const std::string& path, std::ostream& log);

// Quantizes (or converts) every weight of `in` to the file type's mix and writes `out`.
// file_type: a name of quant::file_type_names() (the *_pure ones put one type in every weight).
void quantize_model(const std::string& in, const std::string& out, const std::string& file_type, int n_threads,
                    std::ostream& log);

}  // namespace hayate
