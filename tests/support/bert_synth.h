// Tiny synthetic BERT-family Hugging Face folders (config.json, tokenizer.json with a WordPiece
// or Unigram model, sentence-transformers pooling files, model.safetensors with seeded random
// weights), for the encoder tests: convert_bert_test checks them against a naive pass, the
// server test serves them.
#pragma once

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "convert/safetensors.h"
#include "support/test_util.h"

namespace hayate::test {

using json = nlohmann::json;
using convert::StTensorToWrite;
using convert::write_safetensors;

inline constexpr int64_t kE = 16, kF = 24, kHeads = 4, kPos = 24, kLayers = 2;

// The dimensions of a synthetic model (the default: the tiny one the naive pass checks).
struct BertShape {
  int64_t e = kE, f = kF, heads = kHeads, pos = kPos, layers = kLayers;
};
inline const char* const kSpace = "\xe2\x96\x81";

struct Synthetic {
  std::string dir;
  bool roberta = false, classifier = false, cls_pooling = false;
  int64_t vocab = 0, pad = 0;
  std::map<std::string, std::vector<float>> w;  // HF name -> values, row-major [out, in]
};

inline void write_json(const std::string& path, const nlohmann::json& j) { std::ofstream(path) << j.dump(); }

inline nlohmann::json wordpiece_tokenizer(std::vector<std::string>& toks) {
  toks = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (char c = 'a'; c <= 'm'; ++c) toks.push_back(std::string(1, c));
  for (char c = 'a'; c <= 'm'; ++c) toks.push_back("##" + std::string(1, c));
  json vocab = json::object(), added = json::array();
  for (size_t i = 0; i < toks.size(); ++i) vocab[toks[i]] = i;
  for (size_t i = 0; i < 5; ++i) added.push_back({{"id", i}, {"content", toks[i]}, {"special", true}});
  const json special = [](const char* t) { return json{{"SpecialToken", {{"id", t}, {"type_id", 0}}}}; }("[CLS]");
  return {{"model",
           {{"type", "WordPiece"},
            {"unk_token", "[UNK]"},
            {"continuing_subword_prefix", "##"},
            {"max_input_chars_per_word", 100},
            {"vocab", vocab}}},
          {"normalizer",
           {{"type", "BertNormalizer"},
            {"clean_text", true},
            {"handle_chinese_chars", true},
            {"strip_accents", nullptr},
            {"lowercase", true}}},
          {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
          {"added_tokens", added},
          {"post_processor",
           {{"type", "TemplateProcessing"},
            {"single", json::array({special,
                                    {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                    {{"SpecialToken", {{"id", "[SEP]"}, {"type_id", 0}}}}})}}}};
}

inline nlohmann::json unigram_tokenizer(std::vector<std::string>& toks) {
  toks = {"<s>", "<pad>", "</s>", "<unk>"};
  for (char c = 'a'; c <= 'm'; ++c) toks.push_back(kSpace + std::string(1, c));
  for (char c = 'a'; c <= 'm'; ++c) toks.push_back(std::string(1, c));
  toks.push_back("ab");
  toks.push_back(std::string(kSpace) + "abc");
  json vocab = json::array(), added = json::array();
  for (size_t i = 0; i < toks.size(); ++i) vocab.push_back({toks[i], -1.0 - static_cast<double>(i % 5)});
  for (size_t i = 0; i < 4; ++i) added.push_back({{"id", i}, {"content", toks[i]}, {"special", true}});
  return {
      {"model", {{"type", "Unigram"}, {"unk_id", 3}, {"vocab", vocab}}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers", json::array({{{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}}})}}},
      {"pre_tokenizer",
       {{"type", "Metaspace"}, {"replacement", kSpace}, {"prepend_scheme", "always"}, {"split", true}}},
      {"added_tokens", added},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                {{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}}})}}}};
}

inline Synthetic make_model(const std::string& tag, bool roberta, bool classifier, bool cls_pooling,
                            const BertShape& shape = {}) {
  const int64_t kE = shape.e, kF = shape.f, kHeads = shape.heads, kPos = shape.pos, kLayers = shape.layers;
  Synthetic s;
  s.dir = temp_path("bert-" + tag);
  std::filesystem::remove_all(s.dir);
  std::filesystem::create_directories(s.dir);
  s.roberta = roberta;
  s.classifier = classifier;
  s.cls_pooling = cls_pooling;
  s.pad = roberta ? 1 : 0;
  std::vector<std::string> toks;
  const json tok = roberta ? unigram_tokenizer(toks) : wordpiece_tokenizer(toks);
  s.vocab = static_cast<int64_t>(toks.size()) + 2;  // rows past the tokenizer, as real models pad
  write_json(s.dir + "/tokenizer.json", tok);
  write_json(s.dir + "/tokenizer_config.json", {{"tokenizer_class", "PreTrainedTokenizerFast"}});
  const std::string cls =
      std::string(roberta ? "XLMRoberta" : "Bert") + (classifier ? "ForSequenceClassification" : "Model");
  write_json(s.dir + "/config.json", {{"architectures", {cls}},
                                      {"hidden_size", kE},
                                      {"num_hidden_layers", kLayers},
                                      {"num_attention_heads", kHeads},
                                      {"intermediate_size", kF},
                                      {"max_position_embeddings", kPos},
                                      {"type_vocab_size", roberta ? 1 : 2},
                                      {"vocab_size", s.vocab},
                                      {"pad_token_id", s.pad},
                                      {"layer_norm_eps", roberta ? 1e-5 : 1e-12},
                                      {"hidden_act", "gelu"},
                                      {"num_labels", 1}});
  if (!classifier) {
    std::filesystem::create_directories(s.dir + "/1_Pooling");
    write_json(s.dir + "/1_Pooling/config.json",
               {{"pooling_mode_cls_token", cls_pooling}, {"pooling_mode_mean_tokens", !cls_pooling}});
    write_json(s.dir + "/modules.json",
               json::array({{{"path", ""}, {"type", "sentence_transformers.models.Transformer"}},
                            {{"path", "1_Pooling"}, {"type", "sentence_transformers.models.Pooling"}},
                            {{"path", "2_Normalize"}, {"type", "sentence_transformers.models.Normalize"}}}));
  }
  std::mt19937 rng(static_cast<uint32_t>(std::hash<std::string>{}(tag)));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<StTensorToWrite> out;
  const std::string pre = classifier ? (roberta ? "roberta." : "bert.") : "";
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float std, float mean = 0.0f) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float>& v = s.w[name];
    for (int64_t i = 0; i < n; ++i) v.push_back(mean + std * normal(rng));
    std::vector<uint8_t> bytes(v.size() * 4);
    std::memcpy(bytes.data(), v.data(), bytes.size());
    out.push_back({name, "F32", shape, bytes});
  };
  add(pre + "embeddings.word_embeddings.weight", {s.vocab, kE}, 0.5f);
  add(pre + "embeddings.position_embeddings.weight", {kPos, kE}, 0.5f);
  add(pre + "embeddings.token_type_embeddings.weight", {roberta ? 1 : 2, kE}, 0.5f);
  add(pre + "embeddings.LayerNorm.weight", {kE}, 0.1f, 1.0f);
  add(pre + "embeddings.LayerNorm.bias", {kE}, 0.1f);
  for (int64_t l = 0; l < kLayers; ++l) {
    const std::string p = pre + "encoder.layer." + std::to_string(l) + ".";
    for (const char* m :
         {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
      add(p + m + ".weight", {kE, kE}, 0.3f);
      add(p + m + ".bias", {kE}, 0.1f);
    }
    add(p + "attention.output.LayerNorm.weight", {kE}, 0.1f, 1.0f);
    add(p + "attention.output.LayerNorm.bias", {kE}, 0.1f);
    add(p + "intermediate.dense.weight", {kF, kE}, 0.3f);
    add(p + "intermediate.dense.bias", {kF}, 0.1f);
    add(p + "output.dense.weight", {kE, kF}, 0.3f);
    add(p + "output.dense.bias", {kE}, 0.1f);
    add(p + "output.LayerNorm.weight", {kE}, 0.1f, 1.0f);
    add(p + "output.LayerNorm.bias", {kE}, 0.1f);
  }
  if (classifier && roberta) {
    add("classifier.dense.weight", {kE, kE}, 0.3f);
    add("classifier.dense.bias", {kE}, 0.1f);
    add("classifier.out_proj.weight", {1, kE}, 0.5f);
    add("classifier.out_proj.bias", {1}, 0.1f);
  } else if (classifier) {
    add(pre + "pooler.dense.weight", {kE, kE}, 0.3f);
    add(pre + "pooler.dense.bias", {kE}, 0.1f);
    add("classifier.weight", {1, kE}, 0.5f);
    add("classifier.bias", {1}, 0.1f);
  } else {
    add("pooler.dense.weight", {kE, kE}, 0.3f);  // unused by embeddings: the converter skips it
    add("pooler.dense.bias", {kE}, 0.1f);
  }
  write_safetensors(s.dir + "/model.safetensors", out);
  return s;
}

}  // namespace hayate::test
