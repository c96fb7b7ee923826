// tokenizer.json (the Hugging Face fast-tokenizer file) -> tokenizer.* GGUF metadata.
//
// Two families are understood:
//  - byte-level BPE (GPT-2, Llama 3, Qwen): tokenizer.ggml.model "gpt2", the merges, and a
//    tokenizer.ggml.pre naming the pre-tokenizer regex;
//  - SentencePiece-style BPE with byte fallback (Llama 2, Mistral): tokenizer.ggml.model
//    "llama", with scores (from tokenizer.model when present) and add_space_prefix.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "convert/convert.h"
#include "convert/json_file.h"
#include "convert/sentencepiece_model.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace hayate::convert {

namespace {

using nlohmann::json;

constexpr int64_t kMaxVocab = int64_t{1} << 24;
constexpr const char* kSpaceMark = "\xe2\x96\x81";  // "▁", SentencePiece's visible space

// The pre-tokenizer regexes tokenizer.ggml.pre has names for.
constexpr const char* kLlama3Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr const char* kQwen2Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr const char* kGpt2Regex = R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re";

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<bool> added;
  std::unordered_map<std::string, int32_t> ids;  // text -> id; an added token wins over the model's
};

int32_t parse_id(const json& v, const std::string& what, const std::string& token) {
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= kMaxVocab) {
    fail(ErrorKind::BadInput, what + ": token '" + token + "' has id " + v.dump() + ", not an id below 2^24");
  }
  return v.get<int32_t>();
}

// Tokens ordered by id: the model's vocabulary, then added_tokens (whose ids may lie past it);
// gaps become "[PAD<id>]" (type Unused), and the list is padded up to `min_size`.
Vocab read_vocab(const json& tok, int64_t min_size, const std::string& what) {
  const json& vocab = tok["model"]["vocab"];
  if (!vocab.is_object()) fail(ErrorKind::BadInput, what + ": model.vocab is not an object of token -> id");
  std::vector<std::optional<std::string>> text;
  Vocab v;
  const auto place = [&](int32_t id, const std::string& s) {
    if (static_cast<size_t>(id) >= text.size()) text.resize(static_cast<size_t>(id) + 1);
    text[static_cast<size_t>(id)] = s;
  };
  for (const auto& [s, id_json] : vocab.items()) {
    const int32_t id = parse_id(id_json, what, s);
    if (static_cast<size_t>(id) < text.size() && text[static_cast<size_t>(id)]) {
      fail(ErrorKind::BadInput, what + ": tokens '" + *text[static_cast<size_t>(id)] + "' and '" + s +
                                    "' share id " + std::to_string(id));
    }
    place(id, s);
  }
  std::vector<std::pair<int32_t, bool>> added;  // id, special
  if (tok.contains("added_tokens") && tok["added_tokens"].is_array()) {
    for (const json& a : tok["added_tokens"]) {
      if (!a.is_object() || !a.contains("content") || !a["content"].is_string() || !a.contains("id")) {
        fail(ErrorKind::BadInput, what + ": an added_tokens entry lacks id or content: " + a.dump().substr(0, 80));
      }
      const std::string content = a["content"].get<std::string>();
      const int32_t id = parse_id(a["id"], what, content);
      place(id, content);
      added.emplace_back(id, a.value("special", false));
    }
  }
  const size_t n = std::max(text.size(), static_cast<size_t>(std::max<int64_t>(min_size, 0)));
  if (min_size > 0 && text.size() > static_cast<size_t>(min_size)) {
    fail(ErrorKind::BadInput, what + ": the tokenizer has " + std::to_string(text.size()) +
                                  " tokens, more than config.json's vocab_size of " + std::to_string(min_size));
  }
  v.tokens.resize(n);
  v.types.assign(n, static_cast<int32_t>(TokenType::Normal));
  v.added.assign(n, false);
  for (size_t id = 0; id < n; ++id) {
    if (id < text.size() && text[id]) {
      v.tokens[id] = *text[id];
    } else {
      v.tokens[id] = "[PAD" + std::to_string(id) + "]";
      v.types[id] = static_cast<int32_t>(TokenType::Unused);
    }
  }
  for (const auto& [id, special] : added) {
    v.added[static_cast<size_t>(id)] = true;
    v.types[static_cast<size_t>(id)] = static_cast<int32_t>(special ? TokenType::Control : TokenType::UserDefined);
  }
  for (size_t id = 0; id < n; ++id) {
    if (!v.added[id]) v.ids.emplace(v.tokens[id], static_cast<int32_t>(id));
  }
  for (const auto& [id, special] : added) v.ids[v.tokens[static_cast<size_t>(id)]] = id;
  return v;
}

// Merges as "a b" strings; tokenizer.json holds either such strings or ["a", "b"] pairs.
std::vector<std::string> read_merges(const json& model, const std::string& what) {
  std::vector<std::string> merges;
  if (!model.contains("merges")) return merges;
  const json& m = model["merges"];
  if (!m.is_array()) fail(ErrorKind::BadInput, what + ": model.merges is not a list");
  merges.reserve(m.size());
  for (const json& e : m) {
    if (e.is_string()) {
      merges.push_back(e.get<std::string>());
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      merges.push_back(e[0].get<std::string>() + " " + e[1].get<std::string>());
    } else {
      fail(ErrorKind::BadInput, what + ": merge " + e.dump().substr(0, 80) + " is neither \"a b\" nor [\"a\", \"b\"]");
    }
  }
  return merges;
}

// A component and, for Sequence, its children (pretokenizers / normalizers / decoders / processors).
std::vector<const json*> components(const json& node) {
  std::vector<const json*> out;
  if (!node.is_object()) return out;
  if (node.value("type", "") == "Sequence") {
    for (const char* key : {"pretokenizers", "normalizers", "decoders", "processors"}) {
      if (node.contains(key) && node[key].is_array()) {
        for (const json& child : node[key]) {
          for (const json* c : components(child)) out.push_back(c);
        }
      }
    }
    return out;
  }
  out.push_back(&node);
  return out;
}

const json* find_component(const json& node, const std::string& type) {
  for (const json* c : components(node)) {
    if (c->value("type", "") == type) return c;
  }
  return nullptr;
}

const json& member_or_null(const json& obj, const char* key) {
  static const json null_json;
  return obj.is_object() && obj.contains(key) ? obj[key] : null_json;
}

// tokenizer.ggml.pre from the pre-tokenizer: a Split regex we know, or GPT-2's built-in one.
std::string detect_pre(const json& pre, const std::string& what) {
  std::optional<std::string> regex;
  bool byte_level_regex = false;
  for (const json* c : components(pre)) {
    const std::string type = c->value("type", "");
    if (type == "Split") {
      const json& pattern = member_or_null(*c, "pattern");
      const json& r = member_or_null(pattern, "Regex");
      if (!r.is_string() || regex) {
        fail(ErrorKind::Unsupported, what + ": pre-tokenizer Split " + c->dump().substr(0, 80) +
                                         " is not one regex hayate knows");
      }
      regex = r.get<std::string>();
    } else if (type == "ByteLevel") {
      byte_level_regex = c->value("use_regex", true);
    } else {
      fail(ErrorKind::Unsupported, what + ": pre-tokenizer '" + type + "' is not supported");
    }
  }
  if (regex && byte_level_regex) {
    fail(ErrorKind::Unsupported, what + ": a Split regex followed by ByteLevel with its own regex is not supported");
  }
  if (!regex) {
    if (byte_level_regex) return "gpt-2";  // llama.cpp's name, which hayate's tokenizer reads too
    fail(ErrorKind::Unsupported, what + ": byte-level tokenizer without a pre-tokenizer regex is not supported");
  }
  if (*regex == kLlama3Regex) return "llama-bpe";
  if (*regex == kQwen2Regex) return "qwen2";
  if (*regex == kGpt2Regex) return "gpt-2";
  fail(ErrorKind::Unsupported, what + ": pre-tokenizer regex '" + regex->substr(0, 80) +
                                   "' is not one hayate knows (llama-bpe, qwen2, gpt-2)");
}

// SentencePiece-style: the normalizer (or a Metaspace pre-tokenizer) turns spaces into "▁".
bool is_sentencepiece_style(const json& tok) {
  for (const json* c : components(member_or_null(tok, "normalizer"))) {
    const std::string type = c->value("type", "");
    if (type == "Prepend" && c->value("prepend", "") == kSpaceMark) return true;
    if (type == "Replace" && c->value("content", "") == kSpaceMark) return true;
  }
  return find_component(member_or_null(tok, "pre_tokenizer"), "Metaspace") != nullptr;
}

bool sentencepiece_adds_space_prefix(const json& tok, const std::optional<json>& tcfg) {
  if (tcfg) {
    if (const std::optional<bool> v = json_bool(*tcfg, "add_prefix_space", "tokenizer_config.json")) return *v;
  }
  for (const json* c : components(member_or_null(tok, "normalizer"))) {
    if (c->value("type", "") == "Prepend" && c->value("prepend", "") == kSpaceMark) return true;
  }
  if (const json* m = find_component(member_or_null(tok, "pre_tokenizer"), "Metaspace")) {
    if (m->contains("prepend_scheme") && (*m)["prepend_scheme"].is_string()) {
      return (*m)["prepend_scheme"].get<std::string>() != "never";
    }
    return m->value("add_prefix_space", true);
  }
  return false;
}

// Scores for a SentencePiece vocabulary. From tokenizer.model when present (its types too);
// otherwise the rule is: a token produced by a merge scores -(rank of the first merge producing
// it), every other token 0. SentencePiece merges the adjacent pair whose result scores highest,
// so this replays tokenizer.json's merge priority. It is also what the original model held up to
// a constant: Llama 2's tokenizer.model scores its merged pieces -(merge order), and HF's export
// wrote the merges in that order. Single characters are never a merge result, so their 0 is
// never consulted.
std::vector<float> sentencepiece_scores(const std::string& dir, const json& model, Vocab& v, std::ostream& log,
                                        const std::string& what) {
  std::vector<float> scores(v.tokens.size(), 0.0f);
  const std::string sp_path = join_path(dir, "tokenizer.model");
  if (is_file(sp_path)) {
    const std::vector<SpPiece> pieces = read_sentencepiece_model(sp_path);
    size_t matched = 0;
    for (size_t i = 0; i < pieces.size(); ++i) {
      int32_t id = -1;
      if (i < v.tokens.size() && v.tokens[i] == pieces[i].piece) {
        id = static_cast<int32_t>(i);
      } else if (const auto it = v.ids.find(pieces[i].piece); it != v.ids.end()) {
        id = it->second;
      }
      if (id < 0) continue;
      scores[static_cast<size_t>(id)] = pieces[i].score;
      if (!v.added[static_cast<size_t>(id)] && pieces[i].type >= 1 && pieces[i].type <= 6) {
        v.types[static_cast<size_t>(id)] = pieces[i].type;
      }
      ++matched;
    }
    log << "convert: tokenizer: scores of " << matched << " tokens from tokenizer.model\n";
    return scores;
  }
  const std::vector<std::string> merges = read_merges(model, what);
  std::vector<bool> scored(v.tokens.size(), false);
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const size_t space = merges[rank].find(' ');
    if (space == std::string::npos) continue;
    std::string merged = merges[rank];
    merged.erase(space, 1);
    const auto it = v.ids.find(merged);
    if (it == v.ids.end() || scored[static_cast<size_t>(it->second)]) continue;
    scores[static_cast<size_t>(it->second)] = -static_cast<float>(rank);
    scored[static_cast<size_t>(it->second)] = true;
  }
  return scores;
}

bool is_byte_token(const std::string& s) {
  return s.size() == 6 && s.compare(0, 3, "<0x") == 0 && s[5] == '>' && std::isxdigit(static_cast<unsigned char>(s[3])) &&
         std::isxdigit(static_cast<unsigned char>(s[4]));
}

// "<s>" or {"content": "<s>", …} (tokenizer_config.json writes both).
std::optional<std::string> token_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

// tokenizer_config.json's <kind>_token, else config.json's <kind>_token_id (an id or a list).
std::optional<int32_t> special_id(const std::string& kind, const Vocab& v, const std::optional<json>& tcfg,
                                  const std::optional<json>& config, std::ostream& log) {
  if (tcfg && tcfg->contains(kind + "_token")) {
    if (const std::optional<std::string> text = token_text((*tcfg)[kind + "_token"])) {
      if (const auto it = v.ids.find(*text); it != v.ids.end()) return it->second;
      log << "convert: warning: " << kind << "_token '" << *text << "' is not in the vocabulary\n";
    }
  }
  if (config && config->contains(kind + "_token_id")) {
    json id = (*config)[kind + "_token_id"];
    if (id.is_array() && !id.empty()) id = id[0];
    if (id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < static_cast<int64_t>(v.tokens.size())) {
      return id.get<int32_t>();
    }
  }
  return std::nullopt;
}

// What the post-processor's single-sequence template adds: {adds bos, adds eos}, or nullopt
// when there is no TemplateProcessing.
std::optional<std::pair<bool, bool>> template_adds(const json& tok, const std::optional<std::string>& bos,
                                                   const std::optional<std::string>& eos) {
  const json* t = find_component(member_or_null(tok, "post_processor"), "TemplateProcessing");
  if (!t || !t->contains("single") || !(*t)["single"].is_array() || (*t)["single"].empty()) return std::nullopt;
  const json& single = (*t)["single"];
  const auto special_at = [&](const json& item) -> std::optional<std::string> {
    const json& s = member_or_null(item, "SpecialToken");
    const json& id = member_or_null(s, "id");
    return id.is_string() ? std::optional<std::string>(id.get<std::string>()) : std::nullopt;
  };
  const std::optional<std::string> first = special_at(single.front()), last = special_at(single.back());
  return std::make_pair(bos && first == bos, eos && last == eos && single.size() > 1);
}

void add_chat_templates(const std::string& dir, const std::optional<json>& tcfg, gguf::Writer& w) {
  const json ct = tcfg ? member_or_null(*tcfg, "chat_template") : json();
  if (ct.is_string()) {
    w.set("tokenizer.chat_template", gguf::Value::string(ct.get<std::string>()));
    return;
  }
  if (ct.is_array()) {  // [{"name": "default", "template": "…"}, {"name": "tool_use", …}]
    for (const json& named : ct) {
      const json& name = member_or_null(named, "name");
      const json& text = member_or_null(named, "template");
      if (!name.is_string() || !text.is_string()) continue;
      const std::string key = name == "default" ? "tokenizer.chat_template"
                                                : "tokenizer.chat_template." + name.get<std::string>();
      w.set(key, gguf::Value::string(text.get<std::string>()));
    }
    return;
  }
  const std::string jinja = join_path(dir, "chat_template.jinja");  // where newer exports keep it
  if (is_file(jinja)) w.set("tokenizer.chat_template", gguf::Value::string(read_text_file(jinja)));
}

// bos/eos/unk/pad/eot/eom ids and add_bos/add_eos; returns {bos, eos} for the log.
std::pair<std::optional<int32_t>, std::optional<int32_t>> add_special_tokens(
    const json& tok, const Vocab& v, bool byte_level, const std::string& pre, const std::optional<json>& tcfg,
    const std::optional<json>& config, gguf::Writer& w, std::ostream& log) {
  const json& model = tok["model"];
  const std::optional<int32_t> bos = special_id("bos", v, tcfg, config, log);
  const std::optional<int32_t> eos = special_id("eos", v, tcfg, config, log);
  std::optional<int32_t> unk = special_id("unk", v, tcfg, config, log);
  if (!unk && !byte_level) {
    if (const auto t = token_text(member_or_null(model, "unk_token")); t && v.ids.count(*t)) unk = v.ids.at(*t);
  }
  const std::optional<int32_t> pad = special_id("pad", v, tcfg, config, log);
  const auto set_id = [&w](const char* key, std::optional<int32_t> id) {
    if (id) w.set(key, gguf::Value::u32(static_cast<uint32_t>(*id)));
  };
  set_id("tokenizer.ggml.bos_token_id", bos);
  set_id("tokenizer.ggml.eos_token_id", eos);
  set_id("tokenizer.ggml.unknown_token_id", unk);
  set_id("tokenizer.ggml.padding_token_id", pad);
  for (const char* eot : {"<|eot_id|>", "<|im_end|>", "<end_of_turn>"}) {
    if (v.ids.count(eot)) {
      set_id("tokenizer.ggml.eot_token_id", v.ids.at(eot));
      break;
    }
  }
  if (v.ids.count("<|eom_id|>")) set_id("tokenizer.ggml.eom_token_id", v.ids.at("<|eom_id|>"));

  // add_bos/add_eos: tokenizer_config.json when it says; else the post-processor's template;
  // else what the family does (SentencePiece and Llama 3 start with BOS, Qwen and GPT-2 do not).
  const auto text = [&](std::optional<int32_t> id) {
    return id ? std::optional<std::string>(v.tokens[static_cast<size_t>(*id)]) : std::nullopt;
  };
  const std::optional<std::pair<bool, bool>> tmpl = template_adds(tok, text(bos), text(eos));
  std::optional<bool> add_bos = tcfg ? json_bool(*tcfg, "add_bos_token", "tokenizer_config.json") : std::nullopt;
  std::optional<bool> add_eos = tcfg ? json_bool(*tcfg, "add_eos_token", "tokenizer_config.json") : std::nullopt;
  if (!add_bos) add_bos = tmpl ? tmpl->first : bos && (!byte_level || pre == "llama-bpe");
  if (!add_eos) add_eos = tmpl ? tmpl->second : false;
  w.set("tokenizer.ggml.add_bos_token", gguf::Value::boolean(*add_bos));
  w.set("tokenizer.ggml.add_eos_token", gguf::Value::boolean(*add_eos));

  return {bos, eos};
}

}  // namespace

void add_tokenizer_metadata(const std::string& dir, gguf::Writer& w, std::ostream& log) {
  const std::string what = join_path(dir, "tokenizer.json");
  if (!is_file(what)) fail(ErrorKind::NotFound, what + ": not found (hayate reads the fast-tokenizer file)");
  const json tok = read_json_file(what);
  const std::optional<json> tcfg = read_json_if_present(join_path(dir, "tokenizer_config.json"));
  const std::optional<json> config = read_json_if_present(join_path(dir, "config.json"));
  if (!tok.is_object() || !tok.contains("model") || !tok["model"].is_object()) {
    fail(ErrorKind::BadInput, what + ": no model object");
  }
  const json& model = tok["model"];
  const std::string type = model.value("type", "");
  if (type != "BPE") {
    fail(ErrorKind::Unsupported, what + ": tokenizer model '" + type +
                                     "' is not supported (hayate converts BPE tokenizers: byte-level like Llama 3 "
                                     "and Qwen, or SentencePiece-style with byte fallback like Llama 2 and Mistral)");
  }
  const int64_t config_vocab = config ? json_int(*config, "vocab_size", "config.json").value_or(0) : 0;
  Vocab v = read_vocab(tok, config_vocab, what);

  const bool byte_level = find_component(member_or_null(tok, "pre_tokenizer"), "ByteLevel") ||
                          find_component(member_or_null(tok, "decoder"), "ByteLevel");
  const bool byte_fallback = model.value("byte_fallback", false);
  std::string pre;
  std::vector<std::string> merges;
  std::vector<float> scores;
  bool add_space_prefix = false;
  if (byte_level) {
    pre = detect_pre(member_or_null(tok, "pre_tokenizer"), what);
    merges = read_merges(model, what);
    w.set("tokenizer.ggml.model", gguf::Value::string("gpt2"));
    w.set("tokenizer.ggml.pre", gguf::Value::string(pre));
  } else if (byte_fallback && is_sentencepiece_style(tok)) {
    const std::optional<std::string> unk = token_text(member_or_null(model, "unk_token"));
    for (size_t id = 0; id < v.tokens.size(); ++id) {
      if (unk && v.tokens[id] == *unk) {
        v.types[id] = static_cast<int32_t>(TokenType::Unknown);
      } else if (!v.added[id] && is_byte_token(v.tokens[id])) {
        v.types[id] = static_cast<int32_t>(TokenType::Byte);
      }
    }
    scores = sentencepiece_scores(dir, model, v, log, what);
    add_space_prefix = sentencepiece_adds_space_prefix(tok, tcfg);
    w.set("tokenizer.ggml.model", gguf::Value::string("llama"));
    w.set("tokenizer.ggml.pre", gguf::Value::string("default"));  // as llama.cpp writes for SentencePiece
  } else {
    fail(ErrorKind::Unsupported, what + ": a BPE tokenizer that is neither byte-level nor SentencePiece-style "
                                        "(byte_fallback with a \"\xe2\x96\x81\" normalizer) is not supported");
  }

  const size_t n_tokens = v.tokens.size();
  w.set("tokenizer.ggml.tokens", gguf::Value::string_array(v.tokens));
  if (!scores.empty()) w.set("tokenizer.ggml.scores", gguf::Value::f32_array(scores));
  w.set("tokenizer.ggml.token_type", gguf::Value::i32_array(v.types));
  if (byte_level) w.set("tokenizer.ggml.merges", gguf::Value::string_array(merges));
  if (!byte_level) w.set("tokenizer.ggml.add_space_prefix", gguf::Value::boolean(add_space_prefix));

  const auto [bos, eos] = add_special_tokens(tok, v, byte_level, pre, tcfg, config, w, log);

  add_chat_templates(dir, tcfg, w);

  log << "convert: tokenizer: " << (byte_level ? "gpt2 (pre " + pre + ")" : std::string("llama (SentencePiece)"))
      << ", " << n_tokens << " tokens";
  if (byte_level) log << ", " << merges.size() << " merges";
  log << ", bos " << (bos ? std::to_string(*bos) : "none") << ", eos " << (eos ? std::to_string(*eos) : "none")
      << "\n";
}

}  // namespace hayate::convert
