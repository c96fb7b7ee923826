// tokenizer.json -> tokenizer.* metadata, on small tokenizers written by the test: byte-level BPE
// with each known pre-tokenizer, SentencePiece-style BPE (scores from merges or tokenizer.model),
// special tokens, chat templates and the errors for what is not supported.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "convert/convert.h"
#include "convert/sentencepiece_model.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace hayate::convert {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kLlama3Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr const char* kQwen2Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("hayate_ct_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" + info->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  void write(const std::string& name, const json& j) const { std::ofstream(file(name)) << j.dump(1); }

 private:
  fs::path path_;
};

// The metadata add_tokenizer_metadata writes, read back through a GGUF file.
std::unique_ptr<gguf::File> tokenizer_gguf(const TempDir& dir, std::string* log_text = nullptr) {
  gguf::Writer w;
  std::ostringstream log;
  add_tokenizer_metadata(dir.str(), w, log);
  w.write(dir.file("vocab.gguf"));
  if (log_text) *log_text = log.str();
  return gguf::File::open(dir.file("vocab.gguf"));
}

std::vector<std::string> strings(const gguf::File& f, const std::string& key) {
  std::vector<std::string> out;
  for (const gguf::Value& v : f.get(key).as_array()) out.push_back(v.as_string());
  return out;
}

std::vector<int64_t> ints(const gguf::File& f, const std::string& key) {
  std::vector<int64_t> out;
  for (const gguf::Value& v : f.get(key).as_array()) out.push_back(v.as_i64());
  return out;
}

std::vector<double> floats(const gguf::File& f, const std::string& key) {
  std::vector<double> out;
  for (const gguf::Value& v : f.get(key).as_array()) out.push_back(v.as_f64());
  return out;
}

json byte_level(const json& pre_tokenizer, const json& vocab, const json& merges, const json& added) {
  return {{"version", "1.0"},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer", pre_tokenizer},
          {"post_processor", {{"type", "ByteLevel"}, {"trim_offsets", false}}},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"byte_fallback", false}}}};
}

json split_then_byte_level(const std::string& regex) {
  return {{"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}},
            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
}

json added(int id, const std::string& content, bool special) {
  return {{"id", id}, {"content", content}, {"special", special}, {"normalized", false}};
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

TEST(ConvertTokenizer, Llama3StyleByteLevel) {
  TempDir dir;
  json tok = byte_level(split_then_byte_level(kLlama3Regex), {{"a", 0}, {"b", 1}, {"ab", 2}, {"\xc4\xa0", 3}},
                        json::array({json::array({"a", "b"})}),  // merges as pairs
                        {added(6, "<|begin_of_text|>", true), added(7, "<|eot_id|>", true), added(9, "<tool>", false)});
  tok["post_processor"] = {
      {"type", "Sequence"},
      {"processors",
       {{{"type", "ByteLevel"}},
        {{"type", "TemplateProcessing"},
         {"single", {{{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}}}}}}}}}};
  dir.write("tokenizer.json", tok);
  dir.write("tokenizer_config.json",
            {{"bos_token", {{"content", "<|begin_of_text|>"}, {"lstrip", false}}},
             {"eos_token", "<|eot_id|>"},
             {"chat_template", {{{"name", "default"}, {"template", "X"}}, {{"name", "tool_use"}, {"template", "Y"}}}}});
  dir.write("config.json", {{"vocab_size", 12}});
  const auto f = tokenizer_gguf(dir);
  EXPECT_EQ(f->get_string("tokenizer.ggml.model", ""), "gpt2");
  EXPECT_EQ(f->get_string("tokenizer.ggml.pre", ""), "llama-bpe");
  EXPECT_EQ(strings(*f, "tokenizer.ggml.tokens"),
            (std::vector<std::string>{"a", "b", "ab", "\xc4\xa0", "[PAD4]", "[PAD5]", "<|begin_of_text|>", "<|eot_id|>",
                                      "[PAD8]", "<tool>", "[PAD10]", "[PAD11]"}));
  EXPECT_EQ(f->get("tokenizer.ggml.token_type").array_type(), gguf::ValueType::Int32);
  EXPECT_EQ(ints(*f, "tokenizer.ggml.token_type"), (std::vector<int64_t>{1, 1, 1, 1, 5, 5, 3, 3, 5, 4, 5, 5}));
  EXPECT_EQ(strings(*f, "tokenizer.ggml.merges"), (std::vector<std::string>{"a b"}));
  EXPECT_EQ(f->find("tokenizer.ggml.scores"), nullptr);
  EXPECT_EQ(f->get("tokenizer.ggml.bos_token_id").type(), gguf::ValueType::UInt32);
  EXPECT_EQ(f->get_u64("tokenizer.ggml.bos_token_id", 0), 6u);
  EXPECT_EQ(f->get_u64("tokenizer.ggml.eos_token_id", 0), 7u);
  EXPECT_EQ(f->get_u64("tokenizer.ggml.eot_token_id", 0), 7u);
  EXPECT_EQ(f->find("tokenizer.ggml.padding_token_id"), nullptr);
  EXPECT_TRUE(f->get_bool("tokenizer.ggml.add_bos_token", false));  // from the TemplateProcessing
  EXPECT_FALSE(f->get_bool("tokenizer.ggml.add_eos_token", true));
  EXPECT_EQ(f->get_string("tokenizer.chat_template", ""), "X");
  EXPECT_EQ(f->get_string("tokenizer.chat_template.tool_use", ""), "Y");
}

TEST(ConvertTokenizer, Qwen2StyleByteLevel) {
  TempDir dir;
  dir.write("tokenizer.json", byte_level(split_then_byte_level(kQwen2Regex), {{"a", 0}, {"b", 1}, {"ab", 2}}, {"a b"},
                                         {added(3, "<|endoftext|>", true), added(4, "<|im_start|>", true),
                                          added(5, "<|im_end|>", true), added(6, "<think>", false)}));
  dir.write("tokenizer_config.json", {{"add_bos_token", false},
                                      {"bos_token", nullptr},
                                      {"eos_token", "<|im_end|>"},
                                      {"pad_token", "<|endoftext|>"},
                                      {"chat_template", "{{ messages }}"}});
  dir.write("config.json", {{"bos_token_id", 3}, {"eos_token_id", 3}});
  const auto f = tokenizer_gguf(dir);
  EXPECT_EQ(f->get_string("tokenizer.ggml.pre", ""), "qwen2");
  EXPECT_EQ(ints(*f, "tokenizer.ggml.token_type"), (std::vector<int64_t>{1, 1, 1, 3, 3, 3, 4}));
  EXPECT_EQ(f->get_u64("tokenizer.ggml.bos_token_id", 99), 3u);  // null in tokenizer_config: config.json's
  EXPECT_EQ(f->get_u64("tokenizer.ggml.eos_token_id", 99), 5u);  // tokenizer_config wins over config.json
  EXPECT_EQ(f->get_u64("tokenizer.ggml.eot_token_id", 99), 5u);
  EXPECT_EQ(f->get_u64("tokenizer.ggml.padding_token_id", 99), 3u);
  EXPECT_FALSE(f->get_bool("tokenizer.ggml.add_bos_token", true));
  EXPECT_EQ(f->get_string("tokenizer.chat_template", ""), "{{ messages }}");
}

TEST(ConvertTokenizer, Gpt2ByteLevelAndChatTemplateFile) {
  TempDir dir;
  dir.write("tokenizer.json", byte_level({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}},
                                         {{"a", 0}, {"<|endoftext|>", 1}}, json::array(),
                                         {added(1, "<|endoftext|>", true)}));
  std::ofstream(dir.file("chat_template.jinja")) << "{% for m in messages %}{{ m.content }}{% endfor %}";
  const auto f = tokenizer_gguf(dir);
  EXPECT_EQ(f->get_string("tokenizer.ggml.pre", ""), "gpt-2");
  EXPECT_EQ(strings(*f, "tokenizer.ggml.tokens"), (std::vector<std::string>{"a", "<|endoftext|>"}));
  EXPECT_TRUE(strings(*f, "tokenizer.ggml.merges").empty());
  EXPECT_FALSE(f->get_bool("tokenizer.ggml.add_bos_token", true));
  EXPECT_EQ(f->find("tokenizer.ggml.bos_token_id"), nullptr);
  EXPECT_EQ(f->get_string("tokenizer.chat_template", ""), "{% for m in messages %}{{ m.content }}{% endfor %}");
}

TEST(ConvertTokenizer, UnsupportedTokenizersAreNamed) {
  TempDir dir;
  std::string msg;
  const auto run = [&] { tokenizer_gguf(dir); };
  EXPECT_EQ(error_of(run, &msg), ErrorKind::NotFound);

  const std::string odd_regex = std::string("(?:[sdmt]|ll|ve|re)") + std::string(100, 'x') + "TAIL";
  dir.write("tokenizer.json", byte_level(split_then_byte_level(odd_regex), {{"a", 0}}, json::array(), json::array()));
  EXPECT_EQ(error_of(run, &msg), ErrorKind::Unsupported);
  EXPECT_NE(msg.find(odd_regex.substr(0, 80)), std::string::npos) << msg;
  EXPECT_EQ(msg.find("TAIL"), std::string::npos) << msg;

  json digits = split_then_byte_level(kLlama3Regex);
  digits["pretokenizers"].push_back({{"type", "Digits"}, {"individual_digits", true}});
  dir.write("tokenizer.json", byte_level(digits, {{"a", 0}}, json::array(), json::array()));
  EXPECT_EQ(error_of(run, &msg), ErrorKind::Unsupported);
  EXPECT_NE(msg.find("Digits"), std::string::npos) << msg;

  json unigram = byte_level(split_then_byte_level(kLlama3Regex), {{"a", 0}}, json::array(), json::array());
  unigram["model"] = {{"type", "Unigram"}, {"vocab", json::array()}};
  dir.write("tokenizer.json", unigram);
  EXPECT_EQ(error_of(run, &msg), ErrorKind::Unsupported);
  EXPECT_NE(msg.find("Unigram"), std::string::npos) << msg;

  json plain = byte_level(nullptr, {{"a", 0}}, json::array(), json::array());
  plain["decoder"] = nullptr;
  dir.write("tokenizer.json", plain);
  EXPECT_EQ(error_of(run, &msg), ErrorKind::Unsupported);

  dir.write("tokenizer.json", byte_level(split_then_byte_level(kLlama3Regex), {{"a", 0}}, {42}, json::array()));
  EXPECT_EQ(error_of(run, &msg), ErrorKind::BadInput);
  EXPECT_NE(msg.find("merge 42"), std::string::npos) << msg;

  dir.write("tokenizer.json", byte_level(split_then_byte_level(kLlama3Regex), {{"a", 0}, {"b", 0}}, json::array(),
                                         json::array()));
  EXPECT_EQ(error_of(run, &msg), ErrorKind::BadInput);
  EXPECT_NE(msg.find("share id 0"), std::string::npos) << msg;

  dir.write("tokenizer.json", byte_level(split_then_byte_level(kLlama3Regex), {{"a", 0}, {"b", 1}, {"c", 2}},
                                         json::array(), json::array()));
  dir.write("config.json", {{"vocab_size", 2}});
  EXPECT_EQ(error_of(run, &msg), ErrorKind::BadInput);
  EXPECT_NE(msg.find("vocab_size of 2"), std::string::npos) << msg;
}

// Llama 2 / Mistral v0.1 style: spaces become "▁" in the normalizer, bytes fall back to <0xXX>.
json sentencepiece_style() {
  const std::string s = "\xe2\x96\x81";
  return {{"version", "1.0"},
          {"added_tokens", {added(0, "<unk>", true), added(1, "<s>", true), added(2, "</s>", true)}},
          {"normalizer",
           {{"type", "Sequence"},
            {"normalizers",
             {{{"type", "Prepend"}, {"prepend", s}},
              {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", s}}}}}},
          {"pre_tokenizer", nullptr},
          {"post_processor",
           {{"type", "TemplateProcessing"},
            {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}}}}}}}},
          {"decoder", {{"type", "Sequence"}, {"decoders", {{{"type", "ByteFallback"}}, {{"type", "Fuse"}}}}}},
          {"model",
           {{"type", "BPE"},
            {"byte_fallback", true},
            {"unk_token", "<unk>"},
            {"vocab",
             {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {"<0x00>", 3}, {"<0x0A>", 4}, {s, 5}, {"a", 6}, {"b", 7},
              {s + "a", 8}, {"ab", 9}, {s + "ab", 10}}},
            {"merges", {s + " a", "a b", s + "a b"}}}}};
}

TEST(ConvertTokenizer, SentencePieceStyleScoresFromMerges) {
  TempDir dir;
  dir.write("tokenizer.json", sentencepiece_style());
  dir.write("tokenizer_config.json", {{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"unk_token", "<unk>"}});
  const auto f = tokenizer_gguf(dir);
  EXPECT_EQ(f->get_string("tokenizer.ggml.model", ""), "llama");
  EXPECT_EQ(f->find("tokenizer.ggml.merges"), nullptr);
  EXPECT_EQ(ints(*f, "tokenizer.ggml.token_type"), (std::vector<int64_t>{2, 3, 3, 6, 6, 1, 1, 1, 1, 1, 1}));
  // -(rank of the merge producing the token); 0 for tokens no merge produces.
  EXPECT_EQ(floats(*f, "tokenizer.ggml.scores"), (std::vector<double>{0, 0, 0, 0, 0, 0, 0, 0, 0, -1, -2}));
  EXPECT_TRUE(f->get_bool("tokenizer.ggml.add_space_prefix", false));
  EXPECT_TRUE(f->get_bool("tokenizer.ggml.add_bos_token", false));
  EXPECT_FALSE(f->get_bool("tokenizer.ggml.add_eos_token", true));
  EXPECT_EQ(f->get_u64("tokenizer.ggml.unknown_token_id", 99), 0u);
  EXPECT_EQ(f->get_u64("tokenizer.ggml.bos_token_id", 99), 1u);
  EXPECT_EQ(f->get_u64("tokenizer.ggml.eos_token_id", 99), 2u);
  EXPECT_EQ(f->get_string("tokenizer.ggml.pre", ""), "default");

  // The file loads as hayate's SentencePiece tokenizer and applies the merges.
  const auto tokenizer = Tokenizer::from_gguf(*f);
  EXPECT_EQ(tokenizer->model_name(), "llama");
  EXPECT_EQ(tokenizer->encode("ab a", /*add_special=*/true, /*parse_special=*/false),
            (std::vector<int32_t>{1, 10, 8}));
}

// A protobuf ModelProto with the given pieces (field 1: piece, 2: score, 3: type).
std::string sentencepiece_model_bytes(const std::vector<SpPiece>& pieces) {
  const auto varint = [](std::string& out, uint64_t v) {
    do {
      out.push_back(static_cast<char>((v & 0x7f) | (v > 0x7f ? 0x80 : 0)));
      v >>= 7;
    } while (v);
  };
  std::string model;
  for (const SpPiece& p : pieces) {
    std::string m;
    varint(m, (1 << 3) | 2);
    varint(m, p.piece.size());
    m += p.piece;
    varint(m, (2 << 3) | 5);
    char score[4];
    std::memcpy(score, &p.score, 4);
    m.append(score, 4);
    varint(m, (3 << 3) | 0);
    varint(m, static_cast<uint64_t>(p.type));
    varint(model, (1 << 3) | 2);
    varint(model, m.size());
    model += m;
  }
  varint(model, (2 << 3) | 2);  // a trainer_spec to skip
  varint(model, 3);
  model += "abc";
  return model;
}

TEST(ConvertTokenizer, SentencePieceScoresFromTokenizerModel) {
  TempDir dir;
  dir.write("tokenizer.json", sentencepiece_style());
  const std::string s = "\xe2\x96\x81";
  std::vector<SpPiece> pieces = {{"<unk>", 0, 2},   {"<s>", 0, 3},     {"</s>", 0, 3},     {"<0x00>", 0, 6},
                                 {"<0x0A>", 0, 6},  {s, -5.5f, 1},     {"a", -7, 1},       {"b", -8, 1},
                                 {s + "a", -1, 1},  {"ab", -2.25f, 5}, {s + "ab", -3, 1}};
  std::ofstream(dir.file("tokenizer.model"), std::ios::binary) << sentencepiece_model_bytes(pieces);
  EXPECT_EQ(parse_sentencepiece_model(
                std::span(reinterpret_cast<const uint8_t*>(sentencepiece_model_bytes(pieces).data()),
                          sentencepiece_model_bytes(pieces).size()),
                "t")
                .size(),
            11u);
  std::string log;
  const auto f = tokenizer_gguf(dir, &log);
  EXPECT_EQ(floats(*f, "tokenizer.ggml.scores"), (std::vector<double>{0, 0, 0, 0, 0, -5.5, -7, -8, -1, -2.25, -3}));
  EXPECT_EQ(ints(*f, "tokenizer.ggml.token_type"), (std::vector<int64_t>{2, 3, 3, 6, 6, 1, 1, 1, 1, 5, 1}));
  EXPECT_NE(log.find("tokenizer.model"), std::string::npos) << log;

  std::ofstream(dir.file("tokenizer.model"), std::ios::binary) << std::string("\x0a\x7f\x01", 3);
  std::string msg;
  EXPECT_EQ(error_of([&] { tokenizer_gguf(dir); }, &msg), ErrorKind::BadInput);
  EXPECT_NE(msg.find("SentencePiece"), std::string::npos) << msg;
}

TEST(ConvertTokenizer, MetaspacePreTokenizerAndPrefixSpaceOverride) {
  TempDir dir;
  json tok = sentencepiece_style();
  tok["normalizer"] = nullptr;
  tok["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\xe2\x96\x81"}, {"prepend_scheme", "first"}};
  dir.write("tokenizer.json", tok);
  EXPECT_TRUE(tokenizer_gguf(dir)->get_bool("tokenizer.ggml.add_space_prefix", false));
  dir.write("tokenizer_config.json", {{"add_prefix_space", false}});
  EXPECT_FALSE(tokenizer_gguf(dir)->get_bool("tokenizer.ggml.add_space_prefix", true));
  tok["pre_tokenizer"]["prepend_scheme"] = "never";
  dir.write("tokenizer.json", tok);
  fs::remove(dir.file("tokenizer_config.json"));
  EXPECT_FALSE(tokenizer_gguf(dir)->get_bool("tokenizer.ggml.add_space_prefix", true));
}

}  // namespace
}  // namespace hayate::convert
