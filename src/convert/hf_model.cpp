// convert_hf: config.json -> general.* and ARCH.* metadata; safetensors tensors -> GGUF tensors
// (renamed, reshaped to GGUF's innermost-first order, llama Q/K rows permuted, converted to the
// output type while the file is written, so memory stays small whatever the model's size).
#include <algorithm>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>

#include "convert/bert.h"
#include "convert/convert.h"
#include "convert/hf_config.h"
#include "convert/json_file.h"
#include "convert/llava.h"
#include "convert/safetensors.h"
#include "convert/tensor_convert.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "quant/mix.h"

namespace hayate::convert {

namespace {

struct OutType {
  const char* name;
  bool keep_source;  // "auto"
  GgmlType type;
};

// The --outtype choices; their help and the error below are generated from this table.
constexpr OutType kOutTypes[] = {
    {"f32", false, GgmlType::F32},   {"f16", false, GgmlType::F16}, {"bf16", false, GgmlType::BF16},
    {"q8_0", false, GgmlType::Q8_0}, {"auto", true, GgmlType::F16},
};

const OutType& parse_out_type(const std::string& s) {
  for (const OutType& t : kOutTypes)
    if (s == t.name) return t;
  fail(ErrorKind::BadInput, "unknown output type '" + s + "' (expected " + out_type_names() + ")");
}

// The general.file_type number of a file whose weights are all of type t (quant/mix.h's table).
uint32_t file_type_of(GgmlType t) {
  const std::optional<quant::FileType> ft = quant::file_type_from_name(ggml_type_name(t));
  if (!ft) fail(ErrorKind::Internal, "no file type for " + std::string(ggml_type_name(t)));
  return quant::file_type_gguf_id(*ft);
}

GgmlType ggml_type_of(StDtype d) {
  return d == StDtype::F32 ? GgmlType::F32 : d == StDtype::BF16 ? GgmlType::BF16 : GgmlType::F16;
}

// The per-layer tensors, in the order they are written within a block. Where the architecture
// has post-norms (Gemma), post_attention_layernorm is the attention output's norm and
// pre_feedforward_layernorm the feed-forward's input norm (llama.cpp's names).
enum class Only { Any, PostNorms, NoPostNorms };
struct BlockTensor {
  const char* hf;    // after "model.layers.N."
  const char* gguf;  // after "blk.N."
  Only only = Only::Any;
};
constexpr BlockTensor kBlockTensors[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.qkv_proj.weight", "attn_qkv.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.o_proj.bias", "attn_output.bias"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"post_attention_layernorm.weight", "post_attention_norm.weight", Only::PostNorms},
    {"post_attention_layernorm.weight", "ffn_norm.weight", Only::NoPostNorms},
    {"pre_feedforward_layernorm.weight", "ffn_norm.weight", Only::PostNorms},
    {"mlp.gate_up_proj.weight", "ffn_up.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"post_feedforward_layernorm.weight", "post_ffw_norm.weight", Only::PostNorms},
    // Mixture of experts: the router (Qwen3-MoE, Mixtral's name), then the stacked experts,
    // whose per-expert tensors expert_part() recognises.
    {"mlp.gate.weight", "ffn_gate_inp.weight"},
    {"block_sparse_moe.gate.weight", "ffn_gate_inp.weight"},
    {"", "ffn_gate_exps.weight"},
    {"", "ffn_up_exps.weight"},
    {"", "ffn_down_exps.weight"},
};
constexpr int kBlockSlots = static_cast<int>(std::size(kBlockTensors));

// Where a GGUF tensor goes in the file: rope_freqs, token_embd, blocks in order, output_norm, output.
struct Place {
  int group = 0;
  int64_t layer = 0;
  int slot = 0;
  bool operator<(const Place& o) const { return std::tie(group, layer, slot) < std::tie(o.group, o.layer, o.slot); }
};

struct Mapped {
  std::string name;
  std::string suffix;  // the name without "blk.N."
  Place place;
  int64_t expert = -1;  // >= 0: this expert's part of a stacked tensor
};

// "mlp.experts.3.gate_proj.weight" (Qwen3-MoE) or "block_sparse_moe.experts.3.w1.weight"
// (Mixtral) -> expert 3 of ffn_gate_exps. Hugging Face keeps one tensor per expert; GGUF one
// stack per projection.
std::optional<std::pair<int64_t, std::string>> expert_part(const std::string& rest) {
  for (const char* prefix : {"mlp.experts.", "block_sparse_moe.experts."}) {
    const std::string p = prefix;
    if (rest.rfind(p, 0) != 0) continue;
    size_t pos = p.size();
    int64_t e = 0;
    const size_t digits = pos;
    while (pos < rest.size() && rest[pos] >= '0' && rest[pos] <= '9' && pos - digits < 9)
      e = e * 10 + (rest[pos++] - '0');
    if (pos == digits || pos >= rest.size() || rest[pos] != '.') return std::nullopt;
    const std::string proj = rest.substr(pos + 1);
    if (proj == "gate_proj.weight" || proj == "w1.weight") return std::pair{e, std::string("ffn_gate_exps.weight")};
    if (proj == "up_proj.weight" || proj == "w3.weight") return std::pair{e, std::string("ffn_up_exps.weight")};
    if (proj == "down_proj.weight" || proj == "w2.weight") return std::pair{e, std::string("ffn_down_exps.weight")};
  }
  return std::nullopt;
}

std::optional<Mapped> map_tensor_name(const std::string& hf, bool post_norms) {
  if (hf == "model.embed_tokens.weight") return Mapped{"token_embd.weight", "token_embd.weight", {1, 0, 0}};
  if (hf == "model.norm.weight") return Mapped{"output_norm.weight", "output_norm.weight", {3, 0, 0}};
  if (hf == "lm_head.weight") return Mapped{"output.weight", "output.weight", {4, 0, 0}};
  const std::string prefix = "model.layers.";
  if (hf.rfind(prefix, 0) != 0) return std::nullopt;
  size_t pos = prefix.size();
  int64_t layer = 0;
  const size_t digits_begin = pos;
  while (pos < hf.size() && hf[pos] >= '0' && hf[pos] <= '9' && pos - digits_begin < 9) {
    layer = layer * 10 + (hf[pos++] - '0');
  }
  if (pos == digits_begin || pos >= hf.size() || hf[pos] != '.') return std::nullopt;
  const std::string rest = hf.substr(pos + 1);
  const std::optional<std::pair<int64_t, std::string>> part = expert_part(rest);
  for (int slot = 0; slot < kBlockSlots; ++slot) {
    const Only only = kBlockTensors[slot].only;
    if (only != Only::Any && (only == Only::PostNorms) != post_norms) continue;
    if (part && part->second == kBlockTensors[slot].gguf) {
      const std::string suffix = kBlockTensors[slot].gguf;
      return Mapped{"blk." + std::to_string(layer) + "." + suffix, suffix, {2, layer, slot}, part->first};
    }
    if (!part && !rest.empty() && rest == kBlockTensors[slot].hf) {
      const std::string suffix = kBlockTensors[slot].gguf;
      return Mapped{"blk." + std::to_string(layer) + "." + suffix, suffix, {2, layer, slot}};
    }
  }
  return std::nullopt;
}

// What the layer's weight list (model/model.h) needs of config.json.
HParams layer_hparams(const HfConfig& c) {
  HParams hp;
  apply_arch(*c.spec, hp);
  hp.n_embd = static_cast<int32_t>(c.embedding_length);
  hp.n_head = static_cast<int32_t>(c.head_count);
  hp.n_head_kv = static_cast<int32_t>(c.head_count_kv);
  hp.head_dim = static_cast<int32_t>(c.head_dim);
  hp.n_ff = static_cast<int32_t>(c.feed_forward_length);
  hp.qkv_bias = c.attention_bias;
  hp.n_expert = static_cast<int32_t>(c.expert_count);
  hp.n_ff_exp = static_cast<int32_t>(c.expert_feed_forward_length);
  return hp;
}

// The PyTorch shape config.json implies for a tensor (by its GGUF name without "blk.N.").
std::vector<int64_t> expected_shape(const HfConfig& c, const std::string& s) {
  if (s == "token_embd.weight" || s == "output.weight") return {c.vocab_size, c.embedding_length};
  for (const WeightSpec& w : layer_weights(layer_hparams(c)))
    if (s == w.suffix) return w.rows ? std::vector<int64_t>{w.rows, w.cols} : std::vector<int64_t>{w.cols};
  return {c.embedding_length};  // output_norm and attn_output.bias
}

std::vector<std::string> required_block_tensors(const HfConfig& c) {
  std::vector<std::string> r;
  for_each_weight(layer_hparams(c), [&](const WeightSpec& w) {
    if (w.required) r.push_back(w.suffix);
  });
  // attention_bias puts a bias on the output projection too, except in an architecture whose
  // q/k/v biases are structural (Qwen2's output projection has none).
  if (c.attention_bias && !c.spec->qkv_bias) r.push_back("attn_output.bias");
  return r;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

struct Planned {
  std::string name;
  const StTensor* src = nullptr;
  GgmlType type = GgmlType::F32;
  int64_t permute_heads = 0;             // > 0: reorder rows for llama's RoPE with this many heads
  float offset = 0.0f;                   // added to every value: Gemma's norms scale by 1 + w, GGUF stores 1 + w
  std::vector<const StTensor*> experts;  // a stack: src is expert 0's tensor, these all of them
};

std::string model_name(const std::string& dir, const Options& opt) {
  if (!opt.name.empty()) return opt.name;
  std::filesystem::path p = std::filesystem::path(dir).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "models/llama/" -> "models/llama"
  std::error_code ec;
  if (p.filename() == "." || p.filename() == "..") p = std::filesystem::absolute(p, ec).lexically_normal();
  return p.filename().string();
}

// transformers 5 keeps a layer's experts fused (experts.gate_up_proj [E, 2I, H], gate rows
// first; experts.down_proj [E, H, I]) and may save them so. Each expert's matrices are views
// into those tensors, named as Hugging Face's per-expert tensors are, so they stack as those do.
// Returns false for a tensor that is not a fused expert tensor.
bool split_fused_experts(const StTensor& t, const std::string& name, std::deque<StTensor>& views,
                         std::vector<std::pair<const StTensor*, std::string>>& out) {
  const bool gate_up = name.ends_with(".experts.gate_up_proj"), down = name.ends_with(".experts.down_proj");
  if (!gate_up && !down) return false;
  const std::string stem = name.substr(0, name.rfind(".experts.") + 9);  // "model.layers.N.mlp.experts."
  if (t.shape.size() != 3 || t.dtype == StDtype::Other || (gate_up && t.shape[1] % 2 != 0))
    fail(ErrorKind::Unsupported, *t.file + ": tensor '" + t.name + "' has shape " + t.shape_string() +
                                     "; hayate converts fused experts laid out as [experts, 2 x ff, hidden] "
                                     "(gate_up_proj) and [experts, hidden, ff] (down_proj) only");
  const int64_t rows = gate_up ? t.shape[1] / 2 : t.shape[1], cols = t.shape[2];
  const size_t bytes = t.nbytes / static_cast<size_t>(t.shape[0] * (gate_up ? 2 : 1));
  for (int64_t e = 0; e < t.shape[0]; ++e)
    for (const char* proj :
         gate_up ? std::vector<const char*>{"gate_proj", "up_proj"} : std::vector<const char*>{"down_proj"}) {
      StTensor v = t;
      v.name = stem + std::to_string(e) + "." + proj + ".weight";
      v.shape = {rows, cols};
      v.data = t.data + bytes * static_cast<size_t>(e * (gate_up ? 2 : 1) + (std::string(proj) == "up_proj"));
      v.nbytes = bytes;
      views.push_back(std::move(v));
      out.push_back({&views.back(), views.back().name});
    }
  return true;
}

std::vector<Planned> plan_tensors(const HfConfig& c, const SafetensorsModel& model, const OutType& out,
                                  const SourceName& rename, std::deque<StTensor>& views, std::ostream& log) {
  std::map<Place, Planned> planned;
  std::map<std::string, const StTensor*> by_gguf_name;
  std::vector<std::pair<const StTensor*, std::string>> sources;  // each tensor and its language-model name
  for (const StTensor* t : model.tensors()) {
    const std::optional<std::string> lm_name = rename ? rename(t->name) : std::optional<std::string>(t->name);
    if (!lm_name) continue;  // another part of the model (a vision tower) converts it
    if (!split_fused_experts(*t, *lm_name, views, sources)) sources.push_back({t, *lm_name});
  }
  for (const auto& [t, lm_name] : sources) {
    std::optional<Mapped> m = map_tensor_name(lm_name, c.spec->post_norms);
    if (!m) {
      log << "convert: warning: skipping tensor '" << t->name << "' (" << c.arch << " does not use it)\n";
      continue;
    }
    if (m->name == "output.weight" && c.tie_word_embeddings) {
      log << "convert: skipping lm_head.weight: tie_word_embeddings is true, the output reuses token_embd\n";
      continue;
    }
    if (m->expert >= c.expert_count) {
      fail(ErrorKind::BadInput, *t->file + ": tensor '" + t->name + "' is an expert past the " +
                                    std::to_string(c.expert_count) + " experts of config.json");
    }
    if (m->place.group == 2 && m->place.layer >= c.block_count) {
      fail(ErrorKind::BadInput, *t->file + ": tensor '" + t->name + "' is past num_hidden_layers = " +
                                    std::to_string(c.block_count) + " of config.json");
    }
    const std::vector<int64_t> want = expected_shape(c, m->suffix);
    if (t->shape != want) {
      fail(ErrorKind::BadInput, *t->file + ": tensor '" + t->name + "' has shape " + t->shape_string() +
                                    ", but config.json implies " + shape_text(want));
    }
    if (t->dtype == StDtype::Other) {
      fail(ErrorKind::Unsupported, *t->file + ": tensor '" + t->name + "' has dtype " + t->dtype_name +
                                       "; hayate converts F32, F16 and BF16 tensors only");
    }
    if (m->expert >= 0 && planned.count(m->place)) {  // another expert of a stack already planned
      Planned& stack = planned[m->place];
      if (t->dtype != stack.src->dtype)
        fail(ErrorKind::BadInput, *t->file + ": tensor '" + t->name + "' has dtype " + t->dtype_name + ", expert " +
                                      stack.src->name + " " + stack.src->dtype_name + "; a stack needs one dtype");
      stack.experts[static_cast<size_t>(m->expert)] = t;
      continue;
    }
    Planned p{m->name, t, GgmlType::F32, 0, 0.0f, {}};
    if (m->expert >= 0) {
      p.experts.assign(static_cast<size_t>(c.expert_count), nullptr);
      p.experts[static_cast<size_t>(m->expert)] = t;
    }
    // Gemma's RMSNorm multiplies by (1 + w); llama.cpp's Gemma files hold 1 + w, as here.
    if (c.spec->scale_embeddings && t->shape.size() == 1 && m->suffix.find("norm.weight") != std::string::npos)
      p.offset = 1.0f;
    if (t->shape.size() == 2 && m->suffix == "ffn_gate_inp.weight") {
      p.type = GgmlType::F32;  // routing decisions need the router's full precision (as llama.cpp keeps it)
    } else if (t->shape.size() == 2) {
      p.type = out.keep_source ? ggml_type_of(t->dtype) : out.type;
      if (p.type == GgmlType::Q8_0 && t->shape[1] % 32 != 0) {
        log << "convert: " << m->name << ": rows of " << t->shape[1] << " are not whole Q8_0 blocks, writing f16\n";
        p.type = GgmlType::F16;
      }
    }
    if (c.spec->rope_type == RopeType::Norm) {  // GGUF stores these rows permuted for adjacent-pair rope
      if (m->suffix == "attn_q.weight" || m->suffix == "attn_q.bias") p.permute_heads = c.head_count;
      if (m->suffix == "attn_k.weight" || m->suffix == "attn_k.bias") p.permute_heads = c.head_count_kv;
    }
    by_gguf_name[m->name] = t;
    planned[m->place] = std::move(p);
  }

  std::vector<std::string> missing;
  for (const char* n : {"token_embd.weight", "output_norm.weight"}) {
    if (!by_gguf_name.count(n)) missing.push_back(n);
  }
  const std::vector<std::string> per_block = required_block_tensors(c);
  for (int64_t i = 0; i < c.block_count; ++i) {
    for (const std::string& s : per_block) {
      const std::string n = "blk." + std::to_string(i) + "." + s;
      if (!by_gguf_name.count(n)) missing.push_back(n);
    }
  }
  if (!missing.empty()) {
    std::string list;
    for (size_t i = 0; i < missing.size() && i < 8; ++i) list += (i ? ", " : "") + missing[i];
    if (missing.size() > 8) list += ", … (" + std::to_string(missing.size()) + " in all)";
    fail(ErrorKind::BadInput, "the safetensors files lack tensors a " + c.arch + " model needs: " + list);
  }
  if (!c.tie_word_embeddings && !by_gguf_name.count("output.weight")) {
    log << "convert: no lm_head.weight: the output layer will reuse token_embd\n";
  }

  std::vector<Planned> result;
  for (auto& [place, p] : planned) {
    for (size_t e = 0; e < p.experts.size(); ++e)
      if (!p.experts[e])
        fail(ErrorKind::BadInput, "the safetensors files lack expert " + std::to_string(e) + " of " + p.name +
                                      " (config.json says " + std::to_string(c.expert_count) + " experts)");
    result.push_back(std::move(p));
  }
  return result;
}

void convert_vocab_only(const std::string& dir, const std::string& out_path, const Options& opt, std::ostream& log) {
  gguf::Writer w;
  const std::string config_path = join_path(dir, "config.json");
  if (const std::optional<nlohmann::json> config = read_json_if_present(config_path)) {
    const std::string hf_arch = hf_architecture(*config, config_path);
    if (const std::optional<std::string> arch = gguf_arch_name(hf_arch)) {
      w.set("general.architecture", gguf::Value::string(*arch));
    } else {
      log << "convert: warning: architecture '" << hf_arch << "' is unknown; writing no general.architecture\n";
    }
  }
  w.set("general.name", gguf::Value::string(model_name(dir, opt)));
  add_tokenizer_metadata(dir, w, log);
  w.write(out_path);
  log << "convert: wrote " << out_path << " (vocabulary only)\n";
}

}  // namespace

std::string out_type_names() {
  std::string out;
  for (size_t i = 0; i < std::size(kOutTypes); ++i) {
    if (i > 0) out += i + 1 == std::size(kOutTypes) ? " or " : ", ";
    out += kOutTypes[i].name;
  }
  return out;
}

GgmlType matrix_type(const std::string& out_type, StDtype source) {
  const OutType& out = parse_out_type(out_type);
  return out.keep_source ? ggml_type_of(source) : out.type;
}

void convert_hf(const std::string& dir, const std::string& out_path, const Options& opt, std::ostream& log) {
  parse_out_type(opt.out_type);
  if (opt.vocab_only) {
    convert_vocab_only(dir, out_path, opt, log);
    return;
  }
  if (const auto config = read_json_if_present(join_path(dir, "config.json"));
      config && is_bert_class(hf_architecture(*config, join_path(dir, "config.json")))) {
    convert_bert(dir, out_path, opt, log);
    return;
  }
  if (is_llava_dir(dir)) {
    convert_llava(dir, out_path, opt, log);
    return;
  }
  write_language_model(dir, read_hf_config(dir), out_path, opt, log, {});
}

void write_language_model(const std::string& dir, const HfConfig& cfg, const std::string& out_path, const Options& opt,
                          std::ostream& log, const SourceName& rename) {
  const OutType& out = parse_out_type(opt.out_type);
  if (!is_file(join_path(dir, "tokenizer.json"))) {
    fail(ErrorKind::NotFound, dir +
                                  ": no tokenizer.json (hayate needs the fast-tokenizer file to write the "
                                  "vocabulary; save it with the model's tokenizer)");
  }
  if (!cfg.unknown_fields.empty()) {
    log << "convert: config.json keys hayate does not know (they are not read):";
    for (const std::string& k : cfg.unknown_fields) log << " " << k;
    log << "\n";
  }
  const SafetensorsModel model(dir);
  std::deque<StTensor> views;  // fused experts' per-expert views, read while the file is written
  const std::vector<Planned> plan = plan_tensors(cfg, model, out, rename, views, log);

  // With "auto", the file is named after the embedding's type (the largest tensor but one).
  GgmlType main_type = out.type;
  if (out.keep_source) {
    for (const Planned& p : plan) {
      if (p.name == "token_embd.weight") main_type = p.type;
    }
  }

  gguf::Writer w;
  w.set("general.architecture", gguf::Value::string(cfg.arch));
  w.set("general.name", gguf::Value::string(model_name(dir, opt)));
  w.set("general.file_type", gguf::Value::u32(file_type_of(main_type)));
  if (main_type == GgmlType::Q8_0) w.set("general.quantization_version", gguf::Value::u32(2));
  add_hparams_metadata(cfg, w);
  add_tokenizer_metadata(dir, w, log);

  const RopeScaling& rs = cfg.rope_scaling;
  const size_t total = plan.size() + (rs.kind == RopeScaling::Kind::Llama3     ? 1
                                      : rs.kind == RopeScaling::Kind::LongRope ? 2
                                                                               : 0);
  size_t done = 0;
  const auto progress = [&log, &done, total](const std::string& name, const std::string& from, GgmlType to,
                                             const std::vector<int64_t>& shape) {
    ++done;
    log << "convert: [" << done << "/" << total << "] " << name << " " << from << " " << shape_text(shape) << " -> "
        << ggml_type_name(to) << "\n";
  };

  const auto add_factors = [&](const std::string& name, std::vector<float> values) {
    auto factors = std::make_shared<std::vector<float>>(std::move(values));
    const std::vector<int64_t> shape = {static_cast<int64_t>(factors->size())};
    w.add_tensor(name, GgmlType::F32, shape, [name, factors, shape, progress](uint8_t* dst, size_t n) {
      progress(name, "computed", GgmlType::F32, shape);
      std::memcpy(dst, factors->data(), std::min(n, factors->size() * sizeof(float)));
    });
  };
  if (rs.kind == RopeScaling::Kind::Llama3) add_factors("rope_freqs.weight", llama3_rope_factors(cfg));
  if (rs.kind == RopeScaling::Kind::LongRope) {
    add_factors("rope_factors_long.weight", rs.long_factor);
    add_factors("rope_factors_short.weight", rs.short_factor);
  }
  for (const Planned& p : plan) {
    std::vector<int64_t> shape(p.src->shape.rbegin(), p.src->shape.rend());  // GGUF: innermost first
    if (!p.experts.empty()) {
      shape.push_back(static_cast<int64_t>(p.experts.size()));
      w.add_tensor(p.name, p.type, shape, [p, shape, progress](uint8_t* dst, size_t n) {
        progress(p.name, p.src->dtype_name, p.type, shape);
        const size_t part = n / p.experts.size();
        for (size_t e = 0; e < p.experts.size(); ++e) {
          convert_tensor(*p.experts[e], p.type, {}, dst + e * part, part);
          release_pages(*p.experts[e]);
        }
      });
      continue;
    }
    w.add_tensor(p.name, p.type, shape, [p, shape, progress](uint8_t* dst, size_t n) {
      progress(p.name, p.src->dtype_name, p.type, shape);
      const int64_t rows = p.src->shape[0];
      convert_tensor(*p.src, p.type,
                     p.permute_heads ? rope_interleave_order(rows, p.permute_heads) : std::vector<int64_t>{}, dst, n,
                     p.offset);
      release_pages(*p.src);
    });
  }
  log << "convert: " << dir << ": " << cfg.hf_architecture << " -> " << cfg.arch << ", " << cfg.block_count
      << " blocks, " << total << " tensors from " << model.file_count() << " safetensors file(s)\n";
  w.write(out_path);
  log << "convert: wrote " << out_path << "\n";
}

}  // namespace hayate::convert
