// The llama Q/K permutation, end to end: Qwen2 is Llama plus q/k/v biases with Hugging Face's
// rotate-half RoPE on unpermuted weights. So one set of weights converted as Llama (rows
// permuted, pairwise RoPE) and as Qwen2 with zero biases (rows kept, NEOX RoPE) must give the
// same logits in hayate's forward pass — and Llama without the permutation must not.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "convert/convert.h"
#include "convert/safetensors.h"
#include "forward/forward.h"
#include "gguf/gguf.h"
#include "model/model.h"

namespace hayate::convert {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int64_t kHidden = 64, kHeads = 4, kKvHeads = 2, kHeadDim = 16, kFf = 128, kVocab = 50, kLayers = 2;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("hayate_cf_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string path(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// Deterministic weights with a spread that makes attention depend on position.
std::vector<uint8_t> random_f32(size_t n, uint64_t& state, float scale, float offset = 0.0f) {
  std::vector<uint8_t> bytes(n * 4);
  for (size_t i = 0; i < n; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const float u = static_cast<float>(state >> 40) / static_cast<float>(1 << 24) * 2.0f - 1.0f;
    const float v = offset + scale * u;
    std::memcpy(bytes.data() + 4 * i, &v, 4);
  }
  return bytes;
}

// fused: Phi-3's layout, q/k/v rows in one qkv_proj and gate/up rows in one gate_up_proj (the
// same values as the separate tensors).
// The last n tensors of t, stacked by rows into one named `name`.
void fuse(std::vector<StTensorToWrite>& t, const std::string& name, size_t n) {
  StTensorToWrite out{name, "F32", {0, kHidden}, {}};
  for (size_t i = t.size() - n; i < t.size(); ++i) {
    out.shape[0] += t[i].shape[0];
    out.data.insert(out.data.end(), t[i].data.begin(), t[i].data.end());
  }
  t.resize(t.size() - n);
  t.push_back(std::move(out));
}

void make_hf_dir(const std::string& dir, const std::string& hf_arch, bool with_biases, bool fused = false) {
  fs::create_directories(dir);
  const json config = {
      {"architectures", {hf_arch}},    {"hidden_size", kHidden},          {"intermediate_size", kFf},
      {"num_attention_heads", kHeads}, {"num_key_value_heads", kKvHeads}, {"num_hidden_layers", kLayers},
      {"vocab_size", kVocab},          {"max_position_embeddings", 256},  {"rms_norm_eps", 1e-5},
      {"rope_theta", 100.0},           {"tie_word_embeddings", false}};
  std::ofstream(dir + "/config.json") << config.dump();
  std::ofstream(dir + "/tokenizer.json") << R"({"added_tokens": [], "pre_tokenizer": {"type": "ByteLevel"},
      "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})";
  uint64_t state = 42;  // the same weights whatever the architecture
  std::vector<StTensorToWrite> t;
  const auto add = [&](const std::string& name, std::vector<int64_t> shape, float scale, float offset = 0.0f) {
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    t.push_back({name, "F32", shape, random_f32(n, state, scale, offset)});
  };
  add("model.embed_tokens.weight", {kVocab, kHidden}, 1.0f);
  for (int64_t i = 0; i < kLayers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {kHidden}, 0.1f, 1.0f);
    add(p + "self_attn.q_proj.weight", {kHeads * kHeadDim, kHidden}, 0.5f);
    add(p + "self_attn.k_proj.weight", {kKvHeads * kHeadDim, kHidden}, 0.5f);
    add(p + "self_attn.v_proj.weight", {kKvHeads * kHeadDim, kHidden}, 0.3f);
    if (fused) fuse(t, p + "self_attn.qkv_proj.weight", 3);
    add(p + "self_attn.o_proj.weight", {kHidden, kHeads * kHeadDim}, 0.3f);
    if (with_biases) {
      for (const auto& [proj, rows] :
           {std::pair{"q", kHeads * kHeadDim}, {"k", kKvHeads * kHeadDim}, {"v", kKvHeads * kHeadDim}}) {
        t.push_back({p + "self_attn." + proj + "_proj.bias", "F32", {rows}, std::vector<uint8_t>(rows * 4, 0)});
      }
    }
    add(p + "post_attention_layernorm.weight", {kHidden}, 0.1f, 1.0f);
    add(p + "mlp.gate_proj.weight", {kFf, kHidden}, 0.3f);
    add(p + "mlp.up_proj.weight", {kFf, kHidden}, 0.3f);
    if (fused) fuse(t, p + "mlp.gate_up_proj.weight", 2);
    add(p + "mlp.down_proj.weight", {kHidden, kFf}, 0.3f);
  }
  add("model.norm.weight", {kHidden}, 0.1f, 1.0f);
  add("lm_head.weight", {kVocab, kHidden}, 0.5f);
  write_safetensors(dir + "/model.safetensors", t);
}

std::vector<float> logits(const std::string& gguf_path, const std::vector<int32_t>& tokens) {
  const auto model = Model::load(gguf_path);
  const auto backend = make_backend("reference", 1);
  backend->prepare(*model);
  const auto kv = backend->make_kv_cache(model->hp, 1, 16);
  Batch batch;
  batch.sequences.push_back({{0}});
  for (size_t i = 0; i < tokens.size(); ++i) batch.add(tokens[i], static_cast<int32_t>(i), 0, true);
  return forward(*model, batch, *kv, *backend);
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

TEST(ConvertForward, PermutedLlamaComputesWhatHuggingFaceLlamaDoes) {
  TempDir dir;
  make_hf_dir(dir.path("llama"), "LlamaForCausalLM", false);
  make_hf_dir(dir.path("qwen2"), "Qwen2ForCausalLM", true);
  std::ostringstream log;
  Options opt;
  opt.out_type = "f32";
  convert_hf(dir.path("llama"), dir.path("llama.gguf"), opt, log);
  convert_hf(dir.path("qwen2"), dir.path("qwen2.gguf"), opt, log);

  // The Qwen2 file relabelled as llama: unpermuted rows under pairwise RoPE.
  {
    const auto q = gguf::File::open(dir.path("qwen2.gguf"));
    gguf::Writer w;
    for (const auto& [key, value] : q->metadata()) {
      w.set(key.rfind("qwen2.", 0) == 0 ? "llama." + key.substr(6) : key, value);
    }
    w.set("general.architecture", gguf::Value::string("llama"));
    for (const gguf::TensorInfo& t : q->tensors()) {
      if (t.name.find(".bias") == std::string::npos) w.add_tensor(t.name, t.type, t.shape, t.data);
    }
    w.write(dir.path("unpermuted.gguf"));
  }

  const std::vector<int32_t> tokens = {3, 17, 42, 5, 29, 11, 48, 0, 23};
  const std::vector<float> llama = logits(dir.path("llama.gguf"), tokens);
  const std::vector<float> qwen2 = logits(dir.path("qwen2.gguf"), tokens);
  const std::vector<float> unpermuted = logits(dir.path("unpermuted.gguf"), tokens);
  ASSERT_EQ(llama.size(), tokens.size() * kVocab);
  ASSERT_EQ(qwen2.size(), llama.size());
  float scale = 0;
  for (float x : qwen2) scale = std::max(scale, std::fabs(x));
  ASSERT_GT(scale, 0.1f);
  EXPECT_LT(max_abs_diff(llama, qwen2), 1e-4f * scale);
  // Position 0 needs no rotation, so it agrees either way; later positions must not.
  EXPECT_LT(max_abs_diff(std::vector<float>(llama.begin(), llama.begin() + kVocab),
                         std::vector<float>(unpermuted.begin(), unpermuted.begin() + kVocab)),
            1e-4f * scale);
  EXPECT_GT(max_abs_diff(llama, unpermuted), 1e-2f * scale);
}

// Phi-3's fused projections, converted as llama.cpp lays them out (attn_qkv, ffn_up of gate then
// up) and read back as views, compute what the same weights compute as separate Qwen2 tensors
// with zero biases (both rotate halves).
TEST(ConvertForward, FusedPhi3ComputesWhatSeparateProjectionsDo) {
  TempDir dir;
  make_hf_dir(dir.path("phi3"), "Phi3ForCausalLM", false, true);
  make_hf_dir(dir.path("qwen2"), "Qwen2ForCausalLM", true);
  std::ostringstream log;
  Options opt;
  opt.out_type = "f32";
  convert_hf(dir.path("phi3"), dir.path("phi3.gguf"), opt, log);
  convert_hf(dir.path("qwen2"), dir.path("qwen2.gguf"), opt, log);
  const auto f = gguf::File::open(dir.path("phi3.gguf"));
  ASSERT_TRUE(f->find_tensor("blk.0.attn_qkv.weight"));
  EXPECT_EQ(f->find_tensor("blk.0.ffn_up.weight")->shape, (std::vector<int64_t>{kHidden, 2 * kFf}));
  EXPECT_FALSE(f->find_tensor("blk.0.ffn_gate.weight"));
  const std::vector<int32_t> tokens = {3, 17, 42, 5, 29, 11, 48, 0, 23};
  const std::vector<float> phi3 = logits(dir.path("phi3.gguf"), tokens);
  const std::vector<float> qwen2 = logits(dir.path("qwen2.gguf"), tokens);
  ASSERT_EQ(phi3.size(), qwen2.size());
  float scale = 0;
  for (float x : qwen2) scale = std::max(scale, std::fabs(x));
  EXPECT_LT(max_abs_diff(phi3, qwen2), 1e-5f * scale);
}

}  // namespace
}  // namespace hayate::convert
