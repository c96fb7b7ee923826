// A LLaVA model made and run by transformers (tools/vision/hf_llava_ref.py, random weights)
// against the same directory converted by hayate: the vision tower's selected features, the
// projector's output and the language model's logits for the fixed pixels and prompt, within
// 1e-4 of the largest magnitude (F32, reference and cpu backends), and the greedy ids identical.
// Built only when tests/data/vision/ref/ exists (tests/CMakeLists.txt); docs/vision.md says how
// to make it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "backend/backend.h"
#include "convert/convert.h"
#include "forward/forward.h"
#include "model/model.h"
#include "vision/clip.h"
#include "vision/encoder.h"

namespace hayate::vision {
namespace {

namespace fs = std::filesystem;

const fs::path kRef = fs::path(HAYATE_TESTDATA) / "vision" / "ref";

std::vector<float> read_f32(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<float> v(fs::file_size(path) / 4);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
  return v;
}

double rel_err(const std::vector<float>& got, const std::vector<float>& want) {
  EXPECT_EQ(got.size(), want.size());
  double diff = 0, scale = 0;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(got[i] - want[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(want[i])));
  }
  return diff / scale;
}

struct Converted {
  fs::path dir;
  std::unique_ptr<Model> lm;
  std::unique_ptr<ClipModel> clip;
  Converted() {
    dir = fs::temp_directory_path() / ("hayate_llava_ref_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    convert::Options opt;
    opt.out_type = "f32";
    std::ostringstream log;
    convert::convert_hf((kRef / "hf").string(), (dir / "lm.gguf").string(), opt, log);
    lm = Model::load((dir / "lm.gguf").string());
    clip = ClipModel::load((dir / "mmproj-lm.gguf").string());
  }
  ~Converted() { fs::remove_all(dir); }
};

// Logits of every prompt position with the image rows at their placeholders, then `n` greedy ids.
std::pair<std::vector<float>, std::vector<int32_t>> run_lm(const Model& m, Backend& be,
                                                           const std::vector<int32_t>& prompt, int32_t image_pos,
                                                           const std::vector<float>& rows, int n) {
  auto kv = be.make_kv_cache(m.hp, 8, 16);
  BatchSequence seq;
  for (int32_t b = 0; b < 8; ++b) seq.block_table.push_back(b);
  Batch batch;
  batch.sequences.push_back(seq);
  const auto n_rows = static_cast<int32_t>(rows.size() / static_cast<size_t>(m.hp.n_embd));
  for (size_t i = 0; i < prompt.size(); ++i) {
    batch.add(prompt[i], static_cast<int32_t>(i), 0, true);
    const auto pos = static_cast<int32_t>(i);
    if (pos >= image_pos && pos < image_pos + n_rows)
      batch.embeddings.emplace_back(pos, rows.data() + static_cast<size_t>(pos - image_pos) * m.hp.n_embd);
  }
  std::vector<float> logits = forward(m, batch, *kv, be);
  std::vector<int32_t> greedy;
  std::vector<float> last(logits.end() - m.hp.n_vocab, logits.end());
  for (int step = 0; step < n; ++step) {
    const auto id = static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin());
    greedy.push_back(id);
    Batch next;
    next.sequences.push_back(seq);
    next.add(id, static_cast<int32_t>(prompt.size() + greedy.size() - 1), 0, true);
    last = forward(m, next, *kv, be);
  }
  return {logits, greedy};
}

class HfLlava : public ::testing::TestWithParam<const char*> {};

TEST_P(HfLlava, FeaturesProjectionLogitsAndGreedyMatchTransformers) {
  const auto ref = nlohmann::json::parse(std::ifstream(kRef / "reference.json"));
  static Converted c;
  auto be = make_backend(GetParam(), 2);
  be->prepare(*c.lm);
  ClipEncoder enc(*c.clip, *be, 2);
  const int side = ref["image_size"];
  const std::vector<float> features = enc.features(read_f32(kRef / "pixels.f32"), side, side);
  EXPECT_LT(rel_err(features, read_f32(kRef / "features.f32")), 1e-4);
  const std::vector<float> embeds = enc.project(features);
  EXPECT_LT(rel_err(embeds, read_f32(kRef / "image_embeds.f32")), 1e-4);

  const std::vector<int32_t> prompt = ref["prompt"];
  const std::vector<int32_t> want_greedy = ref["greedy"];
  const auto [logits, greedy] =
      run_lm(*c.lm, *be, prompt, ref["image_position"], embeds, static_cast<int>(want_greedy.size()));
  EXPECT_LT(rel_err(logits, read_f32(kRef / "logits.f32")), 1e-4);
  EXPECT_EQ(greedy, want_greedy);
  EXPECT_EQ(c.clip->file->get_u64("hayate.image_token_id", 0), ref["image_token_id"].get<uint64_t>());
}

INSTANTIATE_TEST_SUITE_P(Backends, HfLlava, ::testing::Values("reference", "cpu"));

}  // namespace
}  // namespace hayate::vision
