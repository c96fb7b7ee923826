// hayate's decode + preprocess against Hugging Face's image processors on the same files
// (tools/vision/hf_preprocess_ref.py wrote tests/data/images/ref/ on a machine with
// transformers). Registered only when that data is committed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "../unit/image_support.h"
#include "image/image.h"

namespace hayate::image {
namespace {

using testing::image_file;
using testing::images_dir;
using testing::read_bytes;

TEST(ImageReference, PreprocessingMatchesTransformersWithin1e5) {
  std::ifstream f(images_dir() + "ref/manifest.json");
  const nlohmann::json manifest = nlohmann::json::parse(f);
  ASSERT_FALSE(manifest["cases"].empty());
  // A reference from transformers' PIL processors (what hayate follows), never the torchvision one.
  ASSERT_EQ(manifest["source"], "transformers");
  ASSERT_TRUE(manifest.contains("pillow")) << "the manifest names the Pillow the reference was made with";
  for (const auto& c : manifest["cases"]) {
    const std::string name = c["image"];
    SCOPED_TRACE(name + " " + c["file"].get<std::string>());
    const std::string processor = c["processor_class"];
    ASSERT_FALSE(processor.ends_with("Fast")) << processor;
    const Preprocess o =
        c["processor"] == "clip" ? clip_preprocess(c["size"]) : qwen2vl_preprocess(c["min_pixels"], c["max_pixels"]);
    const Pixels p = preprocess(decode(image_file(name), Limits{}), o);
    ASSERT_EQ(p.height, c["height"].get<int>());
    ASSERT_EQ(p.width, c["width"].get<int>());
    const std::vector<uint8_t> raw = read_bytes(images_dir() + "ref/" + c["file"].get<std::string>());
    ASSERT_EQ(raw.size(), p.chw.size() * sizeof(float));
    std::vector<float> want(p.chw.size());
    std::memcpy(want.data(), raw.data(), raw.size());
    float worst = 0;
    size_t worst_at = 0;
    for (size_t i = 0; i < want.size(); ++i)
      if (std::fabs(p.chw[i] - want[i]) > worst) {
        worst = std::fabs(p.chw[i] - want[i]);
        worst_at = i;
      }
    EXPECT_LE(worst, 1e-5f) << "at element " << worst_at << ": hayate " << p.chw[worst_at] << ", transformers "
                            << want[worst_at];
  }
}

}  // namespace
}  // namespace hayate::image
