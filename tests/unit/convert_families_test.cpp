// Gemma 3 and Phi-3 configs (convert/hf_config_families.cpp): what is read, in transformers 4
// and 5 spellings, what is written to GGUF, and what is refused by name.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "convert/convert.h"
#include "convert/hf_config.h"
#include "convert/safetensors.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "support/test_util.h"

namespace hayate::convert {
namespace {

using json = nlohmann::json;

json base(const std::string& cls) {
  return {{"architectures", {cls}},   {"hidden_size", 64},
          {"intermediate_size", 96},  {"num_hidden_layers", 3},
          {"num_attention_heads", 4}, {"num_key_value_heads", 2},
          {"vocab_size", 40},         {"max_position_embeddings", 128},
          {"rms_norm_eps", 1e-6}};
}

json gemma3() {
  json c = base("Gemma3ForCausalLM");
  c["head_dim"] = 48;
  c["hidden_activation"] = "gelu_pytorch_tanh";
  c["hidden_act"] = "gelu_pytorch_tanh";  // Hub configs carry both; Gemma 3 reads hidden_activation
  c["sliding_window"] = 8;
  c["query_pre_attn_scalar"] = 64;
  c["final_logit_softcapping"] = nullptr;
  c["attn_logit_softcapping"] = nullptr;
  c["layer_types"] = {"sliding_attention", "full_attention", "sliding_attention"};
  c["rope_parameters"] = {{"full_attention", {{"rope_type", "linear"}, {"factor", 2.0}, {"rope_theta", 1e5}}},
                          {"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 1e4}}}};
  return c;
}

json phi3() {
  json c = base("Phi3ForCausalLM");
  c["hidden_act"] = "silu";
  c["original_max_position_embeddings"] = 8;
  std::vector<double> short_f(8, 1.0), long_f(8, 2.0);
  c["rope_scaling"] = {{"type", "longrope"}, {"short_factor", short_f}, {"long_factor", long_f}};
  c["rope_theta"] = 10000.0;
  return c;
}

HfConfig read(const json& config, const std::string& tag) {
  const std::string dir = test::temp_path("hf-families-" + tag);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << config.dump(2);
  return read_hf_config(dir);
}

std::string refusal(const json& config, ErrorKind kind = ErrorKind::Unsupported) {
  try {
    read(config, "refused");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << config.dump();
  return {};
}

std::unique_ptr<gguf::File> metadata_of(const HfConfig& c, const std::string& tag) {
  gguf::Writer w;
  add_hparams_metadata(c, w);
  const std::string path = test::temp_path("hf-families-" + tag + ".gguf");
  w.write(path);
  return gguf::File::open(path);
}

TEST(Gemma3Config, ReadsTransformers5Spelling) {
  const HfConfig c = read(gemma3(), "gemma3-v5");
  EXPECT_EQ(c.arch, "gemma3");
  EXPECT_EQ(c.sliding_window, 8);
  EXPECT_EQ(c.swa_layers, (std::vector<bool>{true, false, true}));
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e5);
  EXPECT_DOUBLE_EQ(c.rope_theta_swa, 1e4);
  EXPECT_EQ(c.rope_scaling.kind, RopeScaling::Kind::Linear);
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 2.0);
  EXPECT_DOUBLE_EQ(c.attention_scale, 1.0 / 8.0);
  const auto f = metadata_of(c, "gemma3");
  EXPECT_FLOAT_EQ(static_cast<float>(f->get_f64("gemma3.rope.freq_base_swa", 0)), 1e4f);
  EXPECT_FLOAT_EQ(static_cast<float>(f->get_f64("gemma3.attention.scale", 0)), 0.125f);
  EXPECT_EQ(f->get_string("gemma3.rope.scaling.type", ""), "linear");
  const auto& pattern = f->find("gemma3.attention.sliding_window_pattern")->as_array();
  ASSERT_EQ(pattern.size(), 3u);
  EXPECT_TRUE(pattern[0].as_bool());
  EXPECT_FALSE(pattern[1].as_bool());
}

TEST(Gemma3Config, ReadsTransformers4SpellingAndThePatternPeriod) {
  json c = gemma3();
  c.erase("rope_parameters");
  c.erase("layer_types");
  c["rope_theta"] = 1e6;
  c["rope_local_base_freq"] = 1e4;
  c["sliding_window_pattern"] = 2;
  const HfConfig cfg = read(c, "gemma3-v4");
  EXPECT_EQ(cfg.swa_layers, (std::vector<bool>{true, false, true}));
  EXPECT_DOUBLE_EQ(cfg.rope_theta, 1e6);
  EXPECT_DOUBLE_EQ(cfg.rope_theta_swa, 1e4);
  c.erase("sliding_window_pattern");  // transformers' default: every 6th layer global
  EXPECT_EQ(read(c, "gemma3-default").swa_layers, (std::vector<bool>{true, true, true}));
}

TEST(Gemma3Config, RefusesWhatItCannotRunByName) {
  json c = gemma3();
  c["final_logit_softcapping"] = 30.0;
  EXPECT_NE(refusal(c).find("final_logit_softcapping"), std::string::npos);
  c = gemma3();
  c["attn_logit_softcapping"] = 50.0;
  EXPECT_NE(refusal(c).find("attn_logit_softcapping"), std::string::npos);
  c = gemma3();
  c["hidden_activation"] = "gelu";
  EXPECT_NE(refusal(c).find("hidden_activation"), std::string::npos);
  c = gemma3();
  c["use_bidirectional_attention"] = true;
  EXPECT_NE(refusal(c).find("use_bidirectional_attention"), std::string::npos);
  c = gemma3();
  c["rope_parameters"]["sliding_attention"]["rope_type"] = "linear";
  EXPECT_NE(refusal(c).find("sliding_attention"), std::string::npos);
  c = gemma3();
  c["rope_parameters"]["full_attention"]["rope_type"] = "yarn";
  EXPECT_NE(refusal(c).find("yarn"), std::string::npos);
  c = gemma3();
  c["layer_types"] = {"sliding_attention", "chunked_attention", "full_attention"};
  EXPECT_NE(refusal(c).find("chunked_attention"), std::string::npos);
  c = gemma3();
  c["layer_types"] = {"sliding_attention"};
  EXPECT_NE(refusal(c, ErrorKind::BadInput).find("layer_types"), std::string::npos);
}

TEST(Phi3Config, ReadsLongRopeAndDerivesTheAttentionFactor) {
  const HfConfig c = read(phi3(), "phi3");
  EXPECT_EQ(c.arch, "phi3");
  ASSERT_EQ(c.rope_scaling.kind, RopeScaling::Kind::LongRope);
  EXPECT_EQ(c.rope_scaling.long_factor, std::vector<float>(8, 2.0f));
  EXPECT_EQ(c.rope_scaling.short_factor, std::vector<float>(8, 1.0f));
  EXPECT_DOUBLE_EQ(c.rope_scaling.original_context, 8.0);
  // transformers: sqrt(1 + ln(128 / 8) / ln(8)).
  EXPECT_NEAR(c.rope_scaling.attn_factor, std::sqrt(1 + std::log(16.0) / std::log(8.0)), 1e-12);
  const auto f = metadata_of(c, "phi3");
  EXPECT_EQ(f->get_u64("phi3.rope.scaling.original_context_length", 0), 8u);
  EXPECT_NEAR(f->get_f64("phi3.rope.scaling.attn_factor", 0), c.rope_scaling.attn_factor, 1e-6);

  json su = phi3();  // the old name, and transformers 5's rope_parameters with the original context inside
  su.erase("rope_scaling");
  su.erase("original_max_position_embeddings");
  su["rope_parameters"] = {{"rope_type", "su"},
                           {"rope_theta", 10000.0},
                           {"short_factor", std::vector<double>(8, 1.0)},
                           {"long_factor", std::vector<double>(8, 3.0)},
                           {"original_max_position_embeddings", 16},
                           {"attention_factor", 1.5}};
  const HfConfig s = read(su, "phi3-su");
  EXPECT_EQ(s.rope_scaling.kind, RopeScaling::Kind::LongRope);
  EXPECT_DOUBLE_EQ(s.rope_scaling.original_context, 16.0);
  EXPECT_DOUBLE_EQ(s.rope_scaling.attn_factor, 1.5);
}

TEST(Phi3Config, PartialRotaryFactorSetsTheRotaryDimensions) {
  json c = phi3();
  c["partial_rotary_factor"] = 0.5;  // head_dim 16: 8 rotary dimensions, 4 factors
  c["rope_scaling"]["short_factor"] = std::vector<double>(4, 1.0);
  c["rope_scaling"]["long_factor"] = std::vector<double>(4, 2.0);
  const HfConfig cfg = read(c, "phi3-partial");
  EXPECT_EQ(cfg.rope_dims, 8);
  EXPECT_EQ(metadata_of(cfg, "phi3-partial")->get_u64("phi3.rope.dimension_count", 0), 8u);
  c["partial_rotary_factor"] = 1.0;  // the factors no longer fit
  EXPECT_NE(refusal(c, ErrorKind::BadInput).find("long_factor"), std::string::npos);
}

TEST(Phi3Config, RefusesAmbiguousOrForeignLongRope) {
  json c = phi3();
  c["rope_scaling"]["factor"] = 4.0;  // 128 / 8 = 16: transformers 4 and 5 would differ
  EXPECT_NE(refusal(c).find("factor"), std::string::npos);
  c = phi3();
  c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 2.0}};
  EXPECT_NE(refusal(c).find("yarn"), std::string::npos);
  json llama = base("LlamaForCausalLM");
  llama["rope_scaling"] = phi3()["rope_scaling"];
  llama["original_max_position_embeddings"] = 8;
  EXPECT_NE(refusal(llama).find("longrope"), std::string::npos);
  c = phi3();
  c.erase("original_max_position_embeddings");
  EXPECT_NE(refusal(c, ErrorKind::BadInput).find("original_max_position_embeddings"), std::string::npos);
}

// A value per element: distinct, so a tensor read in place of another shows.
StTensorToWrite tensor(const std::string& name, std::vector<int64_t> shape, float base) {
  size_t n = 1;
  for (const int64_t d : shape) n *= static_cast<size_t>(d);
  StTensorToWrite t{name, "F32", std::move(shape), std::vector<uint8_t>(n * 4)};
  for (size_t i = 0; i < n; ++i) {
    const float v = base + 0.001f * static_cast<float>(i % 97);
    std::memcpy(t.data.data() + 4 * i, &v, 4);
  }
  return t;
}

float first_value(const gguf::File& f, const std::string& name) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  EXPECT_TRUE(t) << name;
  float v = 0;
  if (t) std::memcpy(&v, t->data, 4);
  return v;
}

// Gemma's RMSNorm scales by 1 + w: every norm is stored as 1 + w (llama.cpp's layout), under
// llama.cpp's names for the four norms of a layer.
TEST(Gemma3Convert, NormsAreStoredAsOnePlusWeightUnderLlamaCppNames) {
  const std::string dir = test::temp_path("hf-families-gemma3-dir");
  std::filesystem::create_directories(dir);
  json c = gemma3();
  c["num_hidden_layers"] = 1;
  c["layer_types"] = {"sliding_attention"};
  c["head_dim"] = 16;
  c["vocab_size"] = 50;
  c["tie_word_embeddings"] = true;
  std::ofstream(dir + "/config.json") << c.dump();
  std::ofstream(dir + "/tokenizer.json") << R"({"added_tokens": [], "pre_tokenizer": {"type": "ByteLevel"},
      "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})";
  const std::string p = "model.layers.0.";
  write_safetensors(dir + "/model.safetensors",
                    {tensor("model.embed_tokens.weight", {50, 64}, 0.0f),
                     tensor(p + "input_layernorm.weight", {64}, 0.1f),
                     tensor(p + "self_attn.q_proj.weight", {64, 64}, 0.0f),
                     tensor(p + "self_attn.k_proj.weight", {32, 64}, 0.0f),
                     tensor(p + "self_attn.v_proj.weight", {32, 64}, 0.0f),
                     tensor(p + "self_attn.o_proj.weight", {64, 64}, 0.0f),
                     tensor(p + "self_attn.q_norm.weight", {16}, 0.2f),
                     tensor(p + "self_attn.k_norm.weight", {16}, 0.3f),
                     tensor(p + "post_attention_layernorm.weight", {64}, 0.4f),
                     tensor(p + "pre_feedforward_layernorm.weight", {64}, 0.5f),
                     tensor(p + "post_feedforward_layernorm.weight", {64}, 0.6f),
                     tensor(p + "mlp.gate_proj.weight", {96, 64}, 0.0f),
                     tensor(p + "mlp.up_proj.weight", {96, 64}, 0.0f),
                     tensor(p + "mlp.down_proj.weight", {64, 96}, 0.0f),
                     tensor("model.norm.weight", {64}, 0.7f)});
  const std::string out = dir + "/gemma3.gguf";
  Options opt;
  opt.out_type = "f32";
  std::ostringstream log;
  convert_hf(dir, out, opt, log);
  const auto f = gguf::File::open(out);
  EXPECT_EQ(f->get_string("general.architecture", ""), "gemma3");
  EXPECT_FLOAT_EQ(first_value(*f, "blk.0.attn_norm.weight"), 1.1f);
  EXPECT_FLOAT_EQ(first_value(*f, "blk.0.attn_q_norm.weight"), 1.2f);
  EXPECT_FLOAT_EQ(first_value(*f, "blk.0.attn_k_norm.weight"), 1.3f);
  EXPECT_FLOAT_EQ(first_value(*f, "blk.0.post_attention_norm.weight"), 1.4f);
  EXPECT_FLOAT_EQ(first_value(*f, "blk.0.ffn_norm.weight"), 1.5f);
  EXPECT_FLOAT_EQ(first_value(*f, "blk.0.post_ffw_norm.weight"), 1.6f);
  EXPECT_FLOAT_EQ(first_value(*f, "output_norm.weight"), 1.7f);
  EXPECT_FLOAT_EQ(first_value(*f, "blk.0.attn_q.weight"), 0.0f);  // matrices as they are
  EXPECT_FALSE(f->find_tensor("output.weight"));                  // tied
  const auto model = Model::load(out);
  EXPECT_FLOAT_EQ(model->hp.attn_scale, 0.125f);
  EXPECT_EQ(model->hp.swa_layers, std::vector<bool>{true});
}

}  // namespace
}  // namespace hayate::convert
