// hayate convert of tiny LlavaForConditionalGeneration directories made here (both of
// transformers' tensor layouts): the language model GGUF, the mmproj GGUF with llama.cpp's names
// and keys, values carried over exactly, and refusals of what hayate does not run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "convert/convert.h"
#include "convert/safetensors.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "vision/clip.h"

namespace hayate::convert {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Dir {
  fs::path path;
  Dir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path = fs::temp_directory_path() / ("hayate_llava_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(path);
    fs::create_directories(path / "hf");
  }
  ~Dir() { fs::remove_all(path); }
  std::string hf() const { return (path / "hf").string(); }
};

void write_json(const fs::path& p, const json& j) { std::ofstream(p) << j.dump(2); }

constexpr int64_t kText = 32, kVision = 16, kFf = 24, kPatch = 4, kImage = 8, kVocab = 40;

json config() {
  return {{"architectures", {"LlavaForConditionalGeneration"}},
          {"image_token_index", 39},
          {"vision_feature_layer", -2},
          {"vision_feature_select_strategy", "default"},
          {"projector_hidden_act", "gelu"},
          {"text_config",
           {{"model_type", "llama"},
            {"hidden_size", kText},
            {"intermediate_size", 48},
            {"num_hidden_layers", 1},
            {"num_attention_heads", 2},
            {"num_key_value_heads", 2},
            {"max_position_embeddings", 256},
            {"rms_norm_eps", 1e-5},
            {"vocab_size", kVocab}}},
          {"vision_config",
           {{"model_type", "clip_vision_model"},
            {"hidden_size", kVision},
            {"intermediate_size", kFf},
            {"num_hidden_layers", 3},
            {"num_attention_heads", 2},
            {"image_size", kImage},
            {"patch_size", kPatch},
            {"hidden_act", "quick_gelu"}}}};
}

// Tensor number `seed`'s value i: distinct and exact in F32.
std::vector<uint8_t> values(int64_t n, int seed) {
  std::vector<uint8_t> b(static_cast<size_t>(n) * 4);
  for (int64_t i = 0; i < n; ++i) {
    const float v = static_cast<float>(seed) * 0.25f + static_cast<float>(i % 17) * 0.125f;
    std::memcpy(b.data() + i * 4, &v, 4);
  }
  return b;
}

// The weights of config(), named as transformers >= 4.52 (new_layout) or older versions save them.
void write_model(const std::string& dir, const json& cfg, bool new_layout) {
  write_json(fs::path(dir) / "config.json", cfg);
  write_json(fs::path(dir) / "tokenizer.json", json::parse(R"({"version": "1.0", "added_tokens": [], "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
    "post_processor": null, "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}})"));
  const std::string lm = new_layout ? "model.language_model." : "language_model.model.";
  const std::string vt = new_layout ? "model.vision_tower.vision_model." : "vision_tower.vision_model.";
  const std::string mm = new_layout ? "model.multi_modal_projector." : "multi_modal_projector.";
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
      {lm + "embed_tokens.weight", {kVocab, kText}},
      {lm + "norm.weight", {kText}},
      {new_layout ? "lm_head.weight" : "language_model.lm_head.weight", {kVocab, kText}},
      {vt + "embeddings.patch_embedding.weight", {kVision, 3, kPatch, kPatch}},
      {vt + "embeddings.class_embedding", {kVision}},
      {vt + "embeddings.position_embedding.weight", {(kImage / kPatch) * (kImage / kPatch) + 1, kVision}},
      {vt + "pre_layrnorm.weight", {kVision}},
      {vt + "pre_layrnorm.bias", {kVision}},
      {vt + "post_layernorm.weight", {kVision}},
      {vt + "post_layernorm.bias", {kVision}},
      {mm + "linear_1.weight", {kText, kVision}},
      {mm + "linear_1.bias", {kText}},
      {mm + "linear_2.weight", {kText, kText}},
      {mm + "linear_2.bias", {kText}},
  };
  const std::string l = lm + "layers.0.";
  for (const char* n : {"input_layernorm.weight", "post_attention_layernorm.weight"})
    shapes.push_back({l + n, {kText}});
  for (const char* n :
       {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight"})
    shapes.push_back({l + n, {kText, kText}});
  shapes.push_back({l + "mlp.gate_proj.weight", {48, kText}});
  shapes.push_back({l + "mlp.up_proj.weight", {48, kText}});
  shapes.push_back({l + "mlp.down_proj.weight", {kText, 48}});
  for (int i = 0; i < 3; ++i) {
    const std::string p = vt + "encoder.layers." + std::to_string(i) + ".";
    for (const char* n : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj"}) {
      shapes.push_back({p + n + ".weight", {kVision, kVision}});
      shapes.push_back({p + n + ".bias", {kVision}});
    }
    for (const char* n : {"layer_norm1", "layer_norm2"}) {
      shapes.push_back({p + n + ".weight", {kVision}});
      shapes.push_back({p + n + ".bias", {kVision}});
    }
    shapes.push_back({p + "mlp.fc1.weight", {kFf, kVision}});
    shapes.push_back({p + "mlp.fc1.bias", {kFf}});
    shapes.push_back({p + "mlp.fc2.weight", {kVision, kFf}});
    shapes.push_back({p + "mlp.fc2.bias", {kVision}});
  }
  std::vector<StTensorToWrite> tensors;
  int seed = 0;
  for (auto& [name, shape] : shapes) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    tensors.push_back({name, "F32", shape, values(n, seed++)});
  }
  write_safetensors((fs::path(dir) / "model.safetensors").string(), tensors);
}

class ConvertLlava : public ::testing::TestWithParam<bool> {};

TEST_P(ConvertLlava, WritesLanguageModelAndMmproj) {
  Dir d;
  write_model(d.hf(), config(), GetParam());
  Options opt;
  opt.out_type = "f32";
  const std::string out = (d.path / "tiny.gguf").string();
  std::ostringstream log;
  convert_hf(d.hf(), out, opt, log);
  EXPECT_NE(log.str().find("vision_tower.vision_model.post_layernorm.weight (LLaVA takes features before"),
            std::string::npos)
      << log.str();
  EXPECT_EQ(log.str().find("warning"), std::string::npos) << log.str();

  auto lm = Model::load(out);
  EXPECT_EQ(lm->hp.arch, "llama");
  EXPECT_EQ(lm->hp.n_embd, kText);
  EXPECT_EQ(lm->hp.n_vocab, kVocab);

  const std::string mmproj = (d.path / "mmproj-tiny.gguf").string();
  auto clip = vision::ClipModel::load(mmproj);
  EXPECT_EQ(clip->hp.n_embd, kVision);
  EXPECT_EQ(clip->hp.n_layer, 3);
  EXPECT_EQ(clip->hp.n_run, 2);  // vision_feature_layer -2: llama.cpp's default, so no feature_layer key
  EXPECT_EQ(clip->file->find(vision::keys::kFeatureLayer), nullptr);
  EXPECT_EQ(clip->hp.proj_dim, kText);
  EXPECT_EQ(clip->hp.act, vision::Activation::QuickGelu);
  EXPECT_EQ(clip->hp.n_patches(), 4);
  EXPECT_EQ(clip->file->get_u64("hayate.image_token_id", 0), 39u);
  EXPECT_EQ(clip->file->find_tensor("v.post_ln.weight"), nullptr);

  const SafetensorsModel src(d.hf());
  const std::string vt = GetParam() ? "model.vision_tower.vision_model." : "vision_tower.vision_model.";
  const std::string mm = GetParam() ? "model.multi_modal_projector." : "multi_modal_projector.";
  for (const auto& [hf, gguf] : std::vector<std::pair<std::string, std::string>>{
           {vt + "embeddings.patch_embedding.weight", "v.patch_embd.weight"},
           {vt + "embeddings.position_embedding.weight", "v.position_embd.weight"},
           {vt + "encoder.layers.2.mlp.fc1.weight", "v.blk.2.ffn_up.weight"},
           {vt + "encoder.layers.1.self_attn.out_proj.bias", "v.blk.1.attn_out.bias"},
           {mm + "linear_2.weight", "mm.2.weight"}}) {
    const StTensor* s = src.find(hf);
    const gguf::TensorInfo& t = clip->file->tensor(gguf);
    ASSERT_NE(s, nullptr) << hf;
    ASSERT_EQ(s->nbytes, t.nbytes) << gguf;
    EXPECT_EQ(std::memcmp(s->data, t.data, s->nbytes), 0) << gguf << " differs from " << hf;
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, ConvertLlava, ::testing::Values(true, false));

TEST(ConvertLlavaRefusals, SaysWhatIsNotSupported) {
  auto expect = [](json cfg, const std::string& words) {
    Dir d;
    write_model(d.hf(), cfg, true);
    std::ostringstream log;
    try {
      convert_hf(d.hf(), (d.path / "x.gguf").string(), Options{}, log);
      ADD_FAILURE() << "converted a model that should fail with: " << words;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  json full = config();
  full["vision_feature_select_strategy"] = "full";
  expect(full, "vision_feature_select_strategy 'full'");
  json siglip = config();
  siglip["vision_config"]["model_type"] = "siglip_vision_model";
  expect(siglip, "vision_config.model_type 'siglip_vision_model'");
  json stacked = config();
  stacked["vision_feature_layer"] = json::array({-2, -5});
  expect(stacked, "lists several layers");
  json gemma = config();
  gemma["text_config"]["model_type"] = "gemma";
  expect(gemma, "text_config.model_type 'gemma'");
}

TEST(ConvertLlava, FeatureLayerOtherThanDefaultIsWritten) {
  Dir d;
  json cfg = config();
  cfg["vision_feature_layer"] = -1;
  write_model(d.hf(), cfg, true);
  Options opt;
  opt.mmproj_path = (d.path / "vision.gguf").string();
  std::ostringstream log;
  convert_hf(d.hf(), (d.path / "lm.gguf").string(), opt, log);
  EXPECT_EQ(vision::ClipModel::load(opt.mmproj_path)->hp.n_run, 3);
}

}  // namespace
}  // namespace hayate::convert
