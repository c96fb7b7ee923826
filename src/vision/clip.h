// A CLIP ViT vision tower and the LLaVA MLP projector as data: hyper-parameters from a
// llama.cpp-style mmproj GGUF (clip.vision.* keys) and views of its weights (v.*, mm.*), the way
// model/model.h holds a language model. The encoder that runs it is vision/encoder.h.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "model/model.h"

namespace hayate::vision {

enum class Activation { Gelu, QuickGelu };  // clip.use_gelu: erf GELU; otherwise x * sigmoid(1.702 x)

struct ClipHParams {
  int32_t image_size = 0;  // square input, pixels per side
  int32_t patch_size = 0;
  int32_t n_embd = 0;
  int32_t n_ff = 0;
  int32_t n_layer = 0;  // layers the file describes
  int32_t n_head = 0;
  int32_t proj_dim = 0;  // the projector's output: the language model's hidden size
  float eps = 1e-5f;
  Activation act = Activation::QuickGelu;
  // Layers run before the features are taken: Hugging Face's hidden_states[n_run] (0 is the
  // pre-LayerNorm output). llama.cpp's default for a llava projector is n_layer - 1, which is
  // transformers' vision_feature_layer = -2; clip.vision.feature_layer = [k] gives k.
  int32_t n_run = 0;
  std::array<float, 3> image_mean{0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> image_std{0.26862954f, 0.26130258f, 0.27577711f};

  int32_t patches_per_side() const { return image_size / patch_size; }
  int32_t n_patches() const { return patches_per_side() * patches_per_side(); }
  int32_t n_positions() const { return n_patches() + 1; }  // the class token first
  int32_t head_dim() const { return n_embd / n_head; }
  int32_t patch_dim() const { return 3 * patch_size * patch_size; }
};

struct ClipLayer {
  Weight ln1_w, ln1_b, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;
  Weight ln2_w, ln2_b, up_w, up_b, down_w, down_b;
};

struct ClipModel {
  ClipHParams hp;
  std::unique_ptr<gguf::File> file;
  Weight patch_embd;  // n_embd rows of 3 * patch * patch, in (channel, row, column) order
  Weight patch_bias;  // optional
  Weight class_embd, pos_embd, pre_ln_w, pre_ln_b;
  std::vector<ClipLayer> layers;  // the first n_run of the file's layers
  Weight mm0_w, mm0_b, mm2_w, mm2_b;

  // Opens an mmproj GGUF: Error naming the file and the key or tensor when it is not a CLIP
  // vision tower with an "mlp" projector, or a shape does not match its metadata.
  static std::unique_ptr<ClipModel> load(const std::string& path);
  static std::unique_ptr<ClipModel> from_file(std::unique_ptr<gguf::File> file);
};

// Every weight the encoder hands to backend operations (matrices and their biases).
std::vector<const Weight*> backend_weights(const ClipModel& m);

// The metadata keys and tensor names of an mmproj file, written once for the loader, synth and
// the converter.
namespace keys {
inline constexpr const char* kProjectorType = "clip.projector_type";
inline constexpr const char* kHasVision = "clip.has_vision_encoder";
inline constexpr const char* kHasLlavaProjector = "clip.has_llava_projector";
inline constexpr const char* kUseGelu = "clip.use_gelu";
inline constexpr const char* kImageSize = "clip.vision.image_size";
inline constexpr const char* kPatchSize = "clip.vision.patch_size";
inline constexpr const char* kEmbd = "clip.vision.embedding_length";
inline constexpr const char* kFf = "clip.vision.feed_forward_length";
inline constexpr const char* kBlocks = "clip.vision.block_count";
inline constexpr const char* kProjDim = "clip.vision.projection_dim";
inline constexpr const char* kHeads = "clip.vision.attention.head_count";
inline constexpr const char* kEps = "clip.vision.attention.layer_norm_epsilon";
inline constexpr const char* kMean = "clip.vision.image_mean";
inline constexpr const char* kStd = "clip.vision.image_std";
inline constexpr const char* kFeatureLayer = "clip.vision.feature_layer";
}  // namespace keys

// "v.blk.N.<suffix>"
std::string block_tensor(int layer, const std::string& suffix);

}  // namespace hayate::vision
