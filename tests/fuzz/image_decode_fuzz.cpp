// libFuzzer target for image::decode, the wrapper around libjpeg-turbo, libpng, libwebp and
// giflib that every uploaded image goes through, and the preprocessing after it. Any input must
// end in an image or an Error(BadInput): no crash, no leak, no abort from a library's own error
// handler, bounded memory (the pixel limit) and time.
//
//   scripts/fuzz.sh image_decode_fuzz 600
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/error.h"
#include "image/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hayate;
  image::Limits limits;
  limits.max_pixels = 4'000'000;  // within libFuzzer's default 2 GB RSS with room to spare
  limits.max_seconds = 2;
  try {
    image::Decoded d = image::decode(std::span<const uint8_t>(data, size), limits);
    if (d.rgb.size() != static_cast<size_t>(d.width) * d.height * 3) __builtin_trap();
    if (!d.alpha.empty() && d.alpha.size() != static_cast<size_t>(d.width) * d.height) __builtin_trap();
    if (static_cast<int64_t>(d.width) * d.height <= 250'000) {
      image::Preprocess p = image::clip_preprocess(16);
      p.alpha = size % 2 ? image::Alpha::White : image::Alpha::Drop;
      const image::Pixels px = image::preprocess(d, p);
      if (px.chw.size() != 3u * 16 * 16) __builtin_trap();
    }
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::BadInput) __builtin_trap();
  }
  return 0;
}
