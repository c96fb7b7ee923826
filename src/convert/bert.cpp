#include "convert/bert.h"

#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "convert/hf_config.h"
#include "convert/json_file.h"
#include "convert/llava.h"
#include "convert/safetensors.h"
#include "convert/tensor_convert.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "model/bert.h"

namespace hayate::convert {
namespace {

using nlohmann::json;

const std::set<std::string> kClasses = {"BertModel", "XLMRobertaModel", "BertForSequenceClassification",
                                        "XLMRobertaForSequenceClassification"};

struct BertConfig {
  std::string hf_class;
  bool roberta = false, classifier = false;
  int64_t n_embd = 0, n_layer = 0, n_head = 0, n_ff = 0, n_pos = 0, n_types = 0, n_vocab = 0, pad = 0;
  int64_t n_labels = 1;
  double eps = 1e-12;
};

int64_t need_int(const json& c, const char* key, const std::string& what) {
  const std::optional<int64_t> v = json_int(c, key, what);
  if (!v || *v <= 0) fail(ErrorKind::BadInput, what + ": '" + key + "' is missing or not a positive integer");
  return *v;
}

BertConfig read_config(const std::string& dir) {
  const std::string what = join_path(dir, "config.json");
  const json c = read_json_file(what);
  BertConfig b;
  b.hf_class = hf_architecture(c, what);
  b.roberta = b.hf_class.starts_with("XLMRoberta");
  b.classifier = b.hf_class.ends_with("ForSequenceClassification");
  b.n_embd = need_int(c, "hidden_size", what);
  b.n_layer = need_int(c, "num_hidden_layers", what);
  b.n_head = need_int(c, "num_attention_heads", what);
  b.n_ff = need_int(c, "intermediate_size", what);
  b.n_pos = need_int(c, "max_position_embeddings", what);
  b.n_types = json_int(c, "type_vocab_size", what).value_or(2);
  b.n_vocab = need_int(c, "vocab_size", what);
  b.pad = json_int(c, "pad_token_id", what).value_or(b.roberta ? 1 : 0);
  b.eps = json_number(c, "layer_norm_eps", what).value_or(1e-12);
  const std::string act = json_string(c, "hidden_act", what).value_or("gelu");
  if (act != "gelu")
    fail(ErrorKind::Unsupported, what + ": hidden_act '" + act + "' is not supported (hayate runs gelu, the erf form)");
  const std::string pos = json_string(c, "position_embedding_type", what).value_or("absolute");
  if (pos != "absolute")
    fail(ErrorKind::Unsupported, what + ": position_embedding_type '" + pos + "' is not supported (absolute is)");
  if (json_bool(c, "is_decoder", what).value_or(false))
    fail(ErrorKind::Unsupported, what + ": is_decoder is true; hayate runs BERT as a bidirectional encoder");
  if (b.classifier) {
    if (c.contains("id2label") && c["id2label"].is_object()) b.n_labels = static_cast<int64_t>(c["id2label"].size());
    b.n_labels = json_int(c, "num_labels", what).value_or(b.n_labels);
    if (b.n_labels != 1)
      fail(ErrorKind::Unsupported, what + ": a classifier with " + std::to_string(b.n_labels) +
                                       " labels is not a reranker (hayate takes num_labels 1)");
  }
  if (b.n_embd % b.n_head != 0)
    fail(ErrorKind::BadInput, what + ": hidden_size is not a multiple of num_attention_heads");
  if (b.roberta && b.n_pos <= b.pad + 1)
    fail(ErrorKind::BadInput, what + ": max_position_embeddings leaves no position past pad_token_id + 1");
  return b;
}

// Pooling from sentence-transformers' files: 1_Pooling/config.json (or the folder modules.json
// names for its Pooling module); a Normalize module makes the vector unit length.
std::pair<Pooling, bool> read_pooling(const std::string& dir, std::ostream& log) {
  std::string pooling_dir = join_path(dir, "1_Pooling");
  bool normalize = false, has_modules = false;
  if (const std::optional<json> modules = read_json_if_present(join_path(dir, "modules.json"))) {
    has_modules = modules->is_array();
    for (const json& m : has_modules ? *modules : json::array()) {
      const std::string type = m.value("type", "");
      if (type.ends_with(".Pooling")) pooling_dir = join_path(dir, m.value("path", "1_Pooling"));
      if (type.ends_with(".Normalize")) normalize = true;
    }
  }
  const std::string what = join_path(pooling_dir, "config.json");
  const std::optional<json> cfg = read_json_if_present(what);
  if (!cfg) {
    log << "convert: no sentence-transformers pooling config; using mean pooling and L2 normalisation\n";
    return {Pooling::Mean, true};
  }
  if (!has_modules) normalize = true;
  const bool cls = json_bool(*cfg, "pooling_mode_cls_token", what).value_or(false);
  const bool mean = json_bool(*cfg, "pooling_mode_mean_tokens", what).value_or(false);
  for (const char* other : {"pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
                            "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"})
    if (json_bool(*cfg, other, what).value_or(false))
      fail(ErrorKind::Unsupported, what + ": " + other + " is not supported (mean or CLS pooling are)");
  if (cls == mean)
    fail(ErrorKind::Unsupported,
         what + ": exactly one of pooling_mode_cls_token and pooling_mode_mean_tokens must be set");
  return {cls ? Pooling::Cls : Pooling::Mean, normalize};
}

struct Target {
  std::string name;
  std::vector<int64_t> shape;  // PyTorch order
};

// HF name (without the "bert." / "roberta." prefix of a classifier) -> GGUF name and shape.
std::optional<Target> map_name(const BertConfig& b, const std::string& hf) {
  const int64_t e = b.n_embd;
  static const std::map<std::string, std::string> kTop = {
      {"embeddings.word_embeddings.weight", "token_embd.weight"},
      {"embeddings.position_embeddings.weight", "position_embd.weight"},
      {"embeddings.token_type_embeddings.weight", "token_types.weight"},
      {"embeddings.LayerNorm.weight", "token_embd_norm.weight"},
      {"embeddings.LayerNorm.bias", "token_embd_norm.bias"},
  };
  if (const auto it = kTop.find(hf); it != kTop.end()) {
    if (it->second == "token_embd.weight") return Target{it->second, {b.n_vocab, e}};
    if (it->second == "position_embd.weight") return Target{it->second, {b.n_pos, e}};
    if (it->second == "token_types.weight") return Target{it->second, {b.n_types, e}};
    return Target{it->second, {e}};
  }
  if (b.classifier) {
    if (hf == "pooler.dense.weight") return Target{"cls.weight", {e, e}};
    if (hf == "pooler.dense.bias") return Target{"cls.bias", {e}};
  }
  const std::string prefix = "encoder.layer.";
  if (!hf.starts_with(prefix)) return std::nullopt;
  const size_t dot = hf.find('.', prefix.size());
  if (dot == std::string::npos) return std::nullopt;
  const std::string layer = hf.substr(prefix.size(), dot - prefix.size());
  if (layer.empty() || layer.size() > 6 || layer.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  if (std::stoll(layer) >= b.n_layer) return std::nullopt;
  const std::string rest = hf.substr(dot + 1);
  struct Row {
    const char* hf;
    const char* gguf;
    int64_t rows, cols;  // cols 0: a vector
  };
  const Row rows[] = {
      {"attention.self.query.weight", "attn_q.weight", e, e},
      {"attention.self.query.bias", "attn_q.bias", e, 0},
      {"attention.self.key.weight", "attn_k.weight", e, e},
      {"attention.self.key.bias", "attn_k.bias", e, 0},
      {"attention.self.value.weight", "attn_v.weight", e, e},
      {"attention.self.value.bias", "attn_v.bias", e, 0},
      {"attention.output.dense.weight", "attn_output.weight", e, e},
      {"attention.output.dense.bias", "attn_output.bias", e, 0},
      {"attention.output.LayerNorm.weight", "attn_output_norm.weight", e, 0},
      {"attention.output.LayerNorm.bias", "attn_output_norm.bias", e, 0},
      {"intermediate.dense.weight", "ffn_up.weight", b.n_ff, e},
      {"intermediate.dense.bias", "ffn_up.bias", b.n_ff, 0},
      {"output.dense.weight", "ffn_down.weight", e, b.n_ff},
      {"output.dense.bias", "ffn_down.bias", e, 0},
      {"output.LayerNorm.weight", "layer_output_norm.weight", e, 0},
      {"output.LayerNorm.bias", "layer_output_norm.bias", e, 0},
  };
  for (const Row& r : rows)
    if (rest == r.hf)
      return Target{"blk." + layer + "." + r.gguf,
                    r.cols ? std::vector<int64_t>{r.rows, r.cols} : std::vector<int64_t>{r.rows}};
  return std::nullopt;
}

}  // namespace

bool is_bert_class(const std::string& hf_architecture) { return kClasses.count(hf_architecture) > 0; }

void convert_bert(const std::string& dir, const std::string& out_path, const Options& opt, std::ostream& log) {
  const BertConfig b = read_config(dir);
  Pooling pooling = Pooling::Rank;
  bool normalize = false;
  if (!b.classifier) std::tie(pooling, normalize) = read_pooling(dir, log);

  const SafetensorsModel model(dir);
  const std::string base = b.roberta ? "roberta." : "bert.";
  struct Planned {
    std::string name;
    StTensor src;  // a copy: the position table of XLM-R is cut
    GgmlType type;
  };
  std::map<std::string, Planned> planned;
  for (const StTensor* t : model.tensors()) {
    std::string name = t->name;
    if (name.starts_with(base)) name = name.substr(base.size());
    std::optional<Target> target = map_name(b, name);
    if (!target && b.classifier && (name == "classifier.weight" || name == "classifier.bias"))
      target = Target{
          name == "classifier.weight" ? "cls.output.weight" : "cls.output.bias",
          name == "classifier.weight" ? std::vector<int64_t>{b.n_labels, b.n_embd} : std::vector<int64_t>{b.n_labels}};
    if (b.classifier && b.roberta && name.starts_with("classifier.")) {
      // RobertaClassificationHead: dense + tanh over <s>, then out_proj: the same shape of head.
      if (name == "classifier.dense.weight") target = Target{"cls.weight", {b.n_embd, b.n_embd}};
      if (name == "classifier.dense.bias") target = Target{"cls.bias", {b.n_embd}};
      if (name == "classifier.out_proj.weight") target = Target{"cls.output.weight", {b.n_labels, b.n_embd}};
      if (name == "classifier.out_proj.bias") target = Target{"cls.output.bias", {b.n_labels}};
    }
    if (!target) {
      log << "convert: skipping tensor '" << t->name << "' (the encoder does not use it)\n";
      continue;
    }
    if (t->shape != target->shape)
      fail(ErrorKind::BadInput,
           *t->file + ": tensor '" + t->name + "' has shape " + t->shape_string() + ", config.json implies another");
    if (t->dtype == StDtype::Other)
      fail(ErrorKind::Unsupported, *t->file + ": tensor '" + t->name + "' has dtype " + t->dtype_name +
                                       "; hayate converts F32, F16 and BF16 tensors only");
    StTensor src = *t;
    if (b.roberta && target->name == "position_embd.weight") {
      // RoBERTa numbers positions from pad_token_id + 1; GGUF's table starts at position 0.
      const int64_t skip = b.pad + 1;
      const size_t row = src.nbytes / static_cast<size_t>(src.shape[0]);
      src.data += static_cast<size_t>(skip) * row;
      src.nbytes -= static_cast<size_t>(skip) * row;
      src.shape[0] -= skip;
    }
    GgmlType type = GgmlType::F32;
    if (src.shape.size() == 2 && target->name != "position_embd.weight" && target->name != "token_types.weight")
      type = matrix_type(opt.out_type, src.dtype);
    if (type == GgmlType::Q8_0 && src.shape[1] % 32 != 0) type = GgmlType::F16;
    planned[target->name] = Planned{target->name, src, type};
  }
  std::vector<std::string> required = {"token_embd.weight", "position_embd.weight", "token_embd_norm.weight",
                                       "token_embd_norm.bias"};
  for (int64_t i = 0; i < b.n_layer; ++i)
    for (const char* s :
         {"attn_q.weight", "attn_q.bias", "attn_k.weight", "attn_k.bias", "attn_v.weight", "attn_v.bias",
          "attn_output.weight", "attn_output.bias", "attn_output_norm.weight", "attn_output_norm.bias", "ffn_up.weight",
          "ffn_up.bias", "ffn_down.weight", "ffn_down.bias", "layer_output_norm.weight", "layer_output_norm.bias"})
      required.push_back("blk." + std::to_string(i) + "." + s);
  if (b.classifier)
    for (const char* s : {"cls.weight", "cls.bias", "cls.output.weight", "cls.output.bias"}) required.push_back(s);
  for (const std::string& r : required)
    if (!planned.count(r))
      fail(ErrorKind::BadInput, dir + ": the safetensors have no tensor for " + r + " (" + b.hf_class + ")");

  gguf::Writer w;
  w.set("general.architecture", gguf::Value::string("bert"));
  std::string name = opt.name;
  if (name.empty()) name = std::filesystem::path(dir).lexically_normal().filename().string();
  w.set("general.name", gguf::Value::string(name));
  const auto u32 = [](int64_t v) { return gguf::Value::u32(static_cast<uint32_t>(v)); };
  w.set("bert.context_length", u32(b.n_pos - (b.roberta ? b.pad + 1 : 0)));
  w.set("bert.embedding_length", u32(b.n_embd));
  w.set("bert.block_count", u32(b.n_layer));
  w.set("bert.feed_forward_length", u32(b.n_ff));
  w.set("bert.attention.head_count", u32(b.n_head));
  w.set("bert.attention.layer_norm_epsilon", gguf::Value::f32(static_cast<float>(b.eps)));
  w.set("bert.attention.causal", gguf::Value::boolean(false));
  w.set("bert.pooling_type", u32(static_cast<int64_t>(pooling)));
  if (!b.classifier) w.set("bert.embedding.normalize", gguf::Value::boolean(normalize));
  w.set("tokenizer.ggml.token_type_count", u32(b.n_types));
  add_tokenizer_metadata(dir, w, log);

  for (const auto& [gguf_name, p] : planned) {
    std::vector<int64_t> shape(p.src.shape.rbegin(), p.src.shape.rend());
    w.add_tensor(gguf_name, p.type, shape, [p](uint8_t* dst, size_t n) { convert_tensor(p.src, p.type, {}, dst, n); });
  }
  log << "convert: " << dir << ": " << b.hf_class << " -> bert (" << (b.classifier ? "rerank" : "embeddings")
      << ", pooling " << static_cast<int>(pooling) << "), " << planned.size() << " tensors\n";
  w.write(out_path);
  log << "convert: wrote " << out_path << "\n";
}

}  // namespace hayate::convert
