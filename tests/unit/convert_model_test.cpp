// convert_hf on tiny Hugging Face directories made by the test: metadata, tensor names, shapes
// and types, the llama Q/K permutation, shards, output types, llama3 rope factors, and errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

#include "convert/convert.h"
#include "convert/safetensors.h"
#include "core/error.h"
#include "core/fp16.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "quant/quant.h"

namespace hayate::convert {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("hayate_cm_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" + info->name());
    fs::remove_all(path_);
    fs::create_directories(path_ / "hf");
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string hf() const { return (path_ / "hf").string(); }
  std::string hf_file(const std::string& name) const { return (path_ / "hf" / name).string(); }
  std::string out() const { return (path_ / "out.gguf").string(); }

 private:
  fs::path path_;
};

// A model small enough to check every number of: 2 layers, hidden 64, 4 heads of 16, 2 KV heads.
struct TinyModel {
  std::string hf_arch = "LlamaForCausalLM";
  int64_t hidden = 64, heads = 4, kv_heads = 2, layers = 2, ff = 96, vocab = 40;
  int64_t head_dim = 0;  // 0 = hidden / heads, not written to config.json
  bool tie = false;
  bool lm_head = true;
  std::string dtype = "F32";
  int shards = 1;
  json extra_config = json::object();
  std::vector<std::string> extra_tensors;  // 1-D tensors of length 4 with names the converter skips

  int64_t hd() const { return head_dim ? head_dim : hidden / heads; }
};

struct Source {
  std::vector<int64_t> shape;
  std::vector<float> values;  // exactly representable in the source dtype
};

// Distinct values (exact in f32, rounded for f16/bf16 files): row r, column c of tensor number `seed`.
float value_at(int seed, int64_t r, int64_t c) {
  return static_cast<float>(seed) + static_cast<float>(r) * 0.5f + static_cast<float>(c % 8) * 0.0625f -
         static_cast<float>(c % 3);
}

std::vector<uint8_t> encode(const std::vector<float>& v, const std::string& dtype) {
  std::vector<uint8_t> b;
  for (float x : v) {
    uint8_t raw[4];
    size_t n = 4;
    if (dtype == "F32") {
      std::memcpy(raw, &x, 4);
    } else {
      const uint16_t h = dtype == "F16" ? f32_to_fp16(x) : f32_to_bf16(x);
      std::memcpy(raw, &h, 2);
      n = 2;
    }
    b.insert(b.end(), raw, raw + n);
  }
  return b;
}

json tiny_tokenizer() {
  return json::parse(R"({
    "version": "1.0",
    "added_tokens": [{"id": 5, "content": "<|endoftext|>", "special": true, "normalized": false}],
    "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
    "post_processor": null,
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "c": 3, "abc": 4}, "merges": ["a b", "ab c"]}
  })");
}

void write_json(const std::string& path, const json& j) { std::ofstream(path) << j.dump(2); }

// Writes config.json, tokenizer.json and the weights; returns the source tensors by HF name.
std::map<std::string, Source> make_model(const std::string& dir, const TinyModel& m) {
  json config = {{"architectures", {m.hf_arch}},      {"hidden_size", m.hidden},        {"intermediate_size", m.ff},
                 {"max_position_embeddings", 4096},   {"num_attention_heads", m.heads}, {"num_hidden_layers", m.layers},
                 {"num_key_value_heads", m.kv_heads}, {"rms_norm_eps", 1e-5},           {"rope_theta", 500000.0},
                 {"tie_word_embeddings", m.tie},      {"vocab_size", m.vocab},          {"torch_dtype", "bfloat16"}};
  if (m.head_dim) config["head_dim"] = m.head_dim;
  config.update(m.extra_config);
  write_json(dir + "/config.json", config);
  write_json(dir + "/tokenizer.json", tiny_tokenizer());

  const int64_t q = m.heads * m.hd(), kv = m.kv_heads * m.hd();
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
      {"model.embed_tokens.weight", {m.vocab, m.hidden}}};
  for (int64_t i = 0; i < m.layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    shapes.push_back({p + "input_layernorm.weight", {m.hidden}});
    shapes.push_back({p + "self_attn.q_proj.weight", {q, m.hidden}});
    shapes.push_back({p + "self_attn.k_proj.weight", {kv, m.hidden}});
    shapes.push_back({p + "self_attn.v_proj.weight", {kv, m.hidden}});
    shapes.push_back({p + "self_attn.o_proj.weight", {m.hidden, q}});
    const bool attention_bias = m.extra_config.value("attention_bias", false);
    if (m.hf_arch == "Qwen2ForCausalLM" || attention_bias) {
      shapes.push_back({p + "self_attn.q_proj.bias", {q}});
      shapes.push_back({p + "self_attn.k_proj.bias", {kv}});
      shapes.push_back({p + "self_attn.v_proj.bias", {kv}});
    }
    if (attention_bias && m.hf_arch != "Qwen2ForCausalLM") shapes.push_back({p + "self_attn.o_proj.bias", {m.hidden}});
    if (m.hf_arch == "Qwen3ForCausalLM") {
      shapes.push_back({p + "self_attn.q_norm.weight", {m.hd()}});
      shapes.push_back({p + "self_attn.k_norm.weight", {m.hd()}});
    }
    shapes.push_back({p + "post_attention_layernorm.weight", {m.hidden}});
    shapes.push_back({p + "mlp.gate_proj.weight", {m.ff, m.hidden}});
    shapes.push_back({p + "mlp.up_proj.weight", {m.ff, m.hidden}});
    shapes.push_back({p + "mlp.down_proj.weight", {m.hidden, m.ff}});
  }
  shapes.push_back({"model.norm.weight", {m.hidden}});
  if (m.lm_head) shapes.push_back({"lm_head.weight", {m.vocab, m.hidden}});
  for (const std::string& n : m.extra_tensors) shapes.push_back({n, {4}});

  std::map<std::string, Source> sources;
  std::vector<std::vector<StTensorToWrite>> files(static_cast<size_t>(m.shards));
  json weight_map = json::object();
  int seed = 0;
  for (const auto& [name, shape] : shapes) {
    Source s{shape, {}};
    const int64_t rows = shape[0], cols = shape.size() > 1 ? shape[1] : 1;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) s.values.push_back(value_at(seed, r, c));
    }
    for (float& x : s.values) {  // what the file will hold
      if (m.dtype == "F16") x = fp16_to_f32(f32_to_fp16(x));
      if (m.dtype == "BF16") x = bf16_to_f32(f32_to_bf16(x));
    }
    ++seed;
    const size_t shard = static_cast<size_t>(seed) % files.size();
    files[shard].push_back({name, m.dtype, shape, encode(s.values, m.dtype)});
    const std::string file = m.shards == 1 ? "model.safetensors"
                                           : "model-0000" + std::to_string(shard + 1) + "-of-0000" +
                                                 std::to_string(m.shards) + ".safetensors";
    weight_map[name] = file;
    sources[name] = std::move(s);
  }
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string file =
        m.shards == 1 ? "model.safetensors"
                      : "model-0000" + std::to_string(i + 1) + "-of-0000" + std::to_string(m.shards) + ".safetensors";
    write_safetensors(dir + "/" + file, files[i]);
  }
  if (m.shards > 1) write_json(dir + "/model.safetensors.index.json", {{"weight_map", weight_map}});
  return sources;
}

std::unique_ptr<gguf::File> convert(const TempDir& dir, const std::string& out_type, std::string* log_text = nullptr) {
  std::ostringstream log;
  Options opt;
  opt.out_type = out_type;
  convert_hf(dir.hf(), dir.out(), opt, log);
  if (log_text) *log_text = log.str();
  return gguf::File::open(dir.out());
}

std::vector<float> tensor_floats(const gguf::TensorInfo& t) {
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  quant::dequantize_row(t.type, t.data, out.data(), t.n_elements());
  return out;
}

ErrorKind error_of(const std::function<void()>& f, std::string* message) {
  try {
    f();
  } catch (const Error& e) {
    *message = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "no Error thrown";
  return ErrorKind::Internal;
}

TEST(ConvertModel, LlamaMetadataNamesShapesAndTypes) {
  TempDir dir;
  TinyModel m;
  make_model(dir.hf(), m);
  std::string log;
  const auto f = convert(dir, "f16", &log);
  EXPECT_EQ(f->get_string("general.architecture", ""), "llama");
  EXPECT_EQ(f->get_string("general.name", ""), "hf");
  EXPECT_EQ(f->get_u64("general.file_type", 99), 1u);
  EXPECT_EQ(f->get("llama.context_length").type(), gguf::ValueType::UInt32);
  EXPECT_EQ(f->get_u64("llama.context_length", 0), 4096u);
  EXPECT_EQ(f->get_u64("llama.embedding_length", 0), 64u);
  EXPECT_EQ(f->get_u64("llama.block_count", 0), 2u);
  EXPECT_EQ(f->get_u64("llama.feed_forward_length", 0), 96u);
  EXPECT_EQ(f->get_u64("llama.attention.head_count", 0), 4u);
  EXPECT_EQ(f->get_u64("llama.attention.head_count_kv", 0), 2u);
  EXPECT_EQ(f->get_u64("llama.attention.key_length", 0), 16u);
  EXPECT_EQ(f->get_u64("llama.attention.value_length", 0), 16u);
  EXPECT_EQ(f->get_u64("llama.rope.dimension_count", 0), 16u);
  EXPECT_EQ(f->get_u64("llama.vocab_size", 0), 40u);
  EXPECT_EQ(f->get("llama.attention.layer_norm_rms_epsilon").type(), gguf::ValueType::Float32);
  EXPECT_FLOAT_EQ(static_cast<float>(f->get_f64("llama.attention.layer_norm_rms_epsilon", 0)), 1e-5f);
  EXPECT_FLOAT_EQ(static_cast<float>(f->get_f64("llama.rope.freq_base", 0)), 500000.0f);
  EXPECT_EQ(f->find("llama.rope.scaling.type"), nullptr);
  EXPECT_EQ(f->find("rope_freqs.weight"), nullptr);
  EXPECT_EQ(f->get_string("tokenizer.ggml.model", ""), "gpt2");

  // token_embd, 2 x 9 block tensors, output_norm, output — in that order.
  ASSERT_EQ(f->tensors().size(), 21u);
  EXPECT_EQ(f->tensors().front().name, "token_embd.weight");
  EXPECT_EQ(f->tensors()[1].name, "blk.0.attn_norm.weight");
  EXPECT_EQ(f->tensors()[2].name, "blk.0.attn_q.weight");
  EXPECT_EQ(f->tensors()[10].name, "blk.1.attn_norm.weight");
  EXPECT_EQ(f->tensors().back().name, "output.weight");
  const auto& q = f->tensor("blk.1.attn_q.weight");
  EXPECT_EQ(q.type, GgmlType::F16);
  EXPECT_EQ(q.shape, (std::vector<int64_t>{64, 64}));
  EXPECT_EQ(f->tensor("blk.0.attn_k.weight").shape, (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(f->tensor("blk.0.ffn_down.weight").shape, (std::vector<int64_t>{96, 64}));
  EXPECT_EQ(f->tensor("blk.0.ffn_gate.weight").shape, (std::vector<int64_t>{64, 96}));
  EXPECT_EQ(f->tensor("token_embd.weight").shape, (std::vector<int64_t>{64, 40}));
  const auto& norm = f->tensor("blk.0.ffn_norm.weight");
  EXPECT_EQ(norm.type, GgmlType::F32);
  EXPECT_EQ(norm.shape, (std::vector<int64_t>{64}));
  EXPECT_NE(log.find("[21/21]"), std::string::npos) << log;
}

TEST(ConvertModel, LlamaPermutesQueryAndKeyRowsForInterleavedRope) {
  TempDir dir;
  TinyModel m;
  const auto src = make_model(dir.hf(), m);
  const auto f = convert(dir, "f32");
  const auto check = [&](const std::string& hf, const std::string& gg, int64_t n_head) {
    const Source& s = src.at(hf);
    const std::vector<float> got = tensor_floats(f->tensor(gg));
    const int64_t rows = s.shape[0], cols = s.shape[1], hd = rows / n_head;
    for (int64_t h = 0; h < n_head; ++h) {
      for (int64_t j = 0; j < hd / 2; ++j) {
        for (int64_t half = 0; half < 2; ++half) {
          const int64_t dst_row = h * hd + 2 * j + half, src_row = h * hd + half * (hd / 2) + j;
          for (int64_t c = 0; c < cols; ++c) {
            ASSERT_EQ(got[static_cast<size_t>(dst_row * cols + c)], s.values[static_cast<size_t>(src_row * cols + c)])
                << gg << " row " << dst_row;
          }
        }
      }
    }
  };
  check("model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight", 4);
  check("model.layers.1.self_attn.k_proj.weight", "blk.1.attn_k.weight", 2);
  // Spot check with the numbers written out: head_dim 16, so GGUF row 1 is HF row 8, row 2 is row 1.
  const std::vector<float> q = tensor_floats(f->tensor("blk.0.attn_q.weight"));
  const Source& sq = src.at("model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(q[1 * 64], sq.values[8 * 64]);
  EXPECT_EQ(q[2 * 64], sq.values[1 * 64]);
  EXPECT_EQ(q[16 * 64 + 1 * 64], sq.values[24 * 64]);
  // Everything else is as it was.
  const std::vector<float> v = tensor_floats(f->tensor("blk.0.attn_v.weight"));
  EXPECT_EQ(v, src.at("model.layers.0.self_attn.v_proj.weight").values);
  EXPECT_EQ(tensor_floats(f->tensor("output.weight")), src.at("lm_head.weight").values);
}

TEST(ConvertModel, Qwen2KeepsRowsAndWritesBiases) {
  TempDir dir;
  TinyModel m;
  m.hf_arch = "Qwen2ForCausalLM";
  m.tie = true;
  m.extra_tensors = {"model.rotary_emb.inv_freq"};
  const auto src = make_model(dir.hf(), m);
  std::string log;
  const auto f = convert(dir, "f32", &log);
  EXPECT_EQ(f->get_string("general.architecture", ""), "qwen2");
  EXPECT_EQ(f->get_u64("qwen2.block_count", 0), 2u);
  EXPECT_EQ(tensor_floats(f->tensor("blk.0.attn_q.weight")), src.at("model.layers.0.self_attn.q_proj.weight").values);
  EXPECT_EQ(tensor_floats(f->tensor("blk.1.attn_k.weight")), src.at("model.layers.1.self_attn.k_proj.weight").values);
  const auto& bias = f->tensor("blk.1.attn_k.bias");
  EXPECT_EQ(bias.type, GgmlType::F32);
  EXPECT_EQ(bias.shape, (std::vector<int64_t>{32}));
  EXPECT_EQ(tensor_floats(bias), src.at("model.layers.1.self_attn.k_proj.bias").values);
  // tie_word_embeddings: lm_head is dropped, the loader reuses token_embd.
  EXPECT_EQ(f->find_tensor("output.weight"), nullptr);
  EXPECT_NE(log.find("lm_head.weight"), std::string::npos) << log;
  EXPECT_NE(log.find("warning: skipping tensor 'model.rotary_emb.inv_freq'"), std::string::npos) << log;
  EXPECT_EQ(f->find_tensor("model.rotary_emb.inv_freq"), nullptr);
}

TEST(ConvertModel, Qwen3WritesQueryKeyNormsAndHeadDim) {
  TempDir dir;
  TinyModel m;
  m.hf_arch = "Qwen3ForCausalLM";
  m.head_dim = 32;  // not hidden / heads
  m.lm_head = false;
  const auto src = make_model(dir.hf(), m);
  std::string log;
  const auto f = convert(dir, "bf16", &log);
  EXPECT_EQ(f->get_string("general.architecture", ""), "qwen3");
  EXPECT_EQ(f->get_u64("general.file_type", 0), 32u);
  EXPECT_EQ(f->get_u64("qwen3.attention.key_length", 0), 32u);
  EXPECT_EQ(f->get_u64("qwen3.rope.dimension_count", 0), 32u);
  EXPECT_EQ(f->tensor("blk.0.attn_q.weight").shape, (std::vector<int64_t>{64, 128}));
  EXPECT_EQ(f->tensor("blk.0.attn_q.weight").type, GgmlType::BF16);
  EXPECT_EQ(f->tensor("blk.0.attn_output.weight").shape, (std::vector<int64_t>{128, 64}));
  EXPECT_EQ(f->tensor("blk.1.attn_k_norm.weight").shape, (std::vector<int64_t>{32}));
  EXPECT_EQ(tensor_floats(f->tensor("blk.1.attn_q_norm.weight")),
            src.at("model.layers.1.self_attn.q_norm.weight").values);
  EXPECT_EQ(f->find_tensor("output.weight"), nullptr);  // no lm_head in the files
  EXPECT_NE(log.find("no lm_head.weight"), std::string::npos) << log;
}

TEST(ConvertModel, ReadsShardsThroughTheIndex) {
  TempDir dir;
  TinyModel m;
  m.shards = 3;
  m.dtype = "BF16";
  const auto src = make_model(dir.hf(), m);
  ASSERT_TRUE(fs::exists(dir.hf_file("model-00003-of-00003.safetensors")));
  const auto f = convert(dir, "auto");
  EXPECT_EQ(f->tensors().size(), 21u);
  EXPECT_EQ(f->get_u64("general.file_type", 0), 32u);  // "auto" keeps bf16
  EXPECT_EQ(f->tensor("blk.1.ffn_up.weight").type, GgmlType::BF16);
  EXPECT_EQ(f->tensor("blk.1.ffn_norm.weight").type, GgmlType::F32);
  EXPECT_EQ(tensor_floats(f->tensor("blk.1.ffn_up.weight")), src.at("model.layers.1.mlp.up_proj.weight").values);
  EXPECT_EQ(tensor_floats(f->tensor("output_norm.weight")), src.at("model.norm.weight").values);
}

TEST(ConvertModel, OutputTypes) {
  TempDir dir;
  TinyModel m;
  m.ff = 80;  // ffn_down rows of 80: not whole Q8_0 blocks
  m.dtype = "F16";
  const auto src = make_model(dir.hf(), m);
  const auto up = src.at("model.layers.0.mlp.up_proj.weight").values;

  auto f = convert(dir, "f32");
  EXPECT_EQ(f->get_u64("general.file_type", 99), 0u);
  EXPECT_EQ(f->tensor("blk.0.ffn_up.weight").type, GgmlType::F32);
  EXPECT_EQ(tensor_floats(f->tensor("blk.0.ffn_up.weight")), up);

  f = convert(dir, "f16");
  EXPECT_EQ(f->tensor("blk.0.ffn_up.weight").type, GgmlType::F16);
  EXPECT_EQ(tensor_floats(f->tensor("blk.0.ffn_up.weight")), up);

  f = convert(dir, "auto");
  EXPECT_EQ(f->get_u64("general.file_type", 99), 1u);
  EXPECT_EQ(f->tensor("token_embd.weight").type, GgmlType::F16);

  std::string log;
  f = convert(dir, "q8_0", &log);
  EXPECT_EQ(f->get_u64("general.file_type", 99), 7u);
  EXPECT_EQ(f->get_u64("general.quantization_version", 0), 2u);
  const auto& t = f->tensor("blk.0.ffn_up.weight");
  EXPECT_EQ(t.type, GgmlType::Q8_0);
  EXPECT_EQ(t.nbytes, 80u * 2 * 34);  // 80 rows of two 34-byte blocks
  const std::vector<float> got = tensor_floats(t);
  for (size_t i = 0; i < up.size(); i += 32) {
    float amax = 0;
    for (size_t k = i; k < i + 32; ++k) amax = std::max(amax, std::fabs(up[k]));
    for (size_t k = i; k < i + 32; ++k)
      ASSERT_NEAR(got[k], up[k], amax / 127.0f * 0.6f) << k;  // half a step + the fp16 scale's rounding
  }
  EXPECT_EQ(f->tensor("blk.0.ffn_down.weight").type, GgmlType::F16);
  EXPECT_NE(log.find("not whole Q8_0 blocks"), std::string::npos) << log;
  EXPECT_EQ(f->tensor("blk.0.attn_norm.weight").type, GgmlType::F32);

  std::string msg;
  EXPECT_EQ(error_of([&] { convert(dir, "q4_k"); }, &msg), ErrorKind::BadInput);
  EXPECT_NE(msg.find("q4_k"), std::string::npos) << msg;
}

TEST(ConvertModel, Llama3RopeScalingWritesRopeFreqs) {
  TempDir dir;
  TinyModel m;
  m.extra_config = {{"rope_scaling",
                     {{"rope_type", "llama3"},
                      {"factor", 8.0},
                      {"low_freq_factor", 1.0},
                      {"high_freq_factor", 4.0},
                      {"original_max_position_embeddings", 8192}}}};
  make_model(dir.hf(), m);
  const auto f = convert(dir, "f16");
  const auto& t = f->tensor("rope_freqs.weight");
  EXPECT_EQ(f->tensors().front().name, "rope_freqs.weight");
  EXPECT_EQ(t.type, GgmlType::F32);
  ASSERT_EQ(t.shape, (std::vector<int64_t>{8}));
  // head_dim 16, theta 500000: wavelength_i = 2 pi 500000^(i/8). Below 8192/4 = 2048 -> 1, above
  // 8192 -> factor 8; only i = 4 (2 pi sqrt(500000) = 4442.9) lies between and is smoothed.
  const double wavelen4 = 2 * std::numbers::pi * std::sqrt(500000.0);
  const double smooth = (8192.0 / wavelen4 - 1.0) / (4.0 - 1.0);
  const double mid = 1.0 / ((1.0 - smooth) / 8.0 + smooth);  // = 2.6945…
  const std::vector<double> want = {1, 1, 1, 1, mid, 8, 8, 8};
  const std::vector<float> got = tensor_floats(t);
  for (size_t i = 0; i < 8; ++i) EXPECT_NEAR(got[i], want[i], 1e-4 * want[i]) << i;
  EXPECT_NEAR(mid, 2.6945, 1e-3);
  EXPECT_EQ(f->find("llama.rope.scaling.type"), nullptr);
}

TEST(ConvertModel, ReadsTransformers5RopeParameters) {
  TempDir dir;
  TinyModel m;
  m.extra_config = {{"rope_theta", nullptr},
                    {"rope_parameters",
                     {{"rope_type", "llama3"},
                      {"rope_theta", 250000.0},
                      {"factor", 8.0},
                      {"low_freq_factor", 1.0},
                      {"high_freq_factor", 4.0},
                      {"original_max_position_embeddings", 64}}}};
  make_model(dir.hf(), m);
  const auto f = convert(dir, "f16");
  EXPECT_FLOAT_EQ(static_cast<float>(f->get_f64("llama.rope.freq_base", 0)), 250000.0f);
  // Original context 64: wavelengths 2 pi 250000^(i/8) from 6.3 up: below 16 -> 1, above 64 -> 8.
  const std::vector<float> got = tensor_floats(f->tensor("rope_freqs.weight"));
  ASSERT_EQ(got.size(), 8u);
  EXPECT_FLOAT_EQ(got[0], 1.0f);
  EXPECT_GT(got[1], 1.0f);  // 2 pi 250000^(1/8) = 29.6, between: smoothed
  EXPECT_LT(got[1], 8.0f);
  EXPECT_FLOAT_EQ(got[2], 8.0f);
  EXPECT_FLOAT_EQ(got[7], 8.0f);
}

TEST(ConvertModel, LinearRopeScalingIsMetadata) {
  TempDir dir;
  TinyModel m;
  m.extra_config = {{"rope_scaling", {{"type", "linear"}, {"factor", 4.0}}}};
  make_model(dir.hf(), m);
  const auto f = convert(dir, "f16");
  EXPECT_EQ(f->get_string("llama.rope.scaling.type", ""), "linear");
  EXPECT_FLOAT_EQ(static_cast<float>(f->get_f64("llama.rope.scaling.factor", 0)), 4.0f);
  EXPECT_EQ(f->find_tensor("rope_freqs.weight"), nullptr);
}

TEST(ConvertModel, MistralIsLlamaAndDefaultsApply) {
  TempDir dir;
  TinyModel m;
  m.hf_arch = "MistralForCausalLM";
  m.kv_heads = 4;
  m.extra_config = {{"num_key_value_heads", nullptr}, {"rope_theta", nullptr}};
  make_model(dir.hf(), m);
  Options opt;
  opt.name = "Tiny Mistral";
  std::ostringstream log;
  convert_hf(dir.hf() + "/", dir.out(), opt, log);
  const auto f = gguf::File::open(dir.out());
  EXPECT_EQ(f->get_string("general.architecture", ""), "llama");
  EXPECT_EQ(f->get_string("general.name", ""), "Tiny Mistral");
  EXPECT_EQ(f->get_u64("llama.attention.head_count_kv", 0), 4u);  // defaults to head_count
  EXPECT_FLOAT_EQ(static_cast<float>(f->get_f64("llama.rope.freq_base", 0)), 10000.0f);
}

// Mistral's sliding window reaches the file and the loaded model (forward_sliding_window_test
// checks the attention it limits).
TEST(ConvertModel, MistralSlidingWindowIsKept) {
  TempDir dir;
  TinyModel m;
  m.hf_arch = "MistralForCausalLM";
  m.extra_config = {{"sliding_window", 8}};
  make_model(dir.hf(), m);
  const auto f = convert(dir, "f32");
  EXPECT_EQ(f->get_u64("llama.attention.sliding_window", 0), 8u);
  EXPECT_EQ(Model::load(dir.out())->hp.sliding_window, 8);
}

// attention_bias puts biases on q, k, v and o; the loaded model reads all four.
TEST(ConvertModel, AttentionBiasIncludesTheOutputProjection) {
  TempDir dir;
  TinyModel m;
  m.extra_config = {{"attention_bias", true}};
  make_model(dir.hf(), m);
  const auto f = convert(dir, "f32");
  ASSERT_NE(f->find_tensor("blk.1.attn_output.bias"), nullptr);
  const auto model = Model::load(dir.out());
  EXPECT_TRUE(model->layers[1].bq);
  EXPECT_TRUE(model->layers[1].bo);
}

TEST(ConvertModel, VocabOnlyWritesTheTokenizerAndArchitecture) {
  TempDir dir;
  write_json(dir.hf_file("tokenizer.json"), tiny_tokenizer());
  write_json(dir.hf_file("config.json"), {{"architectures", {"Qwen2ForCausalLM"}}, {"vocab_size", 8}});
  Options opt;
  opt.vocab_only = true;
  std::ostringstream log;
  convert_hf(dir.hf(), dir.out(), opt, log);
  const auto f = gguf::File::open(dir.out());
  EXPECT_TRUE(f->tensors().empty());
  EXPECT_EQ(f->get_string("general.architecture", ""), "qwen2");
  EXPECT_EQ(f->get("tokenizer.ggml.tokens").as_array().size(), 8u);
  EXPECT_EQ(f->find("qwen2.block_count"), nullptr);

  fs::remove(dir.hf_file("config.json"));
  convert_hf(dir.hf(), dir.out(), opt, log);
  const auto g = gguf::File::open(dir.out());
  EXPECT_EQ(g->find("general.architecture"), nullptr);
  EXPECT_EQ(g->get("tokenizer.ggml.tokens").as_array().size(), 6u);
}

TEST(ConvertModel, ClearErrors) {
  TempDir dir;
  std::string msg;
  Options opt;
  std::ostringstream log;
  const auto run = [&] { convert_hf(dir.hf(), dir.out(), opt, log); };

  EXPECT_EQ(error_of(run, &msg), ErrorKind::NotFound);
  EXPECT_NE(msg.find("config.json"), std::string::npos) << msg;

  TinyModel m;
  m.hf_arch = "GPTNeoXForCausalLM";
  make_model(dir.hf(), m);
  EXPECT_EQ(error_of(run, &msg), ErrorKind::Unsupported);
  EXPECT_NE(msg.find("GPTNeoXForCausalLM"), std::string::npos) << msg;

  m.hf_arch = "LlamaForCausalLM";
  m.extra_config = {{"rope_scaling", {{"rope_type", "yarn"}, {"factor", 4.0}}}};
  make_model(dir.hf(), m);
  EXPECT_EQ(error_of(run, &msg), ErrorKind::Unsupported);
  EXPECT_NE(msg.find("yarn"), std::string::npos) << msg;

  m.extra_config = {{"hidden_size", "big"}};
  make_model(dir.hf(), m);
  EXPECT_EQ(error_of(run, &msg), ErrorKind::BadInput);
  EXPECT_NE(msg.find("hidden_size"), std::string::npos) << msg;

  m.extra_config = {{"intermediate_size", 100}};  // config disagrees with the tensors
  make_model(dir.hf(), m);
  m.extra_config = json::object();
  EXPECT_EQ(error_of(run, &msg), ErrorKind::BadInput);
  EXPECT_NE(msg.find("config.json implies [100, 64]"), std::string::npos) << msg;

  // A missing required tensor is named.
  make_model(dir.hf(), m);
  {
    const SafetensorsFile full(dir.hf_file("model.safetensors"));
    std::vector<StTensorToWrite> keep;
    for (const StTensor& t : full.tensors()) {
      if (t.name == "model.layers.1.mlp.up_proj.weight") continue;
      keep.push_back({t.name, t.dtype_name, t.shape, std::vector<uint8_t>(t.data, t.data + t.nbytes)});
    }
    write_safetensors(dir.hf_file("reduced.safetensors"), keep);
  }
  fs::rename(dir.hf_file("reduced.safetensors"), dir.hf_file("model.safetensors"));
  EXPECT_EQ(error_of(run, &msg), ErrorKind::BadInput);
  EXPECT_NE(msg.find("blk.1.ffn_up.weight"), std::string::npos) << msg;

  // Truncated weights.
  make_model(dir.hf(), m);
  fs::resize_file(dir.hf_file("model.safetensors"), fs::file_size(dir.hf_file("model.safetensors")) - 10);
  EXPECT_EQ(error_of(run, &msg), ErrorKind::BadInput);
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;

  // An integer dtype for a weight we need.
  make_model(dir.hf(), m);
  {
    const SafetensorsFile full(dir.hf_file("model.safetensors"));
    std::vector<StTensorToWrite> changed;
    for (const StTensor& t : full.tensors()) {
      StTensorToWrite w{t.name, t.dtype_name, t.shape, std::vector<uint8_t>(t.data, t.data + t.nbytes)};
      if (t.name == "model.layers.0.self_attn.v_proj.weight") w.dtype = "I32";  // same size as F32
      changed.push_back(std::move(w));
    }
    write_safetensors(dir.hf_file("changed.safetensors"), changed);
  }
  fs::rename(dir.hf_file("changed.safetensors"), dir.hf_file("model.safetensors"));
  EXPECT_EQ(error_of(run, &msg), ErrorKind::Unsupported);
  EXPECT_NE(msg.find("model.layers.0.self_attn.v_proj.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("I32"), std::string::npos) << msg;

  // No tokenizer.json.
  make_model(dir.hf(), m);
  fs::remove(dir.hf_file("tokenizer.json"));
  EXPECT_EQ(error_of(run, &msg), ErrorKind::NotFound);
  EXPECT_NE(msg.find("tokenizer.json"), std::string::npos) << msg;

  EXPECT_FALSE(fs::exists(dir.out()));  // nothing half-written was left behind
}

}  // namespace
}  // namespace hayate::convert
