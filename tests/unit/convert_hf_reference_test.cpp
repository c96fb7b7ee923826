// Converted tiny Hugging Face models against Hugging Face's own outputs. The models and their
// float32 logits come from tools/reference/make_hf_models.py (run on a machine with torch); the
// test reads them from tests/data/hf/<name>/ (or $HAYATE_HF_MODELS/<name>/) and skips when there
// are none. Each folder is converted to f32 and every prompt of reference.json is run through
// hayate's reference backend; the folder's hf_ids.json, when present, checks the converted
// tokenizer too.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "convert/bert.h"
#include "convert/convert.h"
#include "convert/hf_config.h"
#include "convert/json_file.h"
#include "forward/forward.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "support/hf_models.h"
#include "tokenizer/tokenizer.h"

namespace hayate::convert {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path models_root() { return test::hf_models_root(); }

std::vector<float> read_f32(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<float> v(fs::file_size(path) / 4);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
  return v;
}

std::vector<float> run_prompt(const Model& model, Backend& backend, const std::vector<int32_t>& prompt) {
  const int32_t block = 16;
  const auto n_blocks = static_cast<int32_t>((prompt.size() + block - 1) / block);
  const auto kv = backend.make_kv_cache(model.hp, n_blocks, block);
  Batch batch;
  BatchSequence seq;
  for (int32_t b = 0; b < n_blocks; ++b) seq.block_table.push_back(b);
  batch.sequences.push_back(seq);
  for (size_t i = 0; i < prompt.size(); ++i) batch.add(prompt[i], static_cast<int32_t>(i), 0, true);
  return forward(model, batch, *kv, backend);
}

TEST(ConvertHfReference, ConvertedModelsMatchHuggingFaceLogits) {
  const fs::path root = models_root();
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    if (fs::exists(e.path() / "config.json") && fs::exists(e.path() / "reference.json") &&
        !is_bert_class(hf_architecture(read_json_file((e.path() / "config.json").string()), "config.json")))
      dirs.push_back(e.path());  // encoders: convert_bert_reference_test
  }
  if (dirs.empty()) GTEST_SKIP() << "no reference models in " << root.string() << " (set HAYATE_HF_MODELS)";
  std::sort(dirs.begin(), dirs.end());

  for (const fs::path& dir : dirs) {
    const std::string name = dir.filename().string();
    SCOPED_TRACE(name);
    const std::string out =
        (fs::temp_directory_path() / ("hayate_hfref_" + std::to_string(::getpid()) + "_" + name + ".gguf")).string();
    Options opt;
    opt.out_type = "f32";
    std::ostringstream log;
    convert_hf(dir.string(), out, opt, log);
    const auto model = Model::load(out);
    const auto backend = make_backend("reference", 1);
    backend->prepare(*model);

    std::ifstream ref_in(dir / "reference.json");
    const json ref = json::parse(ref_in);
    const auto& prompts = ref.at("prompts");
    for (size_t p = 0; p < prompts.size(); ++p) {
      const std::vector<int32_t> prompt = prompts[p].get<std::vector<int32_t>>();
      if (ref.contains("ctx_size")) model->use_context(ref["ctx_size"][p].get<int32_t>());  // LongRoPE's factors
      const std::vector<float> want = read_f32(dir / ref.at("logits")[p].at("file").get<std::string>());
      const std::vector<float> got = run_prompt(*model, *backend, prompt);
      ASSERT_EQ(got.size(), want.size()) << "prompt " << p;
      float scale = 0, diff = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        scale = std::max(scale, std::fabs(want[i]));
        diff = std::max(diff, std::fabs(want[i] - got[i]));
      }
      std::cout << "[ " << name << " ] prompt " << p << " (" << prompt.size() << " tokens): max |diff| " << diff
                << " of max |logit| " << scale << "\n";
      EXPECT_LT(diff, 1e-3f * std::max(scale, 1.0f)) << "prompt " << p;
    }

    const fs::path ids_file = dir / "hf_ids.json";
    if (fs::exists(ids_file)) {
      const auto tokenizer = Tokenizer::from_gguf(*model->file);
      std::ifstream ids_in(ids_file);
      const json cases = json::parse(ids_in);
      size_t failures = 0;
      for (const json& c : cases) {
        const auto got = tokenizer->encode(c.at("text").get<std::string>(), false, true);
        if (got != c.at("ids").get<std::vector<int32_t>>() && ++failures <= 5) {
          ADD_FAILURE() << "ids differ for " << c.at("text").dump();
        }
      }
      std::cout << "[ " << name << " ] tokenizer: " << cases.size() - failures << " of " << cases.size()
                << " texts encode as Hugging Face does\n";
      EXPECT_EQ(failures, 0u) << failures << " of " << cases.size() << " texts";
    }
    fs::remove(out);
  }
}

}  // namespace
}  // namespace hayate::convert
