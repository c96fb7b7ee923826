// The table of config.json keys (convert/hf_fields.h): every key that changes the computation is
// read, or refused by name unless neutral, at conversion (config dirs written here), and the GGUF
// keys and tensors hayate does not implement are refused by name at load.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "backend/backend.h"
#include "convert/hf_config.h"
#include "convert/hf_fields.h"
#include "core/error.h"
#include "forward/forward.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "model/synth.h"
#include "support/test_util.h"

namespace hayate::convert {
namespace {

using json = nlohmann::json;

json base_config(const std::string& cls = "LlamaForCausalLM") {
  return {{"architectures", {cls}},   {"hidden_size", 64},
          {"intermediate_size", 96},  {"num_hidden_layers", 2},
          {"num_attention_heads", 4}, {"num_key_value_heads", 2},
          {"vocab_size", 40},         {"max_position_embeddings", 128},
          {"rms_norm_eps", 1e-5},     {"hidden_act", "silu"}};
}

// config.json written into a fresh directory and read back as convert reads it.
HfConfig read_config_dir(const json& config, const std::string& tag) {
  const std::string dir = test::temp_path("hf-fields-" + tag);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << config.dump(2);
  return read_hf_config(dir);
}

std::string refusal(const json& config) {
  try {
    read_config_dir(config, "refused");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << config.dump();
  return {};
}

TEST(HfFields, EveryKeyIsListedOnce) {
  std::set<std::string> seen;
  for (const HfField& f : hf_fields()) {
    EXPECT_TRUE(seen.insert(f.key).second) << f.key;
    EXPECT_EQ(f.handling == FieldHandling::NeutralOnly, f.neutral != nullptr) << f.key;
  }
}

TEST(HfFields, ComputationChangingKeysAreRefusedByName) {
  const std::vector<std::pair<std::string, json>> cases = {
      {"hidden_act", "gelu_pytorch_tanh"},
      {"hidden_activation", "gelu_pytorch_tanh"},
      {"mlp_bias", true},
      {"use_sliding_window", true},
      {"layer_types", {"sliding_attention", "full_attention"}},
      {"attn_logit_softcapping", 50.0},
      {"final_logit_softcapping", 30.0},
      {"partial_rotary_factor", 0.5},
      {"query_pre_attn_scalar", 256},
      {"num_local_experts", 8},
      {"num_experts", 4},
      {"num_experts_per_tok", 2},
      {"embedding_multiplier", 12.0},
      {"residual_multiplier", 0.22},
      {"attention_multiplier", 0.015625},
      {"logits_scaling", 8.0},
      {"use_qk_norm", true},
      {"qk_layernorm", true},
      {"attention_chunk_size", 8192},
      {"clip_qkv", 8.0},
      {"no_rope_layers", {1, 0}},
      {"layer_norm_eps", 1e-5},
      {"use_bidirectional_attention", true},
      {"is_causal", false},
  };
  for (const auto& [key, value] : cases) {
    json c = base_config();
    c[key] = value;
    const std::string msg = refusal(c);
    EXPECT_NE(msg.find("'" + key + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("config.json"), std::string::npos) << msg;
  }
}

TEST(HfFields, NeutralValuesConvert) {
  json c = base_config("Qwen2ForCausalLM");
  c["mlp_bias"] = false;
  c["use_sliding_window"] = false;
  c["sliding_window"] = 4096;  // Qwen2 reads it only with use_sliding_window
  c["max_window_layers"] = 28;
  c["layer_types"] = {"full_attention", "full_attention"};
  c["attn_logit_softcapping"] = nullptr;
  c["partial_rotary_factor"] = 1.0;
  c["num_experts"] = 0;
  c["pretraining_tp"] = 2;
  c["no_rope_layers"] = {1, 1};
  c["some_future_key"] = 3;
  const HfConfig cfg = read_config_dir(c, "neutral");
  EXPECT_EQ(cfg.sliding_window, 0);
  EXPECT_EQ(cfg.unknown_fields, std::vector<std::string>{"some_future_key"});
}

TEST(HfFields, SlidingWindowIsReadForMistralOnly) {
  json c = base_config("MistralForCausalLM");
  c["sliding_window"] = 8;
  EXPECT_EQ(read_config_dir(c, "mistral").sliding_window, 8);
  c["layer_types"] = {"sliding_attention", "sliding_attention"};  // the same window, spelled per layer
  EXPECT_EQ(read_config_dir(c, "mistral-layers").sliding_window, 8);
  c["layer_types"] = {"sliding_attention", "full_attention"};
  EXPECT_NE(refusal(c).find("layer_types"), std::string::npos);
  c.erase("layer_types");
  c["sliding_window"] = nullptr;  // Mistral 7B v0.2 and later
  EXPECT_EQ(read_config_dir(c, "mistral-none").sliding_window, 0);
  c["sliding_window"] = -1;
  EXPECT_THROW(read_config_dir(c, "mistral-bad"), Error);

  json l = base_config();
  l["sliding_window"] = 8;  // LlamaForCausalLM does not read it
  EXPECT_EQ(read_config_dir(l, "llama").sliding_window, 0);
}

TEST(HfFields, SlidingWindowIsWrittenToGguf) {
  json c = base_config("MistralForCausalLM");
  c["sliding_window"] = 8;
  const HfConfig cfg = read_config_dir(c, "mistral-gguf");
  gguf::Writer w;
  w.set("general.architecture", gguf::Value::string(cfg.arch));
  add_hparams_metadata(cfg, w);
  const std::string path = test::temp_path("hf-fields-mistral.gguf");
  w.write(path);
  EXPECT_EQ(gguf::File::open(path)->get_u64("llama.attention.sliding_window", 0), 8u);
}

// A synthetic model with one more key or tensor, as another converter might write it.
std::string synth_with(const std::function<void(gguf::Writer&)>& extra, const std::string& tag) {
  const std::string plain = test::temp_path("hf-fields-plain.gguf");
  SynthOptions o;
  o.n_embd = 64;
  o.n_layer = 1;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_ff = 96;
  o.file_type = "f32";
  std::ostringstream log;
  synth_model(o, plain, log);
  const auto f = gguf::File::open(plain);
  gguf::Writer w;
  w.copy_metadata(*f);
  for (const gguf::TensorInfo& t : f->tensors()) w.add_tensor(t.name, t.type, t.shape, t.data);
  extra(w);
  const std::string path = test::temp_path("hf-fields-" + tag + ".gguf");
  w.write(path);
  return path;
}

std::string load_refusal(const std::string& path) {
  try {
    Model::load(path);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported) << e.what();
    return e.what();
  }
  ADD_FAILURE() << path << " loaded";
  return {};
}

TEST(HfFields, GgufKeysHayateDoesNotImplementAreRefusedAtLoad) {
  using gguf::Value;
  const std::vector<std::pair<std::string, Value>> cases = {
      {"llama.attn_logit_softcapping", Value::f32(50.0f)},
      {"llama.final_logit_softcapping", Value::f32(30.0f)},
      {"llama.expert_count", Value::u32(8)},
      {"llama.attention.layer_norm_epsilon", Value::f32(1e-5f)},
      {"llama.attention.causal", Value::boolean(false)},
      {"llama.embedding_scale", Value::f32(12.0f)},
      {"llama.rope.scaling.attn_factor", Value::f32(0.5f)},
  };
  for (const auto& [key, value] : cases) {
    const std::string msg = load_refusal(synth_with([&](gguf::Writer& w) { w.set(key, value); }, "key"));
    EXPECT_NE(msg.find(key), std::string::npos) << msg;
  }
  // Their neutral values load.
  EXPECT_NO_THROW(Model::load(synth_with(
      [](gguf::Writer& w) {
        w.set("llama.attention.causal", Value::boolean(true));
        w.set("llama.expert_count", Value::u32(0));
        w.set("llama.rope.scaling.attn_factor", Value::f32(1.0f));
      },
      "neutral")));
}

TEST(HfFields, TensorsNoWeightReadsAreRefusedAtLoad) {
  static const std::vector<float> bias(64, 0.5f);
  static const std::vector<float> ln_bias(64, 0.0f);
  // The output projection's bias is read (and applied); a LayerNorm bias is not.
  const auto m = Model::load(synth_with(
      [](gguf::Writer& w) { w.add_tensor("blk.0.attn_output.bias", GgmlType::F32, {64}, bias.data()); }, "bo"));
  EXPECT_TRUE(m->layers[0].bo);
  const auto plain = Model::load(synth_with([](gguf::Writer&) {}, "no-bo"));
  const auto logits = [](const Model& model) {
    auto be = make_backend("reference", 1);
    auto kv = be->make_kv_cache(model.hp, 1, 16);
    Batch b;
    b.sequences.push_back({{0}});
    b.add(3, 0, 0, true);
    return forward(model, b, *kv, *be);
  };
  EXPECT_NE(logits(*m), logits(*plain));  // the bias is applied, not dropped
  const std::string msg = load_refusal(synth_with(
      [](gguf::Writer& w) { w.add_tensor("blk.0.attn_norm.bias", GgmlType::F32, {64}, ln_bias.data()); }, "ln"));
  EXPECT_NE(msg.find("blk.0.attn_norm.bias"), std::string::npos) << msg;
}

}  // namespace
}  // namespace hayate::convert
