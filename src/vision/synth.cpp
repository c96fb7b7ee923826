#include "vision/synth.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "gguf/gguf.h"
#include "model/synth_rng.h"
#include "quant/quant.h"
#include "vision/clip.h"

namespace hayate::vision {
void synth_mmproj(const ClipSynthOptions& o, const std::string& path, std::ostream& log) {
  if (o.image_size <= 0 || o.patch_size <= 0 || o.n_embd <= 0 || o.n_ff <= 0 || o.n_layer <= 0 || o.n_head <= 0 ||
      o.proj_dim <= 0)
    fail(ErrorKind::BadInput, "synth mmproj: every dimension must be positive");
  if (o.image_size % o.patch_size != 0 || o.n_embd % o.n_head != 0)
    fail(ErrorKind::BadInput,
         "synth mmproj: the image size must be a multiple of the patch size, the width of the heads");
  if (o.type != "f32" && o.type != "f16")
    fail(ErrorKind::BadInput, "synth mmproj: type '" + o.type + "' is not f32 or f16");
  const GgmlType mat_type = o.type == "f16" ? GgmlType::F16 : GgmlType::F32;

  gguf::Writer w;
  w.set("general.architecture", gguf::Value::string("clip"));
  w.set("general.name", gguf::Value::string("clip-random-" + std::to_string(o.n_embd) + "x" +
                                            std::to_string(o.n_layer) + " (random weights)"));
  w.set(keys::kProjectorType, gguf::Value::string("mlp"));
  w.set(keys::kHasVision, gguf::Value::boolean(true));
  w.set(keys::kHasLlavaProjector, gguf::Value::boolean(true));
  w.set(keys::kUseGelu, gguf::Value::boolean(o.use_gelu));
  w.set(keys::kImageSize, gguf::Value::u32(static_cast<uint32_t>(o.image_size)));
  w.set(keys::kPatchSize, gguf::Value::u32(static_cast<uint32_t>(o.patch_size)));
  w.set(keys::kEmbd, gguf::Value::u32(static_cast<uint32_t>(o.n_embd)));
  w.set(keys::kFf, gguf::Value::u32(static_cast<uint32_t>(o.n_ff)));
  w.set(keys::kBlocks, gguf::Value::u32(static_cast<uint32_t>(o.n_layer)));
  w.set(keys::kProjDim, gguf::Value::u32(static_cast<uint32_t>(o.proj_dim)));
  w.set(keys::kHeads, gguf::Value::u32(static_cast<uint32_t>(o.n_head)));
  w.set(keys::kEps, gguf::Value::f32(1e-5f));
  w.set(keys::kMean, gguf::Value::f32_array({0.48145466f, 0.4578275f, 0.40821073f}));
  w.set(keys::kStd, gguf::Value::f32_array({0.26862954f, 0.26130258f, 0.27577711f}));
  if (o.feature_layer >= 0) w.set(keys::kFeatureLayer, gguf::Value::i32_array({o.feature_layer}));

  uint64_t stream = o.seed;
  // Norm weights around 1, everything else N(0, scale): 1/sqrt(fan-in) for matrices keeps a
  // random tower's activations in range; biases and embeddings small but not zero, so a
  // dropped term shows in the tests.
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float mean, float scale, bool matrix) {
    const GgmlType type = matrix ? mat_type : GgmlType::F32;
    const uint64_t seed = stream++ * 0x9e3779b97f4a7c15ull + 1;
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    w.add_tensor(name, type, std::move(shape), [=](uint8_t* dst, size_t) {
      SynthRng rng{seed};
      std::vector<float> v(static_cast<size_t>(n));
      for (float& x : v) x = mean + scale * rng.normal();
      quant::quantize_row(type, v.data(), dst, n);
    });
  };
  const int64_t d = o.n_embd, p = o.patch_size, ff = o.n_ff, out = o.proj_dim;
  const int64_t n_pos = (o.image_size / p) * (o.image_size / p) + 1;
  auto inv_sqrt = [](int64_t n) { return 1.0f / std::sqrt(static_cast<float>(n)); };
  add("v.patch_embd.weight", {p, p, 3, d}, 0, inv_sqrt(3 * p * p), true);
  add("v.class_embd", {d}, 0, 0.5f, false);
  add("v.position_embd.weight", {d, n_pos}, 0, 0.5f, false);
  add("v.pre_ln.weight", {d}, 1, 0.1f, false);
  add("v.pre_ln.bias", {d}, 0, 0.1f, false);
  for (int il = 0; il < o.n_layer; ++il) {
    auto t = [&](const char* s) { return block_tensor(il, s); };
    add(t("ln1.weight"), {d}, 1, 0.1f, false);
    add(t("ln1.bias"), {d}, 0, 0.1f, false);
    for (const char* proj : {"attn_q", "attn_k", "attn_v", "attn_out"}) {
      add(t((std::string(proj) + ".weight").c_str()), {d, d}, 0, inv_sqrt(d), true);
      add(t((std::string(proj) + ".bias").c_str()), {d}, 0, 0.1f, false);
    }
    add(t("ln2.weight"), {d}, 1, 0.1f, false);
    add(t("ln2.bias"), {d}, 0, 0.1f, false);
    add(t("ffn_up.weight"), {d, ff}, 0, inv_sqrt(d), true);
    add(t("ffn_up.bias"), {ff}, 0, 0.1f, false);
    add(t("ffn_down.weight"), {ff, d}, 0, inv_sqrt(ff), true);
    add(t("ffn_down.bias"), {d}, 0, 0.1f, false);
  }
  add("mm.0.weight", {d, out}, 0, inv_sqrt(d), true);
  add("mm.0.bias", {out}, 0, 0.1f, false);
  add("mm.2.weight", {out, out}, 0, inv_sqrt(out), true);
  add("mm.2.bias", {out}, 0, 0.1f, false);
  log << "synth: writing a random CLIP vision tower + mlp projector (" << o.n_layer << " layers, " << o.n_embd
      << " wide, " << o.image_size << " px / " << o.patch_size << ") to " << path << "\n";
  w.write(path);
}

}  // namespace hayate::vision
