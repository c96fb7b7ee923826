// Decoding against PIL's bytes for every format and colour type, EXIF orientations 1-8, and
// the bad inputs of issue 19 (each a 400 with a message, before any big allocation).
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "image/image.h"
#include "image_support.h"

namespace hayate::image {
namespace {

using testing::expected_manifest;
using testing::image_file;
using testing::images_dir;
using testing::read_bytes;

std::string decode_error(std::span<const uint8_t> bytes, const Limits& limits = {}, std::string_view mime = "") {
  try {
    decode(bytes, limits, mime);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "decoded without an error";
  return "";
}

TEST(ImageDecode, MatchesPilForEveryTestImage) {
  const nlohmann::json manifest = expected_manifest();
  ASSERT_GE(manifest.size(), 19u);
  for (const auto& [name, entry] : manifest.items()) {
    SCOPED_TRACE(name);
    Decoded d = decode(image_file(name), Limits{});
    apply_alpha(d, Alpha::Drop);
    ASSERT_EQ(d.width, entry["width"].get<int>());
    ASSERT_EQ(d.height, entry["height"].get<int>());
    const std::vector<uint8_t> want = read_bytes(images_dir() + "expected/" + name + ".rgb");
    ASSERT_EQ(d.rgb.size(), want.size());
    EXPECT_TRUE(d.rgb == want);
  }
}

TEST(ImageDecode, SniffsFormatsAndKeepsAlpha) {
  EXPECT_EQ(decode(image_file("rgb_61x45.jpg"), {}).format, Format::Jpeg);
  EXPECT_EQ(decode(image_file("rgb_30x20.webp"), {}).format, Format::Webp);
  EXPECT_EQ(decode(image_file("anim_24x16.gif"), {}).format, Format::Gif);
  const Decoded png = decode(image_file("rgba_40x30.png"), {});
  EXPECT_EQ(png.format, Format::Png);
  EXPECT_EQ(png.alpha.size(), 40u * 30u);
  EXPECT_TRUE(decode(image_file("rgb_37x23.png"), {}).alpha.empty());
  EXPECT_EQ(decode(image_file("rgba_30x20.webp"), {}).alpha.size(), 30u * 20u);
}

TEST(ImageDecode, AppliesEveryExifOrientation) {
  for (int o = 1; o <= 8; ++o) {
    SCOPED_TRACE(o);
    const Decoded d = decode(image_file("exif" + std::to_string(o) + "_48x32.jpg"), {});
    EXPECT_EQ(d.exif_orientation, o);
    EXPECT_EQ(d.width, o >= 5 ? 32 : 48);
    EXPECT_EQ(d.height, o >= 5 ? 48 : 32);
  }
}

TEST(ImageDecode, CompositesAlphaOnWhite) {
  Decoded d;
  d.width = 2;
  d.height = 1;
  d.rgb = {0, 0, 0, 100, 50, 200};
  d.alpha = {0, 255};
  apply_alpha(d, Alpha::White);
  EXPECT_EQ(d.rgb, (std::vector<uint8_t>{255, 255, 255, 100, 50, 200}));
  EXPECT_TRUE(d.alpha.empty());
}

TEST(ImageDecode, RejectsEmptyAndNonImageBytes) {
  EXPECT_NE(decode_error({}).find("empty"), std::string::npos);
  const std::string text = "hello, this is not an image";
  const std::string e = decode_error({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  EXPECT_NE(e.find("not a JPEG, PNG, WebP or GIF"), std::string::npos) << e;
  EXPECT_NE(e.find("text"), std::string::npos) << e;
}

TEST(ImageDecode, RejectsTruncatedFiles) {
  for (const char* name : {"rgb_61x45.jpg", "rgb_37x23.png", "rgb_30x20.webp", "anim_24x16.gif"}) {
    SCOPED_TRACE(name);
    std::vector<uint8_t> bytes = image_file(name);
    bytes.resize(bytes.size() / 2);
    const std::string e = decode_error(bytes);
    EXPECT_NE(e.find("cannot decode"), std::string::npos) << e;
  }
  std::vector<uint8_t> jpeg = image_file("rgb_61x45.jpg");
  jpeg.resize(jpeg.size() - 400);
  EXPECT_NE(decode_error(jpeg).find("truncated"), std::string::npos);
}

TEST(ImageDecode, RejectsHugeImagesFromTheHeader) {
  // A real JPEG whose frame header claims 30000 x 30000: rejected before libjpeg allocates rows.
  std::vector<uint8_t> jpeg = image_file("rgb_61x45.jpg");
  bool patched = false;
  for (size_t i = 0; i + 9 < jpeg.size(); ++i)
    if (jpeg[i] == 0xff && jpeg[i + 1] == 0xc0) {  // SOF0: length, precision, height, width
      jpeg[i + 5] = jpeg[i + 7] = 30000 >> 8;
      jpeg[i + 6] = jpeg[i + 8] = 30000 & 0xff;
      patched = true;
      break;
    }
  ASSERT_TRUE(patched);
  std::string e = decode_error(jpeg);
  EXPECT_NE(e.find("30000x30000"), std::string::npos) << e;
  EXPECT_NE(e.find("image_max_pixels"), std::string::npos) << e;
  // A GIF whose logical screen is 30000 x 30000.
  std::vector<uint8_t> gif = image_file("anim_24x16.gif");
  gif[6] = gif[8] = 30000 & 0xff;
  gif[7] = gif[9] = 30000 >> 8;
  EXPECT_NE(decode_error(gif).find("30000x30000"), std::string::npos);
}

TEST(ImageDecode, RejectsAPngBomb) {
  // 140 kB that inflate to 144 MB of pixels: the header's size is over the limit.
  const std::string e = decode_error(read_bytes(images_dir() + "bad/bomb_12000x12000.png"));
  EXPECT_NE(e.find("12000x12000"), std::string::npos) << e;
}

TEST(ImageDecode, RejectsAZeroSizeImage) {
  std::vector<uint8_t> gif = image_file("anim_24x16.gif");
  gif[6] = gif[7] = 0;
  EXPECT_NE(decode_error(gif).find("0x16"), std::string::npos);
}

TEST(ImageDecode, RejectsAGifWithNoFrame) {
  const std::vector<uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', 4, 0, 4, 0, 0, 0, 0, 0x3b};
  EXPECT_NE(decode_error(gif).find("no image frame"), std::string::npos);
}

TEST(ImageDecode, RejectsAMimeTypeThatDisagrees) {
  const std::vector<uint8_t> png = image_file("rgb_37x23.png");
  const std::string e = decode_error(png, {}, "image/jpeg");
  EXPECT_NE(e.find("declared as 'image/jpeg'"), std::string::npos) << e;
  EXPECT_NE(e.find("PNG"), std::string::npos) << e;
  EXPECT_NO_THROW(decode(png, {}, "IMAGE/PNG"));
  EXPECT_NO_THROW(decode(image_file("rgb_61x45.jpg"), {}, "image/jpg"));
}

TEST(ImageDecode, EnforcesTheByteAndTimeLimits) {
  const std::vector<uint8_t> jpeg = image_file("rgb_61x45.jpg");
  Limits small;
  small.max_bytes = 100;
  EXPECT_NE(decode_error(jpeg, small).find("image_max_bytes"), std::string::npos);
  Limits past;
  past.max_seconds = -1;  // a deadline already gone: every decoder must notice it
  for (const char* name : {"rgb_61x45.jpg", "rgb_37x23.png", "rgb_30x20.webp", "anim_24x16.gif"})
    EXPECT_NE(decode_error(image_file(name), past).find("image_max_decode_seconds"), std::string::npos) << name;
}

}  // namespace
}  // namespace hayate::image
