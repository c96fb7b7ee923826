// WebP through libwebp's one-call decoder, still images only. libwebp cannot be interrupted, so
// its time is bounded by the pixel limit checked from the header first.
#include <webp/decode.h>

#include <string>

#include "image/decoders.h"

namespace hayate::image::detail {

Decoded decode_webp(std::span<const uint8_t> bytes, const Budget& budget) {
  WebPBitstreamFeatures features;
  const VP8StatusCode status = WebPGetFeatures(bytes.data(), bytes.size(), &features);
  if (status == VP8_STATUS_NOT_ENOUGH_DATA) fail_bad("WebP", "the file is truncated (it ends inside the header)");
  if (status != VP8_STATUS_OK)
    fail_bad("WebP", "the header is invalid (libwebp status " + std::to_string(status) + ")");
  if (features.has_animation)
    fail_bad("WebP", "it is animated; send a still image (or a GIF, whose first frame is used)");
  check_size("WebP", features.width, features.height, budget.limits);
  Decoded out;
  out.format = Format::Webp;
  out.width = features.width;
  out.height = features.height;
  const size_t n = static_cast<size_t>(out.width) * out.height;
  std::vector<uint8_t> rgba(n * 4);
  if (!WebPDecodeRGBAInto(bytes.data(), bytes.size(), rgba.data(), rgba.size(), out.width * 4))
    fail_bad("WebP", "the image data is truncated or corrupt");
  if (budget.expired()) fail_deadline("WebP", budget.limits);
  out.rgb.resize(n * 3);
  if (features.has_alpha) out.alpha.resize(n);
  for (size_t i = 0; i < n; ++i) {
    for (int c = 0; c < 3; ++c) out.rgb[i * 3 + c] = rgba[i * 4 + c];
    if (features.has_alpha) out.alpha[i] = rgba[i * 4 + 3];
  }
  return out;
}

}  // namespace hayate::image::detail
