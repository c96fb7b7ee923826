// Random-weight CLIP vision towers + LLaVA projectors as mmproj GGUF files, deterministic from a
// seed: the fixtures of the vision tests and the encoder benchmark (no model is downloaded).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace hayate::vision {

struct ClipSynthOptions {
  int32_t image_size = 56;
  int32_t patch_size = 14;
  int32_t n_embd = 64;
  int32_t n_ff = 128;
  int32_t n_layer = 2;
  int32_t n_head = 4;
  int32_t proj_dim = 64;       // the language model's hidden size
  int32_t feature_layer = -1;  // >= 0: clip.vision.feature_layer = [k]; else llama.cpp's default n_layer - 1
  bool use_gelu = false;       // false: quick_gelu, as CLIP
  uint64_t seed = 7;
  std::string type = "f32";  // matrices: f32 or f16 (vectors are always f32)
};

void synth_mmproj(const ClipSynthOptions& opt, const std::string& path, std::ostream& log);

}  // namespace hayate::vision
