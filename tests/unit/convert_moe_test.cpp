// convert_hf on tiny mixture-of-experts directories made here (Qwen3-MoE and Mixtral names):
// the expert keys, the per-expert tensors stacked into GGUF's *_exps tensors in expert order,
// the router kept in f32, and the layouts hayate refuses by name.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "convert/convert.h"
#include "convert/safetensors.h"
#include "core/error.h"
#include "forward/forward.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "support/forward_runs.h"

namespace hayate::convert {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int64_t kHidden = 64, kHeads = 4, kKvHeads = 2, kHeadDim = 16, kFf = 96, kExpertFf = 32, kExperts = 4,
                  kVocab = 40;

struct MoeDir {
  std::string hf_class = "Qwen3MoeForCausalLM";
  json extra = json::object();
  int64_t skip_expert = -1;  // leave this expert's tensors out
  bool fused = false;        // experts as transformers 5 holds them: experts.gate_up_proj, experts.down_proj
  bool random = false;       // weights of a sane random network (for running it) instead of distinct values
};

float value_at(int seed, int64_t i) { return static_cast<float>(seed) + static_cast<float>(i % 97) * 0.03125f; }

// A value in [-1, 1) from a hash of (seed, i): the same on every run.
float random_at(int seed, int64_t i) {
  uint64_t h = (static_cast<uint64_t>(seed) << 32) ^ static_cast<uint64_t>(i);
  h = (h ^ (h >> 31)) * 0x7fb5d329728ea185ull;
  h = (h ^ (h >> 27)) * 0x81dadef4bc2dd44dull;
  return static_cast<float>((h ^ (h >> 33)) >> 11) / static_cast<float>(1ull << 52) - 1.0f;
}

float weight_at(const std::string& name, int seed, int64_t i, bool random) {
  if (!random) return value_at(seed, i);
  if (name.find("norm") != std::string::npos) return 1.0f + 0.1f * random_at(seed, i);
  if (name.ends_with(".gate.weight")) return 0.5f * random_at(seed, i);  // router: clear top-2 gaps
  return (name.find("embed") != std::string::npos ? 0.8f : 0.25f) * random_at(seed, i);
}

// Writes the directory; returns each source tensor's values by Hugging Face name.
std::map<std::string, std::vector<float>> write_dir(const fs::path& dir, const MoeDir& m) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  const bool mixtral = m.hf_class == "MixtralForCausalLM";
  json config = {{"architectures", {m.hf_class}},
                 {"hidden_size", kHidden},
                 {"intermediate_size", mixtral ? kExpertFf : kFf},
                 {"max_position_embeddings", 512},
                 {"num_attention_heads", kHeads},
                 {"num_hidden_layers", 1},
                 {"num_key_value_heads", kKvHeads},
                 {"head_dim", kHeadDim},
                 {"rms_norm_eps", 1e-6},
                 {"rope_theta", 10000.0},
                 {"vocab_size", kVocab},
                 {"num_experts_per_tok", 2}};
  if (mixtral) {
    config["num_local_experts"] = kExperts;
    config["sliding_window"] = 8;
    config["router_jitter_noise"] = 0.0;
  } else {
    config["num_experts"] = kExperts;
    config["moe_intermediate_size"] = kExpertFf;
    config["norm_topk_prob"] = true;
    config["decoder_sparse_step"] = 1;
    config["mlp_only_layers"] = json::array();
  }
  config.update(m.extra);
  for (const auto& [key, value] : m.extra.items())
    if (value.is_null()) config.erase(key);  // null in `extra`: the key is absent
  std::ofstream(dir / "config.json") << config.dump(2);
  std::ofstream(dir / "tokenizer.json") << R"({"version": "1.0", "added_tokens": [], "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
    "post_processor": null, "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}})";

  const int64_t q = kHeads * kHeadDim, kv = kKvHeads * kHeadDim;
  const std::string p = "model.layers.0.";
  const std::string moe = mixtral ? p + "block_sparse_moe." : p + "mlp.";
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
      {"model.embed_tokens.weight", {kVocab, kHidden}},
      {p + "input_layernorm.weight", {kHidden}},
      {p + "self_attn.q_proj.weight", {q, kHidden}},
      {p + "self_attn.k_proj.weight", {kv, kHidden}},
      {p + "self_attn.v_proj.weight", {kv, kHidden}},
      {p + "self_attn.o_proj.weight", {kHidden, q}},
      {p + "post_attention_layernorm.weight", {kHidden}},
      {moe + "gate.weight", {kExperts, kHidden}},
      {"model.norm.weight", {kHidden}},
      {"lm_head.weight", {kVocab, kHidden}},
  };
  if (!mixtral) {
    shapes.push_back({p + "self_attn.q_norm.weight", {kHeadDim}});
    shapes.push_back({p + "self_attn.k_norm.weight", {kHeadDim}});
  }
  // Experts last and in reverse, as shards may list them: the stack's order is the experts' ids.
  for (int64_t e = kExperts - 1; e >= 0; --e) {
    if (e == m.skip_expert) continue;
    const std::string x = moe + "experts." + std::to_string(e) + ".";
    shapes.push_back({x + (mixtral ? "w1.weight" : "gate_proj.weight"), {kExpertFf, kHidden}});
    shapes.push_back({x + (mixtral ? "w3.weight" : "up_proj.weight"), {kExpertFf, kHidden}});
    shapes.push_back({x + (mixtral ? "w2.weight" : "down_proj.weight"), {kHidden, kExpertFf}});
  }
  std::map<std::string, std::vector<float>> values;
  std::vector<StTensorToWrite> tensors;
  const auto add = [&tensors](const std::string& name, const std::vector<int64_t>& shape, const std::vector<float>& v) {
    std::vector<uint8_t> bytes(v.size() * 4);
    std::memcpy(bytes.data(), v.data(), bytes.size());
    tensors.push_back({name, "F32", shape, std::move(bytes)});
  };
  int seed = 0;
  for (const auto& [name, shape] : shapes) {
    std::vector<float> v(static_cast<size_t>(shape[0] * (shape.size() > 1 ? shape[1] : 1)));
    for (size_t i = 0; i < v.size(); ++i) v[i] = weight_at(name, seed, static_cast<int64_t>(i), m.random);
    ++seed;
    if (!m.fused || name.find(".experts.") == std::string::npos) add(name, shape, v);
    values[name] = std::move(v);
  }
  if (m.fused) {
    std::vector<float> gate_up, down;
    for (int64_t e = 0; e < kExperts; ++e) {
      const std::string x = moe + "experts." + std::to_string(e) + ".";
      for (const char* part : {"gate_proj", "up_proj"})
        gate_up.insert(gate_up.end(), values[x + part + ".weight"].begin(), values[x + part + ".weight"].end());
      down.insert(down.end(), values[x + "down_proj.weight"].begin(), values[x + "down_proj.weight"].end());
    }
    add(moe + "experts.gate_up_proj", {kExperts, 2 * kExpertFf, kHidden}, gate_up);
    add(moe + "experts.down_proj", {kExperts, kHidden, kExpertFf}, down);
  }
  write_safetensors((dir / "model.safetensors").string(), tensors);
  return values;
}

fs::path temp_dir(const std::string& name) {
  return fs::temp_directory_path() / ("hayate_moe_" + std::to_string(::getpid()) + "_" + name);
}

std::vector<float> floats(const gguf::TensorInfo& t) {
  std::vector<float> v(static_cast<size_t>(t.n_elements()));
  std::memcpy(v.data(), t.data, v.size() * 4);
  return v;
}

std::string refusal(const MoeDir& m, const std::string& name, ErrorKind kind) {
  const fs::path dir = temp_dir(name);
  write_dir(dir / "hf", m);
  std::ostringstream log;
  Options opt;
  opt.out_type = "f32";
  try {
    convert_hf((dir / "hf").string(), (dir / "out.gguf").string(), opt, log);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    fs::remove_all(dir);
    return e.what();
  }
  fs::remove_all(dir);
  ADD_FAILURE() << name << " converted";
  return {};
}

TEST(ConvertMoe, ExpertsAreStackedInExpertOrder) {
  for (const std::string hf_class : {"Qwen3MoeForCausalLM", "MixtralForCausalLM"}) {
    SCOPED_TRACE(hf_class);
    const bool mixtral = hf_class == "MixtralForCausalLM";
    const fs::path dir = temp_dir(hf_class);
    const auto values = write_dir(dir / "hf", {hf_class});
    std::ostringstream log;
    Options opt;
    opt.out_type = "f16";
    convert_hf((dir / "hf").string(), (dir / "out.gguf").string(), opt, log);
    opt.out_type = "f32";
    convert_hf((dir / "hf").string(), (dir / "out32.gguf").string(), opt, log);

    const auto f16 = gguf::File::open((dir / "out.gguf").string());
    const std::string a = mixtral ? "llama" : "qwen3moe";
    EXPECT_EQ(f16->get_string("general.architecture", ""), a);
    EXPECT_EQ(f16->get_i64(a + ".expert_count", 0), kExperts);
    EXPECT_EQ(f16->get_i64(a + ".expert_used_count", 0), 2);
    EXPECT_EQ(f16->get_i64(a + ".expert_feed_forward_length", 0), kExpertFf);
    EXPECT_EQ(f16->get_i64(a + ".attention.sliding_window", 0), mixtral ? 8 : 0);
    EXPECT_EQ(f16->find_tensor("blk.0.ffn_gate_inp.weight")->type, GgmlType::F32);
    EXPECT_EQ(f16->find_tensor("blk.0.ffn_up_exps.weight")->type, GgmlType::F16);

    const auto f32 = gguf::File::open((dir / "out32.gguf").string());
    const std::string moe = mixtral ? "model.layers.0.block_sparse_moe." : "model.layers.0.mlp.";
    const std::map<std::string, std::string> parts =
        mixtral ? std::map<std::string, std::string>{{"gate", "w1"}, {"up", "w3"}, {"down", "w2"}}
                : std::map<std::string, std::string>{{"gate", "gate_proj"}, {"up", "up_proj"}, {"down", "down_proj"}};
    for (const auto& [gguf_part, hf_part] : parts) {
      const gguf::TensorInfo* t = f32->find_tensor("blk.0.ffn_" + gguf_part + "_exps.weight");
      ASSERT_NE(t, nullptr) << gguf_part;
      const bool down = gguf_part == "down";
      EXPECT_EQ(t->shape, (std::vector<int64_t>{down ? kExpertFf : kHidden, down ? kHidden : kExpertFf, kExperts}));
      std::vector<float> want;
      for (int64_t e = 0; e < kExperts; ++e) {
        const auto& v = values.at(moe + "experts." + std::to_string(e) + "." + hf_part + ".weight");
        want.insert(want.end(), v.begin(), v.end());
      }
      EXPECT_EQ(floats(*t), want) << gguf_part;
    }
    EXPECT_EQ(floats(*f32->find_tensor("blk.0.ffn_gate_inp.weight")), values.at(moe + "gate.weight"));
    const auto model = Model::load((dir / "out32.gguf").string());
    EXPECT_EQ(model->hp.n_expert, kExperts);
    EXPECT_EQ(model->hp.n_ff_exp, kExpertFf);
    EXPECT_TRUE(model->hp.expert_weights_norm);
    fs::remove_all(dir);
  }
}

TEST(ConvertMoe, FusedExpertsConvertAsPerExpertOnes) {
  const fs::path dir = temp_dir("fused");
  write_dir(dir / "per-expert", {});
  MoeDir fused;
  fused.fused = true;
  write_dir(dir / "fused", fused);
  std::ostringstream log;
  Options opt;
  opt.out_type = "q8_0";
  convert_hf((dir / "per-expert").string(), (dir / "a.gguf").string(), opt, log);
  convert_hf((dir / "fused").string(), (dir / "b.gguf").string(), opt, log);
  const auto a = gguf::File::open((dir / "a.gguf").string());
  const auto b = gguf::File::open((dir / "b.gguf").string());
  for (const char* name : {"blk.0.ffn_gate_exps.weight", "blk.0.ffn_up_exps.weight", "blk.0.ffn_down_exps.weight"}) {
    const gguf::TensorInfo *ta = a->find_tensor(name), *tb = b->find_tensor(name);
    ASSERT_TRUE(ta && tb) << name;
    EXPECT_EQ(ta->shape, tb->shape) << name;
    EXPECT_EQ(ta->type, GgmlType::Q8_0) << name;
    ASSERT_EQ(ta->nbytes, tb->nbytes) << name;
    EXPECT_EQ(std::memcmp(ta->data, tb->data, ta->nbytes), 0) << name;
  }
  fs::remove_all(dir);
}

// Hugging Face's forward pass of the one-layer model of write_dir, in float64 over the source
// tensors as transformers lays them out (rotate-half RoPE, per-expert matrices), written from
// its modelling code's definition and independent of GGUF, the converter and the backends.
std::vector<double> hf_forward_f64(const std::map<std::string, std::vector<float>>& w, const std::string& hf_class,
                                   const std::vector<int32_t>& ids, bool norm_topk) {
  const bool mixtral = hf_class == "MixtralForCausalLM", qk_norm = !mixtral;
  const int64_t n = static_cast<int64_t>(ids.size()), window = mixtral ? 8 : n, group = kHeads / kKvHeads;
  const double eps = 1e-6;
  const std::string p = "model.layers.0.", moe = mixtral ? p + "block_sparse_moe." : p + "mlp.";
  const auto matvec = [&](const std::string& name, const std::vector<double>& x, int64_t rows) {
    const std::vector<float>& m = w.at(name);
    const int64_t cols = static_cast<int64_t>(x.size());
    std::vector<double> y(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) y[r] += static_cast<double>(m[r * cols + c]) * x[c];
    return y;
  };
  const auto rms = [&](std::vector<double> x, const std::string& name, int64_t offset, int64_t len) {
    const std::vector<float>& g = w.at(name);
    double ss = 0;
    for (int64_t i = 0; i < len; ++i) ss += x[offset + i] * x[offset + i];
    const double scale = 1.0 / std::sqrt(ss / static_cast<double>(len) + eps);
    for (int64_t i = 0; i < len; ++i) x[offset + i] *= scale * g[i];
    return x;
  };
  const auto rope = [&](std::vector<double>& x, int64_t heads, int64_t pos) {
    const int64_t half = kHeadDim / 2;
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < half; ++i) {
        const double angle = static_cast<double>(pos) * std::pow(10000.0, -2.0 * static_cast<double>(i) / kHeadDim);
        double& a = x[h * kHeadDim + i];
        double& b = x[h * kHeadDim + i + half];
        const double a0 = a, b0 = b;
        a = a0 * std::cos(angle) - b0 * std::sin(angle);
        b = b0 * std::cos(angle) + a0 * std::sin(angle);
      }
  };
  std::vector<std::vector<double>> xs, qs, ks, vs;
  for (int64_t t = 0; t < n; ++t) {
    const std::vector<float>& e = w.at("model.embed_tokens.weight");
    std::vector<double> x(e.begin() + ids[t] * kHidden, e.begin() + (ids[t] + 1) * kHidden);
    const std::vector<double> h = rms(x, p + "input_layernorm.weight", 0, kHidden);
    std::vector<double> q = matvec(p + "self_attn.q_proj.weight", h, kHeads * kHeadDim);
    std::vector<double> k = matvec(p + "self_attn.k_proj.weight", h, kKvHeads * kHeadDim);
    if (qk_norm) {
      for (int64_t hd = 0; hd < kHeads; ++hd) q = rms(q, p + "self_attn.q_norm.weight", hd * kHeadDim, kHeadDim);
      for (int64_t hd = 0; hd < kKvHeads; ++hd) k = rms(k, p + "self_attn.k_norm.weight", hd * kHeadDim, kHeadDim);
    }
    rope(q, kHeads, t);
    rope(k, kKvHeads, t);
    xs.push_back(x), qs.push_back(q), ks.push_back(k),
        vs.push_back(matvec(p + "self_attn.v_proj.weight", h, kKvHeads * kHeadDim));
  }
  std::vector<double> logits;
  for (int64_t t = 0; t < n; ++t) {
    std::vector<double> attn(static_cast<size_t>(kHeads * kHeadDim));
    for (int64_t hd = 0; hd < kHeads; ++hd) {
      const int64_t kvh = hd / group, first = std::max<int64_t>(0, t - window + 1);
      std::vector<double> score;
      double top = -1e300, sum = 0;
      for (int64_t s = first; s <= t; ++s) {
        double d = 0;
        for (int64_t i = 0; i < kHeadDim; ++i) d += qs[t][hd * kHeadDim + i] * ks[s][kvh * kHeadDim + i];
        score.push_back(d / std::sqrt(static_cast<double>(kHeadDim)));
        top = std::max(top, score.back());
      }
      for (double& sc : score) sum += (sc = std::exp(sc - top));
      for (int64_t s = first; s <= t; ++s)
        for (int64_t i = 0; i < kHeadDim; ++i)
          attn[hd * kHeadDim + i] += score[s - first] / sum * vs[s][kvh * kHeadDim + i];
    }
    std::vector<double> x = xs[t];
    const std::vector<double> o = matvec(p + "self_attn.o_proj.weight", attn, kHidden);
    for (int64_t i = 0; i < kHidden; ++i) x[i] += o[i];
    const std::vector<double> h = rms(x, p + "post_attention_layernorm.weight", 0, kHidden);
    std::vector<double> prob = matvec(moe + "gate.weight", h, kExperts);
    const double top = *std::max_element(prob.begin(), prob.end());
    double z = 0;
    for (double& v : prob) z += (v = std::exp(v - top));
    for (double& v : prob) v /= z;
    std::vector<int64_t> order(static_cast<size_t>(kExperts));
    for (int64_t e = 0; e < kExperts; ++e) order[e] = e;
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return prob[a] > prob[b]; });
    const double chosen = prob[order[0]] + prob[order[1]];
    for (int j = 0; j < 2; ++j) {
      const std::string x_ = moe + "experts." + std::to_string(order[j]) + ".";
      const auto g = matvec(x_ + (mixtral ? "w1.weight" : "gate_proj.weight"), h, kExpertFf);
      const auto u = matvec(x_ + (mixtral ? "w3.weight" : "up_proj.weight"), h, kExpertFf);
      std::vector<double> act(static_cast<size_t>(kExpertFf));
      for (int64_t i = 0; i < kExpertFf; ++i) act[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
      const auto d = matvec(x_ + (mixtral ? "w2.weight" : "down_proj.weight"), act, kHidden);
      const double weight = prob[order[j]] / (norm_topk ? chosen : 1.0);
      for (int64_t i = 0; i < kHidden; ++i) x[i] += weight * d[i];
    }
    const auto out = matvec("lm_head.weight", rms(x, "model.norm.weight", 0, kHidden), kVocab);
    logits.insert(logits.end(), out.begin(), out.end());
  }
  return logits;
}

// The converted model, run by hayate's reference and CPU backends, against that float64 pass:
// the converter's stacking, Mixtral's Q/K permutation and window, the routing and both
// normalisations, checked without transformers. 12 tokens: past Mixtral's window of 8.
TEST(ConvertMoe, ConvertedModelsMatchAFloat64HuggingFaceForward) {
  const std::vector<int32_t> ids = {3, 17, 0, 39, 22, 8, 8, 31, 5, 12, 26, 1};
  for (const auto& [hf_class, norm] : std::vector<std::pair<std::string, bool>>{
           {"MixtralForCausalLM", true}, {"Qwen3MoeForCausalLM", true}, {"Qwen3MoeForCausalLM", false}}) {
    SCOPED_TRACE(hf_class + (norm ? "" : " without norm_topk_prob"));
    MoeDir m{hf_class};
    m.random = true;
    if (!norm) m.extra = {{"norm_topk_prob", false}};
    const fs::path dir = temp_dir("f64");
    const auto values = write_dir(dir / "hf", m);
    std::ostringstream log;
    Options opt;
    opt.out_type = "f32";
    convert_hf((dir / "hf").string(), (dir / "out.gguf").string(), opt, log);
    const auto model = Model::load((dir / "out.gguf").string());
    const std::vector<double> want = hf_forward_f64(values, hf_class, ids, norm);
    for (const char* name : {"reference", "cpu"}) {
      auto be = make_backend(name, 2);
      be->prepare(*model);
      const std::vector<float> got = test::run_tokens(*model, *be, ids, ids.size());
      ASSERT_EQ(got.size(), want.size());
      double worst = 0;
      for (size_t t = 0; t < ids.size(); ++t) {
        double scale = 0, diff = 0;
        for (int64_t i = 0; i < kVocab; ++i) {
          const size_t k = t * kVocab + static_cast<size_t>(i);
          scale = std::max(scale, std::fabs(want[k]));
          diff = std::max(diff, std::fabs(want[k] - got[k]));
        }
        worst = std::max(worst, diff / scale);
      }
      EXPECT_LT(worst, 1e-4) << name;
    }
    fs::remove_all(dir);
  }
}

TEST(ConvertMoe, NormTopkProbDefaultsToFalseForQwen3Moe) {
  MoeDir m;
  m.extra = {{"norm_topk_prob", nullptr}};
  const fs::path dir = temp_dir("unnorm");
  write_dir(dir / "hf", m);
  std::ostringstream log;
  Options opt;
  opt.out_type = "f32";
  convert_hf((dir / "hf").string(), (dir / "out.gguf").string(), opt, log);
  EXPECT_FALSE(Model::load((dir / "out.gguf").string())->hp.expert_weights_norm);
  fs::remove_all(dir);
}

TEST(ConvertMoe, LayoutsHayateDoesNotRunAreRefusedByName) {
  EXPECT_NE(refusal({"Qwen3MoeForCausalLM", {{"mlp_only_layers", {0}}}}, "dense", ErrorKind::Unsupported)
                .find("'mlp_only_layers'"),
            std::string::npos);
  EXPECT_NE(refusal({"Qwen3MoeForCausalLM", {{"decoder_sparse_step", 2}}}, "step", ErrorKind::Unsupported)
                .find("'decoder_sparse_step'"),
            std::string::npos);
  EXPECT_NE(
      refusal({"Qwen3MoeForCausalLM", {{"shared_expert_intermediate_size", 64}}}, "shared", ErrorKind::Unsupported)
          .find("'shared_expert_intermediate_size'"),
      std::string::npos);
  EXPECT_NE(refusal({"Qwen3MoeForCausalLM", {{"num_experts_per_tok", 5}}}, "topk", ErrorKind::BadInput)
                .find("num_experts_per_tok"),
            std::string::npos);
  MoeDir missing;
  missing.skip_expert = 2;
  EXPECT_NE(refusal(missing, "missing", ErrorKind::BadInput).find("expert 2"), std::string::npos);
}

}  // namespace
}  // namespace hayate::convert
