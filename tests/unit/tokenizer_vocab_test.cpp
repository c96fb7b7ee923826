// Conformance with the reference tokenizers: every ggml-vocab-*.gguf in the shared vocabulary
// folder that comes with .inp/.out vectors (written by llama.cpp's test tooling from Hugging Face
// tokenizers) must encode each case to exactly the expected ids. The .inp file holds the cases
// separated by "\n__ggml_vocab_test__\n"; the .out file one line of space-separated ids per case.
// Cases are encoded without BOS/EOS and without parsing special tokens, as the vectors were made.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "core/utf8.h"

namespace hayate {
namespace {

namespace fs = std::filesystem;

const fs::path kVocabDir = HAYATE_SHARED_VOCAB;
constexpr std::string_view kPrefix = "ggml-vocab-";
constexpr std::string_view kSeparator = "\n__ggml_vocab_test__\n";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<std::string> split(const std::string& text, std::string_view separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t hit = text.find(separator); hit != std::string::npos; hit = text.find(separator, start)) {
    parts.push_back(text.substr(start, hit - start));
    start = hit + separator.size();
  }
  parts.push_back(text.substr(start));
  return parts;
}

// Vocabulary names ("gpt-2", "llama-spm", …) that have a .gguf and both vector files.
std::vector<std::string> vocab_names() {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(kVocabDir, error)) {
    const std::string file = entry.path().filename().string();
    if (!file.starts_with(kPrefix) || !file.ends_with(".gguf")) continue;
    if (!fs::exists(entry.path().string() + ".inp") || !fs::exists(entry.path().string() + ".out")) continue;
    names.push_back(file.substr(kPrefix.size(), file.size() - kPrefix.size() - 5));
  }
  std::sort(names.begin(), names.end());
  return names;
}

fs::path vocab_path(const std::string& name) { return kVocabDir / (std::string(kPrefix) + name + ".gguf"); }

struct Vectors {
  std::vector<std::string> inputs;
  std::vector<std::vector<int32_t>> expected;
};

Vectors load_vectors(const std::string& name) {
  const std::string base = vocab_path(name).string();
  Vectors v;
  v.inputs = split(read_file(base + ".inp"), kSeparator);
  std::vector<std::string> lines = split(read_file(base + ".out"), "\n");
  // Both files end with their separator, which leaves one empty element after the last case.
  if (!v.inputs.empty() && v.inputs.back().empty()) v.inputs.pop_back();
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  for (const std::string& line : lines) {
    std::istringstream in(line);
    std::vector<int32_t> ids;
    for (int32_t id; in >> id;) ids.push_back(id);
    v.expected.push_back(std::move(ids));
  }
  return v;
}

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    s += ' ';
    s += std::to_string(id);
  }
  return s;
}

std::string quoted(const std::string& text) {
  std::string s(1, '"');
  for (char c : text) {
    if (c == '\n') {
      s += "\\n";
    } else if (c == '\t') {
      s += "\\t";
    } else {
      s += c;
    }
  }
  s += '"';
  return s;
}

bool in_scope(const gguf::File& file) {
  const std::string model = file.get_string("tokenizer.ggml.model", "");
  return model == "llama" || model == "gpt2" || model == "bert";
}

// WordPiece lower-cases, strips accents and drops spaces: its decode cannot give the text back.
bool lossless(const Tokenizer& tokenizer) { return tokenizer.model_name() != "bert"; }

class VocabConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    file_ = gguf::File::open(vocab_path(GetParam()).string());
    if (!in_scope(*file_))
      GTEST_SKIP() << GetParam() << ": tokenizer.ggml.model '" << file_->get_string("tokenizer.ggml.model", "")
                   << "' is out of scope for now";
    tokenizer_ = Tokenizer::from_gguf(*file_);
    vectors_ = load_vectors(GetParam());
    ASSERT_EQ(vectors_.inputs.size(), vectors_.expected.size()) << GetParam() << ": .inp and .out disagree";
  }

  std::unique_ptr<gguf::File> file_;
  std::unique_ptr<Tokenizer> tokenizer_;
  Vectors vectors_;
};

TEST_P(VocabConformance, EncodesLikeTheReference) {
  size_t passed = 0;
  for (size_t i = 0; i < vectors_.inputs.size(); ++i) {
    const std::vector<int32_t> ids = tokenizer_->encode(vectors_.inputs[i], false, false);
    if (ids == vectors_.expected[i]) {
      ++passed;
    } else {
      ADD_FAILURE() << GetParam() << " case " << i << " " << quoted(vectors_.inputs[i])
                    << "\n  expected:" << show(vectors_.expected[i]) << "\n  got:     " << show(ids);
    }
  }
  std::cout << "[ vocab    ] " << GetParam() << " (" << tokenizer_->model_name() << ", pre " << tokenizer_->pre_name()
            << "): " << passed << "/" << vectors_.inputs.size() << " cases pass\n";
  RecordProperty("cases_passed", static_cast<int>(passed));
  RecordProperty("cases_total", static_cast<int>(vectors_.inputs.size()));
}

TEST_P(VocabConformance, DecodeGivesBackTheText) {
  if (!lossless(*tokenizer_))
    GTEST_SKIP() << GetParam() << ": WordPiece is lossy (TokenizerWordPiece tests its decode)";
  for (size_t i = 0; i < vectors_.inputs.size(); ++i) {
    const std::string& text = vectors_.inputs[i];
    EXPECT_EQ(tokenizer_->decode(tokenizer_->encode(text, false, false), false), text)
        << GetParam() << " case " << i << " " << quoted(text);
    // With BOS added (and skipped again by decode) the text is the same.
    EXPECT_EQ(tokenizer_->decode(tokenizer_->encode(text, true, false), false), text)
        << GetParam() << " case " << i << " with BOS";
  }
}

TEST_P(VocabConformance, StreamDecoderEmitsOnlyWholeCharacters) {
  for (size_t i = 0; i < vectors_.inputs.size(); ++i) {
    const std::vector<int32_t> ids = tokenizer_->encode(vectors_.inputs[i], true, false);
    StreamDecoder stream(*tokenizer_);
    std::string streamed;
    for (int32_t id : ids) {
      const std::string chunk = stream.push(id);
      EXPECT_EQ(utf8::valid_prefix(chunk), chunk.size()) << GetParam() << " case " << i << ": invalid UTF-8 emitted";
      streamed += chunk;
    }
    const std::string rest = stream.flush();
    EXPECT_EQ(utf8::valid_prefix(rest), rest.size());
    streamed += rest;
    EXPECT_EQ(streamed, tokenizer_->decode(ids, false)) << GetParam() << " case " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(SharedVocab, VocabConformance, ::testing::ValuesIn(vocab_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::replace_if(
                               name.begin(), name.end(), [](char c) { return !std::isalnum(c); }, '_');
                           return name;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(VocabConformance);

// Guards against the suite passing vacuously when the shared folder moved.
TEST(VocabConformanceSetup, FindsTheSharedVectors) {
  size_t in_scope_count = 0;
  for (const std::string& name : vocab_names())
    if (in_scope(*gguf::File::open(vocab_path(name).string()))) ++in_scope_count;
  EXPECT_GE(in_scope_count, 10u) << "expected the llama.cpp test vocabularies in " << kVocabDir;
}

}  // namespace
}  // namespace hayate
