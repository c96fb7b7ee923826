// The resampler against PIL's bytes and hand-computed cases, and the processors' size rules
// (CLIP's shortest edge and center crop, Qwen2-VL's smart_resize) against Python's results.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "image/image.h"
#include "image_support.h"

namespace hayate::image {
namespace {

using testing::expected_manifest;
using testing::images_dir;
using testing::read_bytes;

Rgb8 filled(int w, int h, uint8_t v) { return {w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3, v)}; }

TEST(ImageResize, MatchesPilBytesInEveryDirectionAndFilter) {
  const nlohmann::json manifest = expected_manifest();
  int compared = 0;
  for (const auto& [name, entry] : manifest.items()) {
    const Rgb8 in{entry["width"], entry["height"], read_bytes(images_dir() + "expected/" + name + ".rgb")};
    for (const auto& r : entry["resized"]) {
      SCOPED_TRACE(name + " -> " + r["file"].get<std::string>());
      const std::string f = r["filter"];
      const Resample filter = f == "bicubic"    ? Resample::Bicubic
                              : f == "bilinear" ? Resample::Bilinear
                                                : Resample::Area;
      const Rgb8 out = resize(in, r["width"], r["height"], filter);
      const std::vector<uint8_t> want = read_bytes(images_dir() + "expected/" + r["file"].get<std::string>());
      ASSERT_EQ(out.data.size(), want.size());
      EXPECT_TRUE(out.data == want);
      ++compared;
    }
  }
  EXPECT_GE(compared, 19 * 4);
}

TEST(ImageResize, TwoByTwoToOneBicubicRoundsEachPassLikePil) {
  // Shrinking by 2 weighs both pixels of each axis equally. Rows: (0 + 11) / 2 = 5.5 -> 6 and
  // (20 + 31) / 2 = 25.5 -> 26 (each pass rounds half up to 8 bits); then (6 + 26) / 2 = 16,
  // where the exact mean would be 15.5.
  Rgb8 in{2, 2, {}};
  for (uint8_t v : {0, 11, 20, 31})
    for (int c = 0; c < 3; ++c) in.data.push_back(v);
  const Rgb8 out = resize(in, 1, 1, Resample::Bicubic);
  EXPECT_EQ(out.data, (std::vector<uint8_t>{16, 16, 16}));
}

TEST(ImageResize, ConstantImagesStayConstant) {
  for (Resample r : {Resample::Bicubic, Resample::Bilinear, Resample::Area})
    for (auto [w, h] : {std::pair{7, 5}, std::pair{64, 48}, std::pair{13, 90}}) {
      const Rgb8 out = resize(filled(37, 23, 173), w, h, r);
      EXPECT_TRUE(std::all_of(out.data.begin(), out.data.end(), [](uint8_t v) { return v == 173; }));
    }
}

TEST(ImageResize, ARampStaysMonotone) {
  Rgb8 in{100, 3, {}};
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 100; ++x)
      for (int c = 0; c < 3; ++c) in.data.push_back(static_cast<uint8_t>(x * 255 / 99));
  for (int w : {37, 100, 251}) {
    const Rgb8 out = resize(in, w, 3, Resample::Bicubic);
    for (int x = 1; x < w; ++x) EXPECT_GE(out.data[x * 3], out.data[(x - 1) * 3]) << "width " << w << " x " << x;
  }
}

TEST(ImageResize, RejectsEmptySizes) { EXPECT_THROW(resize(filled(4, 4, 0), 0, 3, Resample::Bicubic), Error); }

TEST(ImagePreprocess, SmartResizeAgreesWithPython) {
  // From Qwen2-VL's smart_resize in Python (factor 28, min 56*56, max 28*28*1280); 70 / 28 = 2.5
  // rounds to even.
  const int64_t lo = 56 * 56, hi = 28 * 28 * 1280;
  EXPECT_EQ(smart_resize(768, 1024, 28, lo, hi), (std::array<int, 2>{756, 1036}));
  EXPECT_EQ(smart_resize(70, 70, 28, lo, hi), (std::array<int, 2>{56, 56}));
  EXPECT_EQ(smart_resize(42, 98, 28, lo, hi), (std::array<int, 2>{56, 112}));
  EXPECT_EQ(smart_resize(4000, 3000, 28, lo, hi), (std::array<int, 2>{1148, 840}));
  EXPECT_EQ(smart_resize(23, 37, 28, lo, hi), (std::array<int, 2>{56, 84}));
  EXPECT_EQ(smart_resize(10, 2000, 28, lo, hi), (std::array<int, 2>{28, 812}));
  EXPECT_THROW(smart_resize(9, 100, 28, lo, hi), Error);
  EXPECT_THROW(smart_resize(10, 2001, 28, lo, hi), Error);
}

TEST(ImagePreprocess, ShortestEdgeKeepsTheAspectRatioTruncating) {
  EXPECT_EQ(shortest_edge_size(768, 1024, 336), (std::array<int, 2>{336, 448}));
  EXPECT_EQ(shortest_edge_size(1024, 768, 336), (std::array<int, 2>{448, 336}));
  EXPECT_EQ(shortest_edge_size(23, 37, 224), (std::array<int, 2>{224, 360}));  // 360.3 -> 360
}

Decoded decoded(const Rgb8& img) {
  Decoded d;
  d.width = img.width;
  d.height = img.height;
  d.rgb = img.data;
  return d;
}

TEST(ImagePreprocess, ClipNormalisesChannelFirst) {
  Rgb8 img = filled(40, 30, 0);
  for (size_t i = 0; i < img.data.size(); i += 3) img.data[i] = 255;  // pure red
  const Preprocess o = clip_preprocess(24);
  const Pixels p = preprocess(decoded(img), o);
  ASSERT_EQ(p.width, 24);
  ASSERT_EQ(p.height, 24);
  ASSERT_EQ(p.chw.size(), 3u * 24 * 24);
  for (int c = 0; c < 3; ++c) {
    const float want = ((c == 0 ? 1.0f : 0.0f) - o.mean[c]) / o.std[c];
    EXPECT_FLOAT_EQ(p.chw[c * 24 * 24], want);
    EXPECT_FLOAT_EQ(p.chw[c * 24 * 24 + 24 * 24 - 1], want);
  }
}

TEST(ImagePreprocess, CenterCropPadsWithZerosLikeHf) {
  // 4 x 2 cropped to 2 x 4: columns 1..2 (floor), rows padded one above and one below (ceil).
  Rgb8 img{4, 2, {}};
  for (int i = 0; i < 8; ++i)
    for (int c = 0; c < 3; ++c) img.data.push_back(static_cast<uint8_t>(10 + i));
  Preprocess o;
  o.mode = ResizeMode::None;
  o.crop_width = 2;
  o.crop_height = 4;
  o.rescale = 1;
  o.mean = {0, 0, 0};
  o.std = {1, 1, 1};
  const Pixels p = preprocess(decoded(img), o);
  ASSERT_EQ(p.width, 2);
  ASSERT_EQ(p.height, 4);
  EXPECT_EQ(std::vector<float>(p.chw.begin(), p.chw.begin() + 8), (std::vector<float>{0, 0, 11, 12, 15, 16, 0, 0}));
}

TEST(ImagePreprocess, SmartCropFindsTheDetail) {
  // A flat image with a checkerboard in its right part: the window goes there, not to the centre.
  Rgb8 img = filled(60, 20, 128);
  for (int y = 0; y < 20; ++y)
    for (int x = 45; x < 60; ++x)
      for (int c = 0; c < 3; ++c) img.data[(y * 60 + x) * 3 + c] = (x + y) % 2 ? 0 : 255;
  Preprocess o;
  o.mode = ResizeMode::None;
  o.crop_width = o.crop_height = 20;
  o.smart_crop = true;
  o.rescale = 1;
  o.mean = {0, 0, 0};
  o.std = {1, 1, 1};
  const Pixels p = preprocess(decoded(img), o);
  ASSERT_EQ(p.width, 20);
  EXPECT_NE(p.chw[19], 128.0f);  // the last column is inside the checkerboard
  o.smart_crop = false;
  EXPECT_EQ(preprocess(decoded(img), o).chw[19], 128.0f);  // the centred window is flat
}

TEST(ImagePreprocess, SmartCropOfANarrowImageStillGivesTheWindowSize) {
  Preprocess o;
  o.mode = ResizeMode::None;
  o.crop_width = o.crop_height = 20;
  o.smart_crop = true;
  const Pixels p = preprocess(decoded(filled(10, 50, 7)), o);
  EXPECT_EQ(p.width, 20);
  EXPECT_EQ(p.height, 20);
}

TEST(ImagePreprocess, MaxSideThenQwenDynamicSize) {
  Preprocess o = qwen2vl_preprocess();
  o.max_side = 512;
  const Pixels p = preprocess(decoded(filled(1024, 768, 9)), o);
  // 1024 x 768 -> 512 x 384 -> smart_resize(384, 512) = 392 x 504.
  EXPECT_EQ(p.height, 392);
  EXPECT_EQ(p.width, 504);
  EXPECT_EQ(p.chw.size(), 3u * 392 * 504);
}

TEST(ImagePreprocess, AreaShrinksByAveraging) {
  Rgb8 img{4, 1, {}};
  for (uint8_t v : {10, 20, 30, 41})
    for (int c = 0; c < 3; ++c) img.data.push_back(v);
  const Rgb8 out = resize(img, 2, 1, Resample::Area);
  EXPECT_EQ(out.data, (std::vector<uint8_t>{15, 15, 15, 36, 36, 36}));  // 35.5 rounds up
}

}  // namespace
}  // namespace hayate::image
