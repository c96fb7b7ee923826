// Decode + preprocess time per image (issue 19's image pipeline, against the seed's 200 ms-1 s per
// image for the whole vision step): p50/p90 over repeated runs of one JPEG (default: the 1024 x 768
// test photo) through decode alone, CLIP 336 x 336, Qwen2-VL's dynamic size, and the seed's
// max-side 1,024 + smart crop. Usage: image_preprocess_bench [FILE.jpg] [runs=30]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "image/image.h"

namespace {

using namespace hayate;

void measure(const char* label, int runs, const std::function<std::string()>& fn) {
  std::vector<double> ms;
  std::string shape;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    shape = fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[static_cast<size_t>(q * static_cast<double>(ms.size() - 1))]; };
  std::printf("%-34s %-14s p50 %7.2f ms  p90 %7.2f ms  (%d runs)\n", label, shape.c_str(), at(0.5), at(0.9), runs);
}

std::string dims(const image::Pixels& p) { return std::to_string(p.width) + "x" + std::to_string(p.height); }

}  // namespace

int main(int argc, char** argv) {
  const std::string path =
      argc > 1 ? argv[1] : std::string(HAYATE_SOURCE_DIR) + "/tests/data/images/photo_1024x768.jpg";
  const int runs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 30;
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "image_preprocess_bench: cannot open %s\n", path.c_str());
    return 1;
  }
  const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  const image::Decoded d = image::decode(bytes, {});
  std::printf("%s: %dx%d %s, %zu bytes, one thread\n", path.c_str(), d.width, d.height, image::format_name(d.format),
              bytes.size());
  measure("decode", runs, [&] {
    const image::Decoded x = image::decode(bytes, {});
    return std::to_string(x.width) + "x" + std::to_string(x.height);
  });
  measure("decode + CLIP 336", runs,
          [&] { return dims(image::preprocess(image::decode(bytes, {}), image::clip_preprocess(336))); });
  measure("decode + Qwen2-VL dynamic", runs,
          [&] { return dims(image::preprocess(image::decode(bytes, {}), image::qwen2vl_preprocess())); });
  image::Preprocess seed = image::clip_preprocess(336);
  seed.max_side = 1024;
  seed.smart_crop = true;
  measure("decode + max side 1024 + smart crop", runs,
          [&] { return dims(image::preprocess(image::decode(bytes, {}), seed)); });
  return 0;
}
