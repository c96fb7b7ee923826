// EXIF orientation, read from the APP1 block by hand (a TIFF header and IFD0 are all it takes)
// and applied as PIL's ImageOps.exif_transpose does, which is what Hugging Face's load_image
// calls before any processor sees the image.
#include <utility>

#include "image/decoders.h"

namespace hayate::image::detail {

int exif_orientation(std::span<const uint8_t> app1) {
  static constexpr uint8_t kExif[] = {'E', 'x', 'i', 'f', 0, 0};
  if (app1.size() < 6 + 8 || !std::equal(kExif, kExif + 6, app1.begin())) return 1;
  const std::span<const uint8_t> tiff = app1.subspan(6);
  bool little;
  if (tiff[0] == 'I' && tiff[1] == 'I')
    little = true;
  else if (tiff[0] == 'M' && tiff[1] == 'M')
    little = false;
  else
    return 1;
  auto u16 = [&](size_t at) -> uint32_t {
    return little ? tiff[at] | tiff[at + 1] << 8 : tiff[at] << 8 | tiff[at + 1];
  };
  auto u32 = [&](size_t at) -> uint32_t { return little ? u16(at) | u16(at + 2) << 16 : u16(at) << 16 | u16(at + 2); };
  if (u16(2) != 42) return 1;
  const size_t ifd = u32(4);
  if (ifd > tiff.size() || tiff.size() - ifd < 2) return 1;
  const size_t entries = u16(ifd);
  for (size_t i = 0; i < entries; ++i) {
    const size_t e = ifd + 2 + i * 12;
    if (e + 12 > tiff.size()) return 1;
    if (u16(e) != 0x0112) continue;  // Orientation, a SHORT whose value sits in the entry
    if (u16(e + 2) != 3 || u32(e + 4) < 1) return 1;
    const uint32_t v = u16(e + 8);
    return v >= 1 && v <= 8 ? static_cast<int>(v) : 1;
  }
  return 1;
}

void orient(Decoded& d, int orientation) {
  if (orientation <= 1 || orientation > 8) return;
  const int w = d.width, h = d.height;
  const bool swap = orientation >= 5;  // 5-8 turn the image a quarter
  const int ow = swap ? h : w, oh = swap ? w : h;
  // For each output pixel, the source pixel: (x, y) in the output -> (sx, sy) in the input.
  auto source = [&](int x, int y) -> std::pair<int, int> {
    switch (orientation) {
      case 2:
        return {w - 1 - x, y};  // mirror left-right
      case 3:
        return {w - 1 - x, h - 1 - y};  // 180
      case 4:
        return {x, h - 1 - y};  // mirror top-bottom
      case 5:
        return {y, x};  // transpose
      case 6:
        return {y, h - 1 - x};  // the camera turned right: turn 90 clockwise
      case 7:
        return {w - 1 - y, h - 1 - x};  // transverse
      default:
        return {w - 1 - y, x};  // 8: turn 90 counter-clockwise
    }
  };
  std::vector<uint8_t> rgb(d.rgb.size());
  std::vector<uint8_t> alpha(d.alpha.size());
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x) {
      const auto [sx, sy] = source(x, y);
      const size_t from = static_cast<size_t>(sy) * w + sx, to = static_cast<size_t>(y) * ow + x;
      for (int c = 0; c < 3; ++c) rgb[to * 3 + c] = d.rgb[from * 3 + c];
      if (!alpha.empty()) alpha[to] = d.alpha[from];
    }
  d.rgb = std::move(rgb);
  d.alpha = std::move(alpha);
  d.width = ow;
  d.height = oh;
}

}  // namespace hayate::image::detail
