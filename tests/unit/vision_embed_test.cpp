// The join of images and prompts (vision/embed.h): markers widened to image tokens at the right
// positions, pixel hashes that tell images apart, and an embedder that gives exactly the encoder's
// rows for the CLIP-preprocessed image and refuses an mmproj of another width.
#include <gtest/gtest.h>

#include <sstream>

#include "backend/backend.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "image/image.h"
#include "model/model.h"
#include "model/synth.h"
#include "support/test_util.h"
#include "tokenizer/tokenizer.h"
#include "vision/embed.h"
#include "vision/encoder.h"
#include "vision/synth.h"

namespace hayate::vision {
namespace {

// The built-in byte tokenizer of `hayate synth`: one id per byte, so positions are plain counts.
const Tokenizer& byte_tokenizer() {
  static const std::unique_ptr<Tokenizer> tok = [] {
    const std::string path = test::temp_path("embed-lm.gguf");
    SynthOptions o;
    o.n_embd = 32;
    o.n_layer = 1;
    o.n_head = 2;
    o.n_head_kv = 1;
    o.n_ff = 64;
    std::ostringstream log;
    synth_model(o, path, log);
    return Tokenizer::from_gguf(*gguf::File::open(path));
  }();
  return *tok;
}

template <typename F>
void expect_error(ErrorKind kind, const std::string& says, F&& f) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one saying '" << says << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
  }
}

ImageRows rows_of(int32_t n, uint64_t hash) {
  return {n, hash, std::make_shared<const std::vector<float>>(static_cast<size_t>(n) * 4, 1.0f)};
}

image::Decoded picture(int w, int h, uint8_t seed) {
  image::Decoded d;
  d.width = w;
  d.height = h;
  d.rgb.resize(static_cast<size_t>(w * h * 3));
  for (size_t i = 0; i < d.rgb.size(); ++i) d.rgb[i] = static_cast<uint8_t>(i * 7 + seed);
  return d;
}

TEST(TokenizeWithImages, MarkersBecomeImageTokensWhereTheyWere) {
  const Tokenizer& tok = byte_tokenizer();
  const std::vector<ImageRows> rows = {rows_of(3, 11), rows_of(2, 22)};
  const ImagePrompt p = tokenize_with_images(tok, "ab<m>cd<m>", "<m>", rows, 7, false);
  std::vector<int32_t> expected = tok.encode("ab", false, true);
  expected.insert(expected.end(), 3, 7);
  const std::vector<int32_t> cd = tok.encode("cd", false, true);
  expected.insert(expected.end(), cd.begin(), cd.end());
  expected.insert(expected.end(), 2, 7);
  EXPECT_EQ(p.ids, expected);
  ASSERT_EQ(p.images.size(), 2u);
  EXPECT_EQ(p.images[0].position, static_cast<int32_t>(tok.encode("ab", false, true).size()));
  EXPECT_EQ(p.images[0].n_rows, 3);
  EXPECT_EQ(p.images[0].content_hash, 11u);
  EXPECT_EQ(p.images[1].position, p.images[0].position + 3 + static_cast<int32_t>(cd.size()));
  EXPECT_EQ(p.images[1].content_hash, 22u);
  EXPECT_EQ(p.images[1].data, rows[1].data);
}

TEST(TokenizeWithImages, AnImageFirstAndBosOnce) {
  const Tokenizer& tok = byte_tokenizer();
  const std::vector<ImageRows> rows = {rows_of(2, 1)};
  const ImagePrompt p = tokenize_with_images(tok, "<m>hi", "<m>", rows, 0, true);
  const std::vector<int32_t> bos_only = tok.encode("", true, true);
  EXPECT_EQ(p.images[0].position, static_cast<int32_t>(bos_only.size()));
  const std::vector<int32_t> hi = tok.encode("hi", false, true);
  EXPECT_EQ(p.ids.size(), bos_only.size() + 2 + hi.size());
}

TEST(TokenizeWithImages, MarkersAndImagesMustPairUp) {
  const Tokenizer& tok = byte_tokenizer();
  const std::vector<ImageRows> two = {rows_of(1, 1), rows_of(1, 2)};
  const std::vector<ImageRows> one = {rows_of(1, 1)};
  expect_error(ErrorKind::BadInput, "1 image place(s)",
               [&] { tokenize_with_images(tok, "a<m>b", "<m>", two, 0, false); });
  expect_error(ErrorKind::BadInput, "for 1 image(s)",
               [&] { tokenize_with_images(tok, "<m><m>", "<m>", one, 0, false); });
  EXPECT_NO_THROW(tokenize_with_images(tok, "no images", "<m>", {}, 0, false));
}

TEST(PixelHash, DiffersWithAnyPixelOrTheShape) {
  const image::Decoded a = picture(4, 6, 1);
  image::Decoded b = a;
  EXPECT_EQ(pixel_hash(a), pixel_hash(b));
  b.rgb[40] ^= 1;
  EXPECT_NE(pixel_hash(a), pixel_hash(b));
  image::Decoded turned = a;
  std::swap(turned.width, turned.height);
  EXPECT_NE(pixel_hash(a), pixel_hash(turned));
}

std::string tower(int32_t proj_dim) {
  const std::string path = test::temp_path("embed-mmproj-" + std::to_string(proj_dim) + ".gguf");
  ClipSynthOptions o;
  o.proj_dim = proj_dim;
  std::ostringstream log;
  synth_mmproj(o, path, log);
  return path;
}

TEST(ImageEmbedder, RowsAreTheEncodersOnTheClipPreprocessedImage) {
  HParams lm;
  lm.n_embd = 48;
  lm.n_vocab = 300;
  const std::string path = tower(48);
  ImageEmbedder e(path, lm, "cpu", 2);
  EXPECT_EQ(e.tokens_per_image(), 16);
  EXPECT_EQ(e.image_token(), 0);  // the synthetic tower names none
  const image::Decoded img = picture(61, 45, 3);
  const ImageRows r = e.embed(img);
  EXPECT_EQ(r.n_rows, 16);
  EXPECT_EQ(r.content_hash, pixel_hash(img));

  auto model = ClipModel::load(path);
  auto be = make_backend("cpu", 2);
  ClipEncoder enc(*model, *be, 2);
  const image::Pixels px = image::preprocess(img, image::clip_preprocess(56));
  EXPECT_EQ(*r.data, enc.embed(px.chw, px.width, px.height));
}

TEST(ImageEmbedder, RefusesATowerOfAnotherWidth) {
  HParams lm;
  lm.n_embd = 32;
  lm.n_vocab = 300;
  const std::string path = tower(48);
  expect_error(ErrorKind::BadInput, "language model's width is 32", [&] { ImageEmbedder(path, lm, "cpu", 1); });
}

}  // namespace
}  // namespace hayate::vision
