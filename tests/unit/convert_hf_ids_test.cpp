// Token ids from Hugging Face `tokenizers` against hayate's, through the converter: for each
// tests/data/tokenizer/hf_ids_<name>.json (a list of {"text": …, "ids": […]}, made with HF's
// tokenizer.encode(text, add_special_tokens=False) on another machine), the npm tokenizer <name>
// (llama3, qwen3: see scripts/fetch-test-tokenizers.sh) is converted and every text encoded with
// add_special = false, parse_special = true. Files for other names (tokenizers that are not npm
// packages) are left to other tests and only noted.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

// The tokenizers scripts/fetch-test-tokenizers.sh fetches (by their folder names).
const std::set<std::string> kNpmTokenizers = {"llama3", "qwen3"};

std::string ids_text(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

TEST(ConvertHfIds, HayateEncodesAsHuggingFaceDoes) {
  const fs::path data = fs::path(HAYATE_TESTDATA) / "tokenizer";
  std::vector<std::pair<std::string, fs::path>> cases;  // name, file
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(data, ec)) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("hf_ids_", 0) == 0 && entry.path().extension() == ".json") {
      cases.emplace_back(file.substr(7, file.size() - 7 - 5), entry.path());
    }
  }
  if (cases.empty()) GTEST_SKIP() << "no " << data.string() << "/hf_ids_<name>.json files yet";

  size_t checked = 0;
  for (const auto& [name, path] : cases) {
    SCOPED_TRACE(path.string());
    if (!kNpmTokenizers.count(name) && !fs::exists(tokenizer_dir(name) + "/tokenizer.json")) {
      std::cout << "[ skipped  ] " << path.filename().string() << ": no npm tokenizer named '" << name << "'\n";
      continue;
    }
    ++checked;
    if (!fs::exists(tokenizer_dir(name) + "/tokenizer.json")) {
      std::system((std::string("bash ") + HAYATE_SOURCE_DIR + "/scripts/fetch-test-tokenizers.sh").c_str());
    }
    ASSERT_TRUE(fs::exists(tokenizer_dir(name) + "/tokenizer.json"))
        << "no npm tokenizer '" << name << "' (scripts/fetch-test-tokenizers.sh names them)";
    const std::string out =
        (fs::temp_directory_path() / ("hayate_hf_ids_" + std::to_string(::getpid()) + "_" + name + ".gguf")).string();
    Options opt;
    opt.vocab_only = true;
    std::ostringstream log;
    convert_hf(tokenizer_dir(name), out, opt, log);
    const auto file = gguf::File::open(out);
    const auto tokenizer = Tokenizer::from_gguf(*file);

    std::ifstream in(path);
    const nlohmann::json cases_json = nlohmann::json::parse(in);
    ASSERT_TRUE(cases_json.is_array());
    size_t failures = 0;
    for (const auto& c : cases_json) {
      const std::string text = c.at("text").get<std::string>();
      const std::vector<int32_t> want = c.at("ids").get<std::vector<int32_t>>();
      const std::vector<int32_t> got = tokenizer->encode(text, /*add_special=*/false, /*parse_special=*/true);
      if (got != want && ++failures <= 10) {
        ADD_FAILURE() << name << ": " << nlohmann::json(text).dump() << "\n  HF:     " << ids_text(want)
                      << "\n  hayate: " << ids_text(got);
      }
    }
    std::cout << "[ " << name << " ] " << cases_json.size() - failures << " of " << cases_json.size()
              << " texts encode as Hugging Face does\n";
    EXPECT_EQ(failures, 0u) << name << ": " << failures << " of " << cases_json.size() << " texts differ";
    fs::remove(out);
  }
  if (checked == 0) GTEST_SKIP() << "no hf_ids file names an npm tokenizer";
}

}  // namespace
}  // namespace hayate::convert
