// LlavaForConditionalGeneration -> language-model GGUF + mmproj GGUF. transformers >= 4.52 saves
// "model.language_model.*", "model.vision_tower.*", "model.multi_modal_projector.*"; older
// checkpoints "language_model.model.*", "vision_tower.*", "multi_modal_projector.*": both are read.
#include "convert/llava.h"

#include <filesystem>
#include <map>

#include "convert/json_file.h"
#include "convert/tensor_convert.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "vision/clip.h"

namespace hayate::convert {
namespace {

using nlohmann::json;

bool starts(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// The name without the newer layout's "model." before the vision tower and projector.
std::string vision_source(const std::string& n) {
  if (starts(n, "model.vision_tower.") || starts(n, "model.multi_modal_projector.")) return n.substr(6);
  return n;
}

std::optional<std::string> language_model_name(const std::string& n) {
  const std::string v = vision_source(n);
  if (starts(v, "vision_tower.") || starts(v, "multi_modal_projector.")) return std::nullopt;
  if (starts(n, "model.language_model.")) return "model." + n.substr(21);
  if (starts(n, "language_model.model.")) return "model." + n.substr(21);
  if (n == "language_model.lm_head.weight") return "lm_head.weight";
  return n;  // lm_head.weight, or a stray tensor the language model's converter warns about
}

const char* const kLayerNames[][2] = {
    {"self_attn.q_proj", "attn_q"}, {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"}, {"self_attn.out_proj", "attn_out"},
    {"layer_norm1", "ln1"},         {"layer_norm2", "ln2"},
    {"mlp.fc1", "ffn_up"},          {"mlp.fc2", "ffn_down"},
};

// The mmproj name of a vision tower or projector tensor; empty: not used (post_layernorm).
std::optional<std::string> mmproj_name(const std::string& source) {
  const std::string n = vision_source(source);
  if (starts(n, "multi_modal_projector.linear_1.")) return "mm.0." + n.substr(31);
  if (starts(n, "multi_modal_projector.linear_2.")) return "mm.2." + n.substr(31);
  // transformers 4 saves the tower as a CLIPVisionModel ("vision_tower.vision_model.*"),
  // transformers 5 as the bare transformer ("vision_tower.*").
  std::string r;
  if (starts(n, "vision_tower.vision_model."))
    r = n.substr(26);
  else if (starts(n, "vision_tower."))
    r = n.substr(13);
  else
    return std::nullopt;
  if (r == "embeddings.patch_embedding.weight") return "v.patch_embd.weight";
  if (r == "embeddings.patch_embedding.bias") return "v.patch_embd.bias";
  if (r == "embeddings.class_embedding") return "v.class_embd";
  if (r == "embeddings.position_embedding.weight") return "v.position_embd.weight";
  if (r == "pre_layrnorm.weight") return "v.pre_ln.weight";
  if (r == "pre_layrnorm.bias") return "v.pre_ln.bias";
  if (starts(r, "post_layernorm.")) return "";
  if (!starts(r, "encoder.layers.")) return std::nullopt;
  const size_t dot = r.find('.', 15);
  if (dot == std::string::npos) return std::nullopt;
  const std::string layer = r.substr(15, dot - 15), rest = r.substr(dot + 1);
  if (layer.empty() || layer.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  for (const auto& [hf, gguf] : kLayerNames)
    for (const char* part : {".weight", ".bias"})
      if (rest == std::string(hf) + part) return "v.blk." + layer + "." + gguf + part;
  return std::nullopt;
}

int64_t size_of(const json& j, const char* key, int64_t fallback, const std::string& what) {
  if (!j.contains(key) || j[key].is_null()) {
    if (fallback > 0) return fallback;
    fail(ErrorKind::BadInput, what + ": no '" + key + "'");
  }
  if (!j[key].is_number_integer() || j[key].get<int64_t>() <= 0)
    fail(ErrorKind::BadInput, what + ": '" + key + "' must be a positive integer");
  return j[key].get<int64_t>();
}

std::string text_class(const std::string& model_type, const std::string& what) {
  static const std::map<std::string, std::string> kClasses = {
      {"llama", "LlamaForCausalLM"}, {"mistral", "MistralForCausalLM"}, {"qwen2", "Qwen2ForCausalLM"}};
  const auto it = kClasses.find(model_type);
  if (it == kClasses.end())
    fail(ErrorKind::Unsupported, what + ": text_config.model_type '" + model_type +
                                     "' is not supported in a LLaVA model (llama, mistral or qwen2)");
  return it->second;
}

struct VisionConfig {
  int64_t hidden, ff, layers, heads, image_size, patch_size, n_run, text_hidden, image_token = -1;
  double eps;
  bool gelu;
};

VisionConfig parse_vision(const json& top, const json& text, const std::string& what) {
  const json v = top.value("vision_config", json::object());
  const std::string vt = v.value("model_type", "clip_vision_model");
  if (vt != "clip_vision_model")
    fail(ErrorKind::Unsupported, what + ": vision_config.model_type '" + vt + "' (hayate runs CLIP towers only)");
  if (v.value("num_channels", 3) != 3) fail(ErrorKind::Unsupported, what + ": vision_config.num_channels must be 3");
  VisionConfig c{};
  c.hidden = size_of(v, "hidden_size", 768, what + ": vision_config");
  c.ff = size_of(v, "intermediate_size", 3072, what + ": vision_config");
  c.layers = size_of(v, "num_hidden_layers", 12, what + ": vision_config");
  c.heads = size_of(v, "num_attention_heads", 12, what + ": vision_config");
  c.image_size = size_of(v, "image_size", 224, what + ": vision_config");
  c.patch_size = size_of(v, "patch_size", 32, what + ": vision_config");
  c.eps = v.value("layer_norm_eps", 1e-5);
  const std::string act = v.value("hidden_act", "quick_gelu");
  if (act != "quick_gelu" && act != "gelu")
    fail(ErrorKind::Unsupported, what + ": vision_config.hidden_act '" + act + "' (quick_gelu or gelu)");
  c.gelu = act == "gelu";
  c.text_hidden = size_of(text, "hidden_size", 0, what + ": text_config");

  const json layer = top.value("vision_feature_layer", json(-2));
  if (!layer.is_number_integer())
    fail(ErrorKind::Unsupported, what + ": vision_feature_layer lists several layers; hayate takes one");
  const int64_t k = layer.get<int64_t>();
  c.n_run = k < 0 ? c.layers + 1 + k : k;
  if (c.n_run < 0 || c.n_run > c.layers)
    fail(ErrorKind::BadInput, what + ": vision_feature_layer " + std::to_string(k) + " is outside the tower's " +
                                  std::to_string(c.layers) + " layers");
  const std::string select = top.value("vision_feature_select_strategy", "default");
  if (select != "default")
    fail(ErrorKind::Unsupported,
         what + ": vision_feature_select_strategy '" + select + "' (hayate drops the class token: 'default')");
  const std::string proj_act = top.value("projector_hidden_act", "gelu");
  if (proj_act != "gelu") fail(ErrorKind::Unsupported, what + ": projector_hidden_act '" + proj_act + "' (gelu)");
  if (!top.value("multimodal_projector_bias", true))
    fail(ErrorKind::Unsupported, what + ": multimodal_projector_bias false (the mlp projector has biases)");
  for (const char* key : {"image_token_index", "image_token_id"})
    if (top.contains(key) && top[key].is_number_integer()) c.image_token = top[key].get<int64_t>();
  return c;
}

std::string default_mmproj_path(const std::string& out_path) {
  const std::filesystem::path p(out_path);
  return (p.parent_path() / ("mmproj-" + p.filename().string())).string();
}

void write_mmproj(const std::string& dir, const VisionConfig& c, const SafetensorsModel& model, const std::string& path,
                  const Options& opt, std::ostream& log) {
  namespace keys = vision::keys;
  gguf::Writer w;
  const auto u32 = [](int64_t v) { return gguf::Value::u32(static_cast<uint32_t>(v)); };
  w.set("general.architecture", gguf::Value::string("clip"));
  w.set("general.name", gguf::Value::string(std::filesystem::path(dir).filename().string() + " vision"));
  w.set(keys::kProjectorType, gguf::Value::string("mlp"));
  w.set(keys::kHasVision, gguf::Value::boolean(true));
  w.set(keys::kHasLlavaProjector, gguf::Value::boolean(true));
  w.set("clip.has_text_encoder", gguf::Value::boolean(false));
  w.set(keys::kUseGelu, gguf::Value::boolean(c.gelu));
  w.set(keys::kImageSize, u32(c.image_size));
  w.set(keys::kPatchSize, u32(c.patch_size));
  w.set(keys::kEmbd, u32(c.hidden));
  w.set(keys::kFf, u32(c.ff));
  w.set(keys::kBlocks, u32(c.layers));
  w.set(keys::kProjDim, u32(c.text_hidden));
  w.set(keys::kHeads, u32(c.heads));
  w.set(keys::kEps, gguf::Value::f32(static_cast<float>(c.eps)));
  std::vector<float> mean{0.48145466f, 0.4578275f, 0.40821073f}, stdev{0.26862954f, 0.26130258f, 0.27577711f};
  if (auto pre = read_json_if_present(join_path(dir, "preprocessor_config.json"))) {
    if (pre->contains("image_mean")) mean = (*pre)["image_mean"].get<std::vector<float>>();
    if (pre->contains("image_std")) stdev = (*pre)["image_std"].get<std::vector<float>>();
  }
  w.set(keys::kMean, gguf::Value::f32_array(mean));
  w.set(keys::kStd, gguf::Value::f32_array(stdev));
  // llama.cpp's default for a llava projector is the second-to-last layer (vision_feature_layer -2).
  if (c.n_run != c.layers - 1) w.set(keys::kFeatureLayer, gguf::Value::i32_array({static_cast<int32_t>(c.n_run)}));
  if (c.image_token >= 0) w.set("hayate.image_token_id", u32(c.image_token));

  // Written in the loader's order: embeddings, blocks by layer, projector.
  std::map<std::tuple<int, int64_t, std::string>, std::pair<std::string, const StTensor*>> order;
  for (const StTensor* t : model.tensors()) {
    const std::optional<std::string> name = mmproj_name(t->name);
    if (!name) {
      if (!language_model_name(t->name))
        log << "convert: warning: skipping tensor '" << t->name << "' (the CLIP tower does not use it)\n";
      continue;
    }
    if (name->empty()) {
      log << "convert: skipping " << t->name << " (LLaVA takes features before the post-LayerNorm)\n";
      continue;
    }
    if (t->dtype == StDtype::Other)
      fail(ErrorKind::Unsupported, *t->file + ": tensor '" + t->name + "' has dtype " + t->dtype_name);
    const int group = starts(*name, "v.blk.") ? 1 : starts(*name, "mm.") ? 2 : 0;
    const int64_t layer = group == 1 ? std::stoll(name->substr(6)) : 0;
    order[{group, layer, *name}] = {*name, t};
  }
  for (const auto& [key, entry] : order) {
    const auto& [name, t] = entry;
    std::vector<int64_t> shape(t->shape.rbegin(), t->shape.rend());
    GgmlType type = GgmlType::F32;
    // Embedding tables and vectors are read on the host as F32; the patch matrix as F32 or F16.
    const bool matrix = t->shape.size() >= 2 && name != "v.position_embd.weight";
    if (matrix) {
      type = matrix_type(opt.out_type, t->dtype);
      const int64_t cols = t->n_elements() / t->shape[0];
      if (type == GgmlType::Q8_0 && cols % 32 != 0) type = GgmlType::F16;
      if (name == "v.patch_embd.weight" && type != GgmlType::F32) type = GgmlType::F16;
    }
    w.add_tensor(name, type, shape, [t, type](uint8_t* dst, size_t n) {
      convert_tensor(*t, type, {}, dst, n);
      release_pages(*t);
    });
  }
  w.write(path);
  vision::ClipModel::load(path);  // the names and shapes are what the loader (and llama.cpp) expect
  log << "convert: wrote " << path << " (CLIP vision tower, " << c.layers << " layers, " << c.image_size << " px / "
      << c.patch_size << ", mlp projector to " << c.text_hidden << ")\n";
}

}  // namespace

bool is_llava_dir(const std::string& dir) {
  const auto config = read_json_if_present(join_path(dir, "config.json"));
  if (!config) return false;
  const auto it = config->find("architectures");
  return it != config->end() && it->is_array() && !it->empty() && (*it)[0] == "LlavaForConditionalGeneration";
}

void convert_llava(const std::string& dir, const std::string& out_path, const Options& opt, std::ostream& log) {
  const std::string what = join_path(dir, "config.json");
  const json top = read_json_file(what);
  if (!top.contains("text_config") || !top["text_config"].is_object())
    fail(ErrorKind::BadInput, what + ": a LLaVA config needs a text_config object");
  json text = top["text_config"];
  text["architectures"] = json::array({text_class(text.value("model_type", "llama"), what)});
  if (!text.contains("tie_word_embeddings")) text["tie_word_embeddings"] = top.value("tie_word_embeddings", false);
  const VisionConfig vision = parse_vision(top, text, what);
  const HfConfig cfg = parse_hf_config(text, what + ": text_config");

  write_language_model(dir, cfg, out_path, opt, log, language_model_name);
  const SafetensorsModel model(dir);
  write_mmproj(dir, vision, model, opt.mmproj_path.empty() ? default_mmproj_path(out_path) : opt.mmproj_path, opt, log);
}

}  // namespace hayate::convert
