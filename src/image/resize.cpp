// Pillow's resampling (libImaging/Resample.c, read to learn the maths; written anew here):
// each output pixel is a weighted sum of the input pixels under a filter stretched by the scale
// when shrinking (antialiasing), horizontal pass first, then vertical. Pillow rounds each pass
// to 8 bits with 22-bit fixed-point weights; doing the same gives bit-identical bytes, which is
// what lets the normalised tensor match Hugging Face's within 1e-5.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "image/image.h"

namespace hayate::image {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}
double bilinear(double x) {
  x = std::fabs(x);
  return x < 1 ? 1 - x : 0;
}
double box(double x) { return x > -0.5 && x <= 0.5 ? 1 : 0; }

struct Filter {
  double (*fn)(double);
  double support;
};
Filter filter_of(Resample r) {
  switch (r) {
    case Resample::Bicubic:
      return {bicubic, 2.0};
    case Resample::Bilinear:
      return {bilinear, 1.0};
    case Resample::Area:
      return {box, 0.5};
  }
  return {bicubic, 2.0};
}

// For each output index: the first input index, the count, and `ksize` fixed-point weights.
struct Coeffs {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;
};

Coeffs coefficients(int in_size, int out_size, Filter f) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = f.support * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    // Truncation toward zero, as C's (int) cast; negatives clamp to 0 right after anyway.
    const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    const int xmax = std::min(static_cast<int>(center + support + 0.5), in_size) - xmin;
    double total = 0;
    for (int x = 0; x < xmax; ++x) {
      w[x] = f.fn((x + xmin - center + 0.5) * ss);
      total += w[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double k = total != 0 ? w[x] / total : w[x];
      const double fixed = k * (1 << kPrecisionBits);
      c.weights[static_cast<size_t>(xx) * c.ksize + x] = static_cast<int32_t>(k < 0 ? fixed - 0.5 : fixed + 0.5);
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

uint8_t clip8(int32_t v) { return static_cast<uint8_t>(std::clamp(v >> kPrecisionBits, 0, 255)); }

// One pass along x (stride 3 between neighbours) or y (stride 3 * width).
Rgb8 horizontal(const Rgb8& in, int out_w, const Coeffs& c) {
  Rgb8 out{out_w, in.height, std::vector<uint8_t>(static_cast<size_t>(out_w) * in.height * 3)};
  for (int y = 0; y < in.height; ++y) {
    const uint8_t* row = in.data.data() + static_cast<size_t>(y) * in.width * 3;
    uint8_t* dst = out.data.data() + static_cast<size_t>(y) * out_w * 3;
    for (int xx = 0; xx < out_w; ++xx) {
      const int32_t* k = c.weights.data() + static_cast<size_t>(xx) * c.ksize;
      const uint8_t* src = row + static_cast<size_t>(c.first[xx]) * 3;
      int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int x = 0; x < c.count[xx]; ++x) {
        s0 += src[x * 3] * k[x];
        s1 += src[x * 3 + 1] * k[x];
        s2 += src[x * 3 + 2] * k[x];
      }
      dst[xx * 3] = clip8(s0);
      dst[xx * 3 + 1] = clip8(s1);
      dst[xx * 3 + 2] = clip8(s2);
    }
  }
  return out;
}

Rgb8 vertical(const Rgb8& in, int out_h, const Coeffs& c) {
  const size_t stride = static_cast<size_t>(in.width) * 3;
  Rgb8 out{in.width, out_h, std::vector<uint8_t>(stride * out_h)};
  std::vector<int32_t> sums(stride);
  for (int yy = 0; yy < out_h; ++yy) {
    const int32_t* k = c.weights.data() + static_cast<size_t>(yy) * c.ksize;
    std::fill(sums.begin(), sums.end(), 1 << (kPrecisionBits - 1));
    // Row by row, so the inner loop runs along memory.
    for (int y = 0; y < c.count[yy]; ++y) {
      const uint8_t* src = in.data.data() + (static_cast<size_t>(c.first[yy]) + y) * stride;
      const int32_t w = k[y];
      for (size_t i = 0; i < stride; ++i) sums[i] += src[i] * w;
    }
    uint8_t* dst = out.data.data() + static_cast<size_t>(yy) * stride;
    for (size_t i = 0; i < stride; ++i) dst[i] = clip8(sums[i]);
  }
  return out;
}

}  // namespace

Rgb8 resize(const Rgb8& in, int width, int height, Resample filter) {
  if (width <= 0 || height <= 0 || in.width <= 0 || in.height <= 0)
    fail(ErrorKind::BadInput, "image: cannot resize " + std::to_string(in.width) + "x" + std::to_string(in.height) +
                                  " to " + std::to_string(width) + "x" + std::to_string(height));
  const Filter f = filter_of(filter);
  Rgb8 cur = in;
  if (width != in.width) {
    // Pillow runs the horizontal pass over the rows the vertical pass reads only; every output
    // row of that pass depends on its own input row alone, so all rows give the same bytes.
    cur = horizontal(cur, width, coefficients(in.width, width, f));
  }
  if (height != in.height) cur = vertical(cur, height, coefficients(in.height, height, f));
  return cur;
}

}  // namespace hayate::image
