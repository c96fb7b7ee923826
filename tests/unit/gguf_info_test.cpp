// `hayate info` output: the text form names everything, the JSON form parses and agrees.
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gguf/info.h"
#include "unit/gguf_test_util.h"

namespace hayate::gguf {
namespace {

using namespace gguf_test;

std::unique_ptr<File> sample_file(const std::string& path) {
  Writer w(64);
  w.set("general.architecture", Value::string("llama"));
  w.set("general.name", Value::string("tab\there \"quoted\" \x01 bad\xff"));
  w.set("llama.block_count", Value::u32(2));
  w.set("llama.rope.freq_base", Value::f32(10000.0f));
  w.set("weird", Value::f64(std::numeric_limits<double>::infinity()));
  w.set("flag", Value::boolean(true));
  std::vector<std::string> tokens;
  for (int i = 0; i < 100; ++i) tokens.push_back("tok" + std::to_string(i));
  w.set("tokenizer.ggml.tokens", Value::string_array(tokens));
  w.set("nested", Value::array(ValueType::Array, {Value::i32_array({1, 2}), Value::i32_array({})}));
  static const std::vector<uint8_t> q(34 * 4, 7), e(4 * 64, 1);
  w.add_tensor("token_embd.weight", GgmlType::F32, {16, 4}, e.data());
  w.add_tensor("blk.0.attn_q.weight", GgmlType::Q8_0, {64, 2}, q.data());
  w.write(path);
  return File::open(path);
}

TEST(GgufInfo, TextNamesHeaderMetadataTensorsAndTotals) {
  const std::string path = temp_path("info.gguf");
  const auto f = sample_file(path);
  std::ostringstream out;
  print_info(*f, out);
  const std::string s = out.str();
  for (const char* part :
       {"GGUF v3", "alignment 64", "metadata (9 entries)", "general.architecture", "\"llama\"", "llama.block_count",
        "u32", "10000", "array[string]", "(100 items)", "[[1, 2], []]", "\\t", "\\xFF", "tensors (2)",
        "token_embd.weight", "q8_0", "[64, 2]", "136", "total: 2 tensors, 192 parameters, 392 bytes"})
    EXPECT_TRUE(Contains(s, part));
  EXPECT_FALSE(Contains(s, "tok50"));

  std::ostringstream all;
  print_info(*f, all, true);
  EXPECT_TRUE(Contains(all.str(), "\"tok99\"]"));
  std::remove(path.c_str());
}

TEST(GgufInfo, JsonParsesAndAgrees) {
  const std::string path = temp_path("info_json.gguf");
  const auto f = sample_file(path);
  std::ostringstream out;
  print_info_json(*f, out);
  nlohmann::json j;
  ASSERT_NO_THROW(j = nlohmann::json::parse(out.str())) << out.str();
  EXPECT_EQ(j["version"], 3);
  EXPECT_EQ(j["alignment"], 64);
  EXPECT_EQ(j["tensor_count"], 2);
  EXPECT_EQ(j["parameter_count"], 192);
  EXPECT_EQ(j["tensor_bytes"], 392);
  ASSERT_EQ(j["metadata"].size(), 9u);
  EXPECT_EQ(j["metadata"][0]["key"], "general.architecture");
  EXPECT_EQ(j["metadata"][0]["value"], "llama");
  EXPECT_EQ(j["metadata"][1]["value"], "tab\there \"quoted\" \x01 bad\xef\xbf\xbd");
  EXPECT_EQ(j["metadata"][3]["value"], 10000.0);
  EXPECT_TRUE(j["metadata"][4]["value"].is_null());  // infinity
  EXPECT_EQ(j["metadata"][5]["value"], true);
  EXPECT_EQ(j["metadata"][6]["type"], "array");
  EXPECT_EQ(j["metadata"][6]["element_type"], "string");
  EXPECT_EQ(j["metadata"][6]["count"], 100);
  EXPECT_EQ(j["metadata"][6]["value"].size(), 16u);
  EXPECT_EQ(j["metadata"][7]["value"], nlohmann::json::parse("[[1, 2], []]"));
  EXPECT_EQ(j["tensors"][1]["name"], "blk.0.attn_q.weight");
  EXPECT_EQ(j["tensors"][1]["type"], "q8_0");
  EXPECT_EQ(j["tensors"][1]["shape"], nlohmann::json::parse("[64, 2]"));
  EXPECT_EQ(j["tensors"][1]["offset"], 256);
  EXPECT_EQ(j["tensors"][1]["nbytes"], 136);
  std::remove(path.c_str());
}

TEST(GgufInfo, WorksOnEverySharedVocabulary) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(HAYATE_SHARED_VOCAB, ec)) {
    if (entry.path().extension() != ".gguf") continue;
    const auto f = File::open(entry.path().string());
    std::ostringstream text, json;
    print_info(*f, text);
    print_info_json(*f, json);
    EXPECT_TRUE(Contains(text.str(), "tokenizer.ggml.tokens"));
    EXPECT_TRUE(nlohmann::json::accept(json.str())) << entry.path();
  }
}

}  // namespace
}  // namespace hayate::gguf
