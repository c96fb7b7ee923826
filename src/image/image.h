// Images in: untrusted bytes -> RGB8 pixels (decode) -> the float tensor a vision encoder reads
// (preprocess). The layer below vision/ and the API; it knows nothing of models.
//
//   image::Decoded d = image::decode(bytes, limits, "image/png");   // Error(BadInput) when bad
//   image::Pixels p = image::preprocess(d, image::clip_preprocess(336));
//
// decode sniffs the format from the bytes (JPEG, PNG, WebP, GIF's first frame), never trusts a
// declared MIME type (one that disagrees is an error), checks the size from the header before
// allocating, applies JPEG EXIF orientation, and gives RGB with the alpha channel, if any, apart.
// preprocess reproduces the Hugging Face image processors (PIL's resampling in 8 bits, then
// rescale and normalise in float); docs/vision.md has the maths.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hayate::image {

enum class Format { Jpeg, Png, Webp, Gif };
const char* format_name(Format f);  // "JPEG"
const char* format_mime(Format f);  // "image/jpeg"

struct Limits {
  int64_t max_bytes = 20ll << 20;   // encoded size
  int64_t max_pixels = 40'000'000;  // width x height, checked from the header
  double max_seconds = 5;           // decode time; past it the decode stops with an error
};

// RGB8, row-major, interleaved (r g b r g b ...). alpha: one byte per pixel, or empty when the
// image has no alpha channel.
struct Decoded {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
  std::vector<uint8_t> alpha;
  Format format = Format::Png;
  int exif_orientation = 1;  // JPEG: the EXIF orientation that was applied (1: none)
};

// The format of `bytes` from their signature, or Error(BadInput) naming what they look like.
Format sniff(std::span<const uint8_t> bytes);

// Throws Error(BadInput) with a message for empty, oversized, truncated, corrupt, non-image and
// too-large (pixels) input, a MIME type that disagrees with the bytes, and a decode that runs past
// limits.max_seconds. declared_mime: "" when none was given; "image/jpg" is taken for JPEG.
Decoded decode(std::span<const uint8_t> bytes, const Limits& limits, std::string_view declared_mime = "");

// What happens to an alpha channel: dropped (PIL's convert("RGB"), which CLIP's and Qwen2-VL's
// processors use), or composited on white (Idefics2's and Mllama's convert_to_rgb).
enum class Alpha { Drop, White };
void apply_alpha(Decoded& d, Alpha mode);

// A 3 x H x W float tensor, channel-major then row-major: chw[(c * height + y) * width + x].
struct Pixels {
  int width = 0, height = 0;
  std::vector<float> chw;
};

// PIL's filters (Resample.c): bicubic with a = -0.5, bilinear (triangle), and area (box: each
// output pixel the mean of the input pixels it covers when shrinking).
enum class Resample { Bicubic, Bilinear, Area };

enum class ResizeMode {
  None,          // keep the size
  ShortestEdge,  // CLIP: the shortest edge becomes `size`, the other keeps the aspect ratio
  SmartResize,   // Qwen2-VL: both sides multiples of `factor`, area within [min_pixels, max_pixels]
  Exact,         // exactly width x height (the aspect ratio is not kept)
};

struct Preprocess {
  int max_side = 0;  // first, if > 0: the longest side at most this, aspect kept (the seed's 1,024)
  ResizeMode mode = ResizeMode::ShortestEdge;
  int size = 336;                       // ShortestEdge
  int width = 0, height = 0;            // Exact
  int factor = 28;                      // SmartResize
  int64_t min_pixels = 56 * 56;         // SmartResize
  int64_t max_pixels = 28 * 28 * 1280;  // SmartResize
  Resample resample = Resample::Bicubic;
  // After the resize, if > 0: a crop_width x crop_height window, centred (HF's center_crop, with
  // zero padding when the image is smaller) or, with smart_crop, the window of most edge energy.
  int crop_width = 0, crop_height = 0;
  bool smart_crop = false;
  Alpha alpha = Alpha::Drop;
  double rescale = 1.0 / 255.0;                                     // a double, as Python's 1/255
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};  // OpenAI CLIP's
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};
};

// CLIPImageProcessor: shortest edge `size` (bicubic), center crop size x size, CLIP mean/std.
Preprocess clip_preprocess(int size = 336);
// Qwen2VLImageProcessor: smart_resize with factor patch x merge (28), bicubic, CLIP mean/std.
Preprocess qwen2vl_preprocess(int64_t min_pixels = 56 * 56, int64_t max_pixels = 28 * 28 * 1280);

// Error(BadInput) for an image the mode cannot take (Qwen2-VL: a side under 10 pixels or an
// aspect ratio over 200).
Pixels preprocess(const Decoded& image, const Preprocess& options);

// The error for images sent to a model without a vision encoder: BadInput, "model 'NAME' does not
// accept images". The server and the CLI say the same.
[[noreturn]] void fail_text_only(std::string_view model);

// The building blocks, exposed for tests and the benchmark.
struct Rgb8 {
  int width = 0, height = 0;
  std::vector<uint8_t> data;  // interleaved RGB
};
// PIL's Image.resize for an 8-bit RGB image: separable convolution, horizontal pass first, each
// pass rounded and clipped to 8 bits with 22-bit fixed-point weights, as Pillow does.
Rgb8 resize(const Rgb8& in, int width, int height, Resample filter);
// Qwen2-VL's smart_resize: {height, width}.
std::array<int, 2> smart_resize(int height, int width, int factor, int64_t min_pixels, int64_t max_pixels);
// CLIP's get_resize_output_image_size with default_to_square=False: {height, width}.
std::array<int, 2> shortest_edge_size(int height, int width, int size);

}  // namespace hayate::image
