// tokenizer.json of encoder models -> tokenizer.* GGUF metadata:
//  - WordPiece (BERT): tokenizer.ggml.model "bert" with llama.cpp's spelling of the vocabulary
//    (a word-initial piece gets a leading U+2581, a "##" continuation loses its "##");
//  - Unigram (XLM-R, T5): tokenizer.ggml.model "t5", the pieces with their scores.
// Normalisers and pre-tokenizers other than the ones hayate's tokenizers implement are refused
// by name.
#include <nlohmann/json.hpp>
#include <optional>

#include "convert/bert.h"
#include "convert/json_file.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace hayate::convert {
namespace {

using nlohmann::json;

constexpr const char* kWordStart = "\xe2\x96\x81";  // U+2581

struct Tokens {
  std::vector<std::string> text;
  std::vector<float> scores;
  std::vector<int32_t> types;
  std::vector<bool> special;
};

// obj[key], or null: a reference into obj (json::value would copy, and pointers into a copy dangle).
const json& member(const json& obj, const char* key) {
  static const json null_json;
  return obj.is_object() && obj.contains(key) ? obj[key] : null_json;
}

std::vector<const json*> parts(const json& node) {
  std::vector<const json*> out;
  if (!node.is_object()) return out;
  if (node.value("type", "") == "Sequence") {
    for (const char* key : {"normalizers", "pretokenizers"})
      if (node.contains(key) && node[key].is_array())
        for (const json& child : node[key])
          for (const json* c : parts(child)) out.push_back(c);
    return out;
  }
  out.push_back(&node);
  return out;
}

// added_tokens: special ones become Control, the others UserDefined.
void add_added_tokens(const json& tok, Tokens& t, const std::string& what) {
  if (!tok.contains("added_tokens") || !tok["added_tokens"].is_array()) return;
  for (const json& a : tok["added_tokens"]) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
        !a["content"].is_string())
      fail(ErrorKind::BadInput, what + ": an added_tokens entry lacks id or content");
    const int64_t id = a["id"].get<int64_t>();
    if (id < 0 || id >= (int64_t{1} << 24)) fail(ErrorKind::BadInput, what + ": added token id out of range");
    if (static_cast<size_t>(id) >= t.text.size()) {
      t.text.resize(static_cast<size_t>(id) + 1);
      t.scores.resize(t.text.size(), 0.0f);
      t.types.resize(t.text.size(), static_cast<int32_t>(TokenType::Unused));
      t.special.resize(t.text.size(), false);
    }
    t.text[static_cast<size_t>(id)] = a["content"].get<std::string>();
    const bool special = a.value("special", false);
    t.types[static_cast<size_t>(id)] = static_cast<int32_t>(special ? TokenType::Control : TokenType::UserDefined);
    t.special[static_cast<size_t>(id)] = true;
  }
}

std::optional<int32_t> find(const Tokens& t, const std::string& text) {
  for (size_t i = 0; i < t.text.size(); ++i)
    if (t.text[i] == text && t.special[i]) return static_cast<int32_t>(i);
  for (size_t i = 0; i < t.text.size(); ++i)
    if (t.text[i] == text) return static_cast<int32_t>(i);
  return std::nullopt;
}

std::optional<std::string> config_token(const std::optional<json>& tcfg, const std::string& key) {
  if (!tcfg || !tcfg->contains(key)) return std::nullopt;
  const json& v = (*tcfg)[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

void set_id(gguf::Writer& w, const char* key, const Tokens& t, const std::optional<std::string>& text) {
  if (!text) return;
  if (const std::optional<int32_t> id = find(t, *text)) w.set(key, gguf::Value::u32(static_cast<uint32_t>(*id)));
}

Tokens read_wordpiece(const json& tok, const std::string& what, gguf::Writer& w) {
  const json& model = tok["model"];
  const json& vocab = model["vocab"];
  if (!vocab.is_object()) fail(ErrorKind::BadInput, what + ": model.vocab is not an object of token -> id");
  const std::string prefix = model.value("continuing_subword_prefix", "##");
  if (model.value("max_input_chars_per_word", 100) != 100)
    fail(ErrorKind::Unsupported, what + ": max_input_chars_per_word other than 100 is not supported");
  Tokens t;
  t.text.resize(vocab.size());
  std::vector<bool> seen(vocab.size(), false);
  for (const auto& [text, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<size_t>() >= vocab.size() || seen[id.get<size_t>()])
      fail(ErrorKind::BadInput,
           what + ": WordPiece ids must number the tokens 0..n-1; '" + text + "' has " + id.dump());
    seen[id.get<size_t>()] = true;
    t.text[id.get<size_t>()] = text;
  }
  t.scores.assign(t.text.size(), 0.0f);
  t.types.assign(t.text.size(), static_cast<int32_t>(TokenType::Normal));
  t.special.assign(t.text.size(), false);
  add_added_tokens(tok, t, what);
  for (size_t i = 0; i < t.text.size(); ++i) {
    if (t.special[i] || t.types[i] == static_cast<int32_t>(TokenType::Unused)) continue;
    std::string& s = t.text[i];
    s = s.starts_with(prefix) ? s.substr(prefix.size()) : kWordStart + s;
  }

  bool lowercase = true;
  for (const json* n : parts(member(tok, "normalizer"))) {
    const std::string type = n->value("type", "");
    if (type != "BertNormalizer") fail(ErrorKind::Unsupported, what + ": normalizer '" + type + "' with WordPiece");
    lowercase = n->value("lowercase", true);
    const json& strip = member(*n, "strip_accents");
    if (!strip.is_null() && strip.get<bool>() != lowercase)
      fail(ErrorKind::Unsupported, what + ": BertNormalizer with strip_accents different from lowercase");
    if (!n->value("clean_text", true) || !n->value("handle_chinese_chars", true))
      fail(ErrorKind::Unsupported, what + ": BertNormalizer without clean_text or handle_chinese_chars");
  }
  for (const json* p : parts(member(tok, "pre_tokenizer")))
    if (p->value("type", "") != "BertPreTokenizer")
      fail(ErrorKind::Unsupported, what + ": pre-tokenizer '" + p->value("type", "") + "' with WordPiece");
  w.set("tokenizer.ggml.model", gguf::Value::string("bert"));
  w.set("tokenizer.ggml.bert.lowercase", gguf::Value::boolean(lowercase));
  if (const auto unk = find(t, model.value("unk_token", "[UNK]")))
    w.set("tokenizer.ggml.unknown_token_id", gguf::Value::u32(static_cast<uint32_t>(*unk)));
  return t;
}

Tokens read_unigram(const json& tok, const std::string& what, gguf::Writer& w) {
  const json& model = tok["model"];
  const json& vocab = model["vocab"];
  if (!vocab.is_array()) fail(ErrorKind::BadInput, what + ": Unigram model.vocab is not a list of [piece, score]");
  Tokens t;
  for (const json& e : vocab) {
    if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number())
      fail(ErrorKind::BadInput, what + ": Unigram vocab entry " + e.dump().substr(0, 60) + " is not [piece, score]");
    t.text.push_back(e[0].get<std::string>());
    t.scores.push_back(e[1].get<float>());
  }
  t.types.assign(t.text.size(), static_cast<int32_t>(TokenType::Normal));
  t.special.assign(t.text.size(), false);
  const bool byte_fallback = model.value("byte_fallback", false);
  for (size_t i = 0; i < t.text.size(); ++i) {
    const std::string& s = t.text[i];
    if (byte_fallback && s.size() == 6 && s.starts_with("<0x") && s[5] == '>')
      t.types[i] = static_cast<int32_t>(TokenType::Byte);
  }
  add_added_tokens(tok, t, what);
  if (model.contains("unk_id") && model["unk_id"].is_number_integer()) {
    const int64_t unk = model["unk_id"].get<int64_t>();
    if (unk < 0 || static_cast<size_t>(unk) >= t.text.size()) fail(ErrorKind::BadInput, what + ": unk_id out of range");
    t.types[static_cast<size_t>(unk)] = static_cast<int32_t>(TokenType::Unknown);
    w.set("tokenizer.ggml.unknown_token_id", gguf::Value::u32(static_cast<uint32_t>(unk)));
  }

  bool collapse = false;
  for (const json* n : parts(member(tok, "normalizer"))) {
    const std::string type = n->value("type", "");
    const json& pattern = member(*n, "pattern");
    if (type == "Replace" && pattern.is_object() && pattern.value("Regex", "") == " {2,}" &&
        n->value("content", "") == " ") {
      collapse = true;
      continue;
    }
    if (type == "Precompiled")
      fail(ErrorKind::Unsupported, what +
                                       ": the Precompiled normalizer (SentencePiece's character map) is not "
                                       "supported yet");
    fail(ErrorKind::Unsupported, what + ": normalizer '" + type + "' with Unigram");
  }
  bool prefix = false, metaspace = false;
  for (const json* p : parts(member(tok, "pre_tokenizer"))) {
    const std::string type = p->value("type", "");
    if (type != "Metaspace") fail(ErrorKind::Unsupported, what + ": pre-tokenizer '" + type + "' with Unigram");
    if (p->value("replacement", kWordStart) != kWordStart || !p->value("split", true))
      fail(ErrorKind::Unsupported, what + ": Metaspace other than U+2581 with split is not supported");
    const std::string scheme = p->value("prepend_scheme", p->value("add_prefix_space", true) ? "always" : "never");
    if (scheme == "first") fail(ErrorKind::Unsupported, what + ": Metaspace prepend_scheme 'first' is not supported");
    prefix = scheme == "always";
    metaspace = true;
  }
  if (!metaspace) fail(ErrorKind::Unsupported, what + ": a Unigram tokenizer without the Metaspace pre-tokenizer");
  w.set("tokenizer.ggml.model", gguf::Value::string("t5"));
  w.set("tokenizer.ggml.add_space_prefix", gguf::Value::boolean(prefix));
  w.set("tokenizer.ggml.remove_extra_whitespaces", gguf::Value::boolean(collapse));
  w.set("tokenizer.ggml.byte_fallback", gguf::Value::boolean(byte_fallback));
  return t;
}

// The post-processor's single template: its first and last special tokens, when it has them.
std::pair<std::optional<std::string>, std::optional<std::string>> template_ends(const json& tok) {
  const json& pp = member(tok, "post_processor");
  const json& single = member(pp, "single");
  if (pp.value("type", "") == "TemplateProcessing" && single.is_array() && !single.empty()) {
    const auto special = [](const json& item) -> std::optional<std::string> {
      if (item.contains("SpecialToken")) return item["SpecialToken"].value("id", "");
      return std::nullopt;
    };
    return {special(single.front()), special(single.back())};
  }
  if (pp.value("type", "") == "BertProcessing") return {std::string("[CLS]"), std::string("[SEP]")};
  if (pp.value("type", "") == "RobertaProcessing") return {std::string("<s>"), std::string("</s>")};
  return {};
}

}  // namespace

void add_encoder_tokenizer_metadata(const std::string& dir, gguf::Writer& w, std::ostream& log) {
  const std::string what = join_path(dir, "tokenizer.json");
  const json tok = read_json_file(what);
  const std::optional<json> tcfg = read_json_if_present(join_path(dir, "tokenizer_config.json"));
  const std::string type = tok["model"].value("type", "");
  const Tokens t = type == "WordPiece" ? read_wordpiece(tok, what, w) : read_unigram(tok, what, w);
  w.set("tokenizer.ggml.pre", gguf::Value::string("default"));
  w.set("tokenizer.ggml.tokens", gguf::Value::string_array(t.text));
  if (type == "Unigram") w.set("tokenizer.ggml.scores", gguf::Value::f32_array(t.scores));
  w.set("tokenizer.ggml.token_type", gguf::Value::i32_array(t.types));

  const auto [first, last] = template_ends(tok);
  const bool bert = type == "WordPiece";
  const std::optional<std::string> cls =
      config_token(tcfg, bert ? "cls_token" : "bos_token").value_or(bert ? "[CLS]" : "<s>");
  const std::optional<std::string> sep =
      config_token(tcfg, bert ? "sep_token" : "eos_token").value_or(bert ? "[SEP]" : "</s>");
  set_id(w, bert ? "tokenizer.ggml.cls_token_id" : "tokenizer.ggml.bos_token_id", t, cls);
  set_id(w, bert ? "tokenizer.ggml.seperator_token_id" : "tokenizer.ggml.eos_token_id", t, sep);
  set_id(w, "tokenizer.ggml.padding_token_id", t, config_token(tcfg, "pad_token").value_or(bert ? "[PAD]" : "<pad>"));
  set_id(w, "tokenizer.ggml.mask_token_id", t, config_token(tcfg, "mask_token").value_or(bert ? "[MASK]" : "<mask>"));
  w.set("tokenizer.ggml.add_bos_token", gguf::Value::boolean(first.has_value() && first == cls));
  w.set("tokenizer.ggml.add_eos_token", gguf::Value::boolean(last.has_value() && last == sep));
  log << "convert: tokenizer: " << (bert ? "bert (WordPiece)" : "t5 (Unigram)") << ", " << t.text.size() << " tokens\n";
}

}  // namespace hayate::convert
