// Per-tensor type choice of the quantization mixes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <string>
#include <vector>

#include "quant/mix.h"

namespace hayate::quant {
namespace {

GgmlType pick(FileType ft, const std::string& name, int layer = -1, int64_t cols = 4096, int64_t dims = 2) {
  return choose_tensor_type(ft, name, layer, 32, cols, dims);
}

std::string blk(int layer, const char* what) { return "blk." + std::to_string(layer) + "." + what + ".weight"; }

TEST(Mix, NamesAndGgufIds) {
  EXPECT_EQ(file_type_from_name("Q4_K_M"), FileType::Q4_K_M);
  EXPECT_EQ(file_type_from_name("q4_k_m"), FileType::Q4_K_M);
  EXPECT_EQ(file_type_from_name("bf16"), FileType::BF16);
  EXPECT_EQ(file_type_from_name("Q3_k_s"), FileType::Q3_K_S);
  EXPECT_FALSE(file_type_from_name("q4_k").has_value());
  EXPECT_FALSE(file_type_from_name("").has_value());
  EXPECT_STREQ(file_type_name(FileType::Q5_K_M), "Q5_K_M");

  const std::pair<FileType, uint32_t> ids[] = {
      {FileType::F32, 0},     {FileType::F16, 1},     {FileType::Q4_0, 2},
      {FileType::Q8_0, 7},    {FileType::Q3_K_S, 11}, {FileType::Q4_K_M, 15},
      {FileType::Q5_K_M, 17}, {FileType::Q6_K, 18},   {FileType::BF16, 32},
  };
  for (const auto& [ft, id] : ids) {
    EXPECT_EQ(file_type_gguf_id(ft), id) << file_type_name(ft);
    EXPECT_EQ(file_type_from_name(file_type_name(ft)), ft);
  }
}

// The names help text and messages list are generated from the table: each one parses back, and
// the general.file_type lookup gives the named mixes, not the *_PURE ones that share their ids.
TEST(Mix, NameListAndIdLookupComeFromTheTable) {
  std::istringstream names(file_type_names());
  std::vector<std::string> listed;
  for (std::string n; names >> n;) listed.push_back(n);
  ASSERT_FALSE(listed.empty());
  for (const std::string& n : listed) {
    ASSERT_TRUE(file_type_from_name(n).has_value()) << n;
    EXPECT_EQ(n, [&] {
      std::string lower = file_type_name(*file_type_from_name(n));
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return lower;
    }());
  }
  EXPECT_EQ(listed.front(), "f32");
  EXPECT_NE(std::find(listed.begin(), listed.end(), "q4_k_pure"), listed.end());
  EXPECT_EQ(file_type_from_gguf_id(15), FileType::Q4_K_M);
  EXPECT_EQ(file_type_from_gguf_id(32), FileType::BF16);
  EXPECT_FALSE(file_type_from_gguf_id(14).has_value()) << "14 is llama.cpp's Q4_K_S, not Q4_K_PURE";
  EXPECT_FALSE(file_type_from_gguf_id(99).has_value());
}

TEST(Mix, UseMoreBitsPicksTheExpectedLayersOf32) {
  std::vector<int> picked;
  for (int l = 0; l < 32; ++l)
    if (use_more_bits(l, 32)) picked.push_back(l);
  // First 4, last 4, and every third layer between (4 + 2, 4 + 5, ...).
  const std::vector<int> expect = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
  EXPECT_EQ(picked, expect);
}

TEST(Mix, Q4KMediumSpendsBitsOnAttnVAndFfnDown) {
  const std::vector<int> six = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
  for (int l = 0; l < 32; ++l) {
    const bool more = std::find(six.begin(), six.end(), l) != six.end();
    const GgmlType want = more ? GgmlType::Q6_K : GgmlType::Q4_K;
    EXPECT_EQ(pick(FileType::Q4_K_M, blk(l, "attn_v"), l), want) << l;
    EXPECT_EQ(pick(FileType::Q4_K_M, blk(l, "ffn_down"), l), want) << l;
    EXPECT_EQ(pick(FileType::Q5_K_M, blk(l, "ffn_down"), l), more ? GgmlType::Q6_K : GgmlType::Q5_K) << l;
    // Everything else in the layer keeps the base type.
    for (const char* other : {"attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"}) {
      EXPECT_EQ(pick(FileType::Q4_K_M, blk(l, other), l), GgmlType::Q4_K) << other << " " << l;
      EXPECT_EQ(pick(FileType::Q5_K_M, blk(l, other), l), GgmlType::Q5_K) << other << " " << l;
    }
  }
  // The layer may also come from the name alone.
  EXPECT_EQ(pick(FileType::Q4_K_M, "blk.6.attn_v.weight"), GgmlType::Q6_K);
  EXPECT_EQ(pick(FileType::Q4_K_M, "blk.7.attn_v.weight"), GgmlType::Q4_K);
  EXPECT_EQ(pick(FileType::Q4_K_M, blk(0, "ffn_down_exps"), 0), GgmlType::Q6_K);
  EXPECT_EQ(pick(FileType::Q4_K_M, blk(5, "attn_qkv"), 5), GgmlType::Q5_K);
  EXPECT_EQ(pick(FileType::Q5_K_M, blk(5, "attn_qkv"), 5), GgmlType::Q6_K);
}

TEST(Mix, OutputAndEmbeddings) {
  EXPECT_EQ(pick(FileType::Q4_K_M, "output.weight"), GgmlType::Q6_K);
  EXPECT_EQ(pick(FileType::Q3_K_S, "output.weight"), GgmlType::Q6_K);
  EXPECT_EQ(pick(FileType::Q4_0, "output.weight"), GgmlType::Q6_K);
  EXPECT_EQ(pick(FileType::Q8_0, "output.weight"), GgmlType::Q8_0);
  EXPECT_EQ(pick(FileType::F16, "output.weight"), GgmlType::F16);
  EXPECT_EQ(pick(FileType::Q4_K_M, "token_embd.weight"), GgmlType::Q4_K);
  EXPECT_EQ(pick(FileType::Q8_0, "token_embd.weight"), GgmlType::Q8_0);
  // Tied output: the embedding matrix is the output matrix.
  EXPECT_EQ(choose_tensor_type(FileType::Q4_K_M, "token_embd.weight", -1, 32, 4096, 2, true), GgmlType::Q6_K);
  EXPECT_EQ(choose_tensor_type(FileType::Q8_0, "token_embd.weight", -1, 32, 4096, 2, true), GgmlType::Q8_0);
}

TEST(Mix, UniformMixes) {
  for (int l : {0, 7, 31}) {
    for (const char* what : {"attn_v", "ffn_down", "attn_q", "ffn_up"}) {
      EXPECT_EQ(pick(FileType::Q3_K_S, blk(l, what), l), GgmlType::Q3_K);
      EXPECT_EQ(pick(FileType::Q6_K, blk(l, what), l), GgmlType::Q6_K);
      EXPECT_EQ(pick(FileType::Q8_0, blk(l, what), l), GgmlType::Q8_0);
      EXPECT_EQ(pick(FileType::Q4_0, blk(l, what), l), GgmlType::Q4_0);
      EXPECT_EQ(pick(FileType::BF16, blk(l, what), l), GgmlType::BF16);
      EXPECT_EQ(pick(FileType::F32, blk(l, what), l), GgmlType::F32);
    }
  }
  EXPECT_EQ(pick(FileType::Q6_K, "token_embd.weight"), GgmlType::Q6_K);
}

TEST(Mix, OneDimensionalAndRouterTensorsStayF32) {
  for (const FileType ft : {FileType::F16, FileType::Q4_K_M, FileType::Q8_0, FileType::Q3_K_S}) {
    EXPECT_EQ(pick(ft, "blk.3.attn_norm.weight", 3, 4096, 1), GgmlType::F32);
    EXPECT_EQ(pick(ft, "output_norm.weight", -1, 4096, 1), GgmlType::F32);
    EXPECT_EQ(pick(ft, "blk.3.attn_q.bias", 3, 4096, 1), GgmlType::F32);
    EXPECT_EQ(pick(ft, "blk.3.ffn_gate_inp.weight", 3, 4096, 2), GgmlType::F32);
  }
}

TEST(Mix, RowLengthFallbacks) {
  // 4100 is a multiple of 4 but of neither 32 nor 256; 4128 = 129 * 32 is not a multiple of 256.
  EXPECT_EQ(pick(FileType::Q4_K_M, "blk.7.attn_q.weight", 7, 4128), GgmlType::Q8_0);
  EXPECT_EQ(pick(FileType::Q4_K_M, "blk.0.attn_v.weight", 0, 4128), GgmlType::Q8_0);
  EXPECT_EQ(pick(FileType::Q4_K_M, "output.weight", -1, 4128), GgmlType::Q8_0);
  EXPECT_EQ(pick(FileType::Q3_K_S, "blk.7.attn_q.weight", 7, 4100), GgmlType::F16);
  EXPECT_EQ(pick(FileType::Q4_0, "blk.7.attn_q.weight", 7, 4100), GgmlType::F16);
  EXPECT_EQ(pick(FileType::Q4_0, "blk.7.attn_q.weight", 7, 4128), GgmlType::Q4_0);
  EXPECT_EQ(pick(FileType::Q8_0, "blk.7.attn_q.weight", 7, 4100), GgmlType::F16);
  EXPECT_EQ(pick(FileType::F16, "blk.7.attn_q.weight", 7, 4100), GgmlType::F16);
}

}  // namespace
}  // namespace hayate::quant
