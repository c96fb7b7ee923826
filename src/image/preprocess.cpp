// The Hugging Face processors' steps in their order: (alpha) -> resize in 8 bits (PIL) -> crop
// in 8 bits (numpy) -> rescale -> normalise in float32, channel-first.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/error.h"
#include "image/image.h"

namespace hayate::image {
namespace {

// Python's // on ints: the floor, also for negatives.
int floor_div(int a, int b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
int ceil_div(int a, int b) { return -floor_div(-a, b); }

// HF's center_crop: the window centred with floor division; when the image is smaller, it is
// first centred on a zero canvas (ceil division) and the window cut from that.
Rgb8 center_crop(const Rgb8& in, int cw, int ch) {
  const int nh = std::max(ch, in.height), nw = std::max(cw, in.width);
  const int top_pad = ceil_div(nh - in.height, 2), left_pad = ceil_div(nw - in.width, 2);
  const int top = floor_div(in.height - ch, 2) + top_pad, left = floor_div(in.width - cw, 2) + left_pad;
  const int y0 = std::max(0, top), y1 = std::min(nh, top + ch), x0 = std::max(0, left), x1 = std::min(nw, left + cw);
  Rgb8 out{x1 - x0, y1 - y0, {}};
  out.data.assign(static_cast<size_t>(out.width) * out.height * 3, 0);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      const int sy = y - top_pad, sx = x - left_pad;
      if (sy < 0 || sy >= in.height || sx < 0 || sx >= in.width) continue;
      for (int c = 0; c < 3; ++c)
        out.data[(static_cast<size_t>(y - y0) * out.width + (x - x0)) * 3 + c] =
            in.data[(static_cast<size_t>(sy) * in.width + sx) * 3 + c];
    }
  return out;
}

// The seed's smart crop: the cw x ch window whose luma gradients (|dx| + |dy|) sum highest,
// from a summed-area table; ties go to the window nearest the centre.
Rgb8 smart_crop(const Rgb8& in, int cw, int ch) {
  if (cw >= in.width && ch >= in.height) return center_crop(in, cw, ch);
  // Narrower (or shorter) than the window: pad that side as center_crop does, then slide along
  // the other, so the output is always cw x ch.
  if (cw > in.width || ch > in.height)
    return smart_crop(center_crop(in, std::max(cw, in.width), std::max(ch, in.height)), cw, ch);
  const int w = in.width, h = in.height;
  auto luma = [&](int x, int y) {
    const uint8_t* p = &in.data[(static_cast<size_t>(y) * w + x) * 3];
    return (299 * p[0] + 587 * p[1] + 114 * p[2]) / 1000;
  };
  std::vector<int64_t> sat(static_cast<size_t>(w + 1) * (h + 1), 0);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int l = luma(x, y);
      const int e = (x + 1 < w ? std::abs(luma(x + 1, y) - l) : 0) + (y + 1 < h ? std::abs(luma(x, y + 1) - l) : 0);
      sat[(y + 1) * (w + 1) + x + 1] = e + sat[y * (w + 1) + x + 1] + sat[(y + 1) * (w + 1) + x] - sat[y * (w + 1) + x];
    }
  auto sum = [&](int x, int y) {
    return sat[(y + ch) * (w + 1) + x + cw] - sat[y * (w + 1) + x + cw] - sat[(y + ch) * (w + 1) + x] +
           sat[y * (w + 1) + x];
  };
  int best_x = (w - cw) / 2, best_y = (h - ch) / 2;
  int64_t best = sum(best_x, best_y);
  int64_t best_dist = 0;
  for (int y = 0; y + ch <= h; ++y)
    for (int x = 0; x + cw <= w; ++x) {
      const int64_t s = sum(x, y);
      const int64_t dist = std::abs(x - (w - cw) / 2) + std::abs(y - (h - ch) / 2);
      if (s > best || (s == best && dist < best_dist)) {
        best = s;
        best_dist = dist;
        best_x = x;
        best_y = y;
      }
    }
  Rgb8 out{cw, ch, std::vector<uint8_t>(static_cast<size_t>(cw) * ch * 3)};
  for (int y = 0; y < ch; ++y)
    std::copy_n(&in.data[(static_cast<size_t>(best_y + y) * w + best_x) * 3], static_cast<size_t>(cw) * 3,
                &out.data[static_cast<size_t>(y) * cw * 3]);
  return out;
}

Rgb8 resize_to(Rgb8 img, int width, int height, Resample r) {
  if (width == img.width && height == img.height) return img;
  return resize(img, width, height, r);
}

}  // namespace

std::array<int, 2> shortest_edge_size(int height, int width, int size) {
  const bool portrait = width <= height;
  const int shorter = portrait ? width : height, longer = portrait ? height : width;
  const int new_long = static_cast<int>(static_cast<double>(static_cast<int64_t>(size) * longer) / shorter);
  return portrait ? std::array<int, 2>{new_long, size} : std::array<int, 2>{size, new_long};
}

std::array<int, 2> smart_resize(int height, int width, int factor, int64_t min_pixels, int64_t max_pixels) {
  if (height < 10 || width < 10)
    fail(ErrorKind::BadInput, "image: " + std::to_string(width) + "x" + std::to_string(height) +
                                  " is too small for this model (each side must be at least 10 pixels)");
  if (static_cast<double>(std::max(height, width)) / std::min(height, width) > 200)
    fail(ErrorKind::BadInput, "image: " + std::to_string(width) + "x" + std::to_string(height) +
                                  " is too elongated for this model (the aspect ratio must be at most 200)");
  // Python's round() rounds halves to even, as nearbyint does in the default rounding mode.
  int64_t h = static_cast<int64_t>(std::nearbyint(static_cast<double>(height) / factor)) * factor;
  int64_t w = static_cast<int64_t>(std::nearbyint(static_cast<double>(width) / factor)) * factor;
  if (h * w > max_pixels) {
    const double beta = std::sqrt(static_cast<double>(height) * width / static_cast<double>(max_pixels));
    h = std::max<int64_t>(factor, static_cast<int64_t>(std::floor(height / beta / factor)) * factor);
    w = std::max<int64_t>(factor, static_cast<int64_t>(std::floor(width / beta / factor)) * factor);
  } else if (h * w < min_pixels) {
    const double beta = std::sqrt(static_cast<double>(min_pixels) / (static_cast<double>(height) * width));
    h = static_cast<int64_t>(std::ceil(height * beta / factor)) * factor;
    w = static_cast<int64_t>(std::ceil(width * beta / factor)) * factor;
  }
  return {static_cast<int>(h), static_cast<int>(w)};
}

Preprocess clip_preprocess(int size) {
  Preprocess p;
  p.mode = ResizeMode::ShortestEdge;
  p.size = size;
  p.crop_width = p.crop_height = size;
  return p;
}

Preprocess qwen2vl_preprocess(int64_t min_pixels, int64_t max_pixels) {
  Preprocess p;
  p.mode = ResizeMode::SmartResize;
  p.factor = 28;
  p.min_pixels = min_pixels;
  p.max_pixels = max_pixels;
  return p;
}

Pixels preprocess(const Decoded& image, const Preprocess& o) {
  if (image.width <= 0 || image.height <= 0 || image.rgb.size() != static_cast<size_t>(image.width) * image.height * 3)
    fail(ErrorKind::BadInput, "image: preprocess needs a decoded RGB image");
  Rgb8 img{image.width, image.height, image.rgb};
  if (o.alpha == Alpha::White && !image.alpha.empty()) {
    Decoded d{image.width, image.height, image.rgb, image.alpha, image.format, image.exif_orientation};
    apply_alpha(d, Alpha::White);
    img.data = std::move(d.rgb);
  }
  if (o.max_side > 0 && std::max(img.width, img.height) > o.max_side) {
    const double s = static_cast<double>(o.max_side) / std::max(img.width, img.height);
    const int w = std::max(1, static_cast<int>(std::lround(img.width * s)));
    const int h = std::max(1, static_cast<int>(std::lround(img.height * s)));
    img = resize_to(std::move(img), w, h, o.resample);
  }
  switch (o.mode) {
    case ResizeMode::None:
      break;
    case ResizeMode::ShortestEdge: {
      if (o.size <= 0) fail(ErrorKind::BadInput, "image: the shortest-edge size must be positive");
      const auto [h, w] = shortest_edge_size(img.height, img.width, o.size);
      img = resize_to(std::move(img), w, h, o.resample);
      break;
    }
    case ResizeMode::SmartResize: {
      const auto [h, w] = smart_resize(img.height, img.width, o.factor, o.min_pixels, o.max_pixels);
      img = resize_to(std::move(img), w, h, o.resample);
      break;
    }
    case ResizeMode::Exact:
      if (o.width <= 0 || o.height <= 0) fail(ErrorKind::BadInput, "image: the exact size must be positive");
      img = resize_to(std::move(img), o.width, o.height, o.resample);
      break;
  }
  if (o.crop_width > 0 && o.crop_height > 0)
    img = o.smart_crop ? smart_crop(img, o.crop_width, o.crop_height) : center_crop(img, o.crop_width, o.crop_height);

  Pixels out{img.width, img.height, std::vector<float>(static_cast<size_t>(img.width) * img.height * 3)};
  const size_t plane = static_cast<size_t>(img.width) * img.height;
  for (int c = 0; c < 3; ++c) {
    // As numpy: the rescale in float64 then stored as float32, the normalise in float32.
    const double scale = o.rescale;
    const float mean = o.mean[c], sd = o.std[c];
    float* dst = out.chw.data() + c * plane;
    for (size_t i = 0; i < plane; ++i) {
      const auto v = static_cast<float>(img.data[i * 3 + c] * scale);
      dst[i] = (v - mean) / sd;
    }
  }
  return out;
}

}  // namespace hayate::image
