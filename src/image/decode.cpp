#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "image/decoders.h"

namespace hayate::image {

const char* format_name(Format f) {
  switch (f) {
    case Format::Jpeg:
      return "JPEG";
    case Format::Png:
      return "PNG";
    case Format::Webp:
      return "WebP";
    case Format::Gif:
      return "GIF";
  }
  return "?";
}

const char* format_mime(Format f) {
  switch (f) {
    case Format::Jpeg:
      return "image/jpeg";
    case Format::Png:
      return "image/png";
    case Format::Webp:
      return "image/webp";
    case Format::Gif:
      return "image/gif";
  }
  return "?";
}

namespace {

bool starts_with(std::span<const uint8_t> b, size_t at, const char* sig, size_t n) {
  return b.size() >= at + n && std::memcmp(b.data() + at, sig, n) == 0;
}

// A few common non-image payloads, so the error says what was sent instead.
std::string looks_like(std::span<const uint8_t> b) {
  if (starts_with(b, 0, "%PDF", 4)) return "a PDF document";
  if (starts_with(b, 0, "BM", 2)) return "a BMP image, which is not supported";
  if (starts_with(b, 0, "II*\0", 4) || starts_with(b, 0, "MM\0*", 4)) return "a TIFF image, which is not supported";
  if (starts_with(b, 4, "ftyp", 4)) return "an ISO media file (HEIC/AVIF/MP4), which is not supported";
  if (starts_with(b, 0, "PK\3\4", 4)) return "a ZIP archive";
  size_t printable = 0, n = std::min<size_t>(b.size(), 64);
  for (size_t i = 0; i < n; ++i)
    printable += (b[i] >= 0x20 && b[i] < 0x7f) || b[i] == '\n' || b[i] == '\r' || b[i] == '\t';
  if (n > 0 && printable == n) return "text";
  return "unknown bytes";
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

}  // namespace

Format sniff(std::span<const uint8_t> b) {
  if (b.empty()) fail(ErrorKind::BadInput, "image: the image is empty (0 bytes)");
  if (starts_with(b, 0, "\xff\xd8\xff", 3)) return Format::Jpeg;
  if (starts_with(b, 0, "\x89PNG\r\n\x1a\n", 8)) return Format::Png;
  if (starts_with(b, 0, "RIFF", 4) && starts_with(b, 8, "WEBP", 4)) return Format::Webp;
  if (starts_with(b, 0, "GIF87a", 6) || starts_with(b, 0, "GIF89a", 6)) return Format::Gif;
  fail(ErrorKind::BadInput, "image: the data is not a JPEG, PNG, WebP or GIF image (it looks like " + looks_like(b) +
                                ", " + std::to_string(b.size()) + " bytes)");
}

Decoded decode(std::span<const uint8_t> bytes, const Limits& limits, std::string_view declared_mime) {
  if (static_cast<int64_t>(bytes.size()) > limits.max_bytes)
    fail(ErrorKind::BadInput, "image: " + std::to_string(bytes.size()) + " bytes is over the limit of " +
                                  std::to_string(limits.max_bytes) + " bytes (image_max_bytes)");
  const Format f = sniff(bytes);
  if (!declared_mime.empty()) {
    std::string m = lower(declared_mime);
    if (m == "image/jpg" || m == "image/pjpeg") m = "image/jpeg";
    if (m != format_mime(f))
      fail(ErrorKind::BadInput, "image: declared as '" + std::string(declared_mime) + "' but the bytes are a " +
                                    format_name(f) + " image (" + format_mime(f) + ")");
  }
  const detail::Budget budget{
      limits, std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                     std::chrono::duration<double>(limits.max_seconds))};
  switch (f) {
    case Format::Jpeg:
      return detail::decode_jpeg(bytes, budget);
    case Format::Png:
      return detail::decode_png(bytes, budget);
    case Format::Webp:
      return detail::decode_webp(bytes, budget);
    case Format::Gif:
      return detail::decode_gif(bytes, budget);
  }
  fail(ErrorKind::Internal, "image: unknown format");
}

void apply_alpha(Decoded& d, Alpha mode) {
  if (d.alpha.empty()) return;
  if (mode == Alpha::White) {
    // PIL's alpha_composite over opaque white: c * a + 255 * (1 - a), rounded.
    for (size_t i = 0; i < d.alpha.size(); ++i) {
      const int a = d.alpha[i];
      for (int c = 0; c < 3; ++c) {
        uint8_t& v = d.rgb[i * 3 + c];
        v = static_cast<uint8_t>((v * a + 255 * (255 - a) + 127) / 255);
      }
    }
  }
  d.alpha.clear();
  d.alpha.shrink_to_fit();
}

void fail_text_only(std::string_view model) {
  fail(ErrorKind::BadInput, "model '" + std::string(model) +
                                "' does not accept images (it has no vision encoder); send text only, or serve a "
                                "vision-language model");
}

namespace detail {

void check_size(const char* format, int64_t width, int64_t height, const Limits& limits) {
  if (width <= 0 || height <= 0)
    fail(ErrorKind::BadInput, std::string("image: the ") + format + " header gives a size of " + std::to_string(width) +
                                  "x" + std::to_string(height) + " pixels; an image needs at least 1x1");
  if (width * height > limits.max_pixels)
    fail(ErrorKind::BadInput, std::string("image: the ") + format + " image is " + std::to_string(width) + "x" +
                                  std::to_string(height) + " pixels, over the limit of " +
                                  std::to_string(limits.max_pixels) + " pixels (image_max_pixels)");
}

void fail_bad(const char* format, const std::string& what) {
  fail(ErrorKind::BadInput, std::string("image: cannot decode the ") + format + " image: " + what);
}

void fail_deadline(const char* format, const Limits& limits) {
  fail(ErrorKind::BadInput, std::string("image: decoding the ") + format + " image took longer than " +
                                std::to_string(limits.max_seconds) + " s (image_max_decode_seconds)");
}

}  // namespace detail
}  // namespace hayate::image
