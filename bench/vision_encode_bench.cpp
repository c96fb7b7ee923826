// Encode time per image of a CLIP ViT + LLaVA projector with random weights (the shape decides
// the time, not the values). Default: CLIP ViT-L/14 at 336 px (LLaVA-1.5's tower: 1024 wide, 24
// layers, 16 heads, 577 positions, features of layer 23) with the projector to 4096 (a 7B LM),
// F16 matrices as mmproj files ship them.
//   vision_encode_bench [--backend cpu|reference|cuda] [--threads N] [--runs N] [--type f16|f32]
//                       [--tiny] [--dir DIR]
// Prints one line per run and the median; the mmproj file is written to DIR (default /tmp) once.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "vision/clip.h"
#include "vision/encoder.h"
#include "vision/synth.h"

int main(int argc, char** argv) {
  using namespace hayate;
  std::string backend = "cpu", type = "f16", dir = "/tmp";
  int threads = 0, runs = 3;
  bool tiny = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--backend")
      backend = value();
    else if (a == "--threads")
      threads = std::stoi(value());
    else if (a == "--runs")
      runs = std::stoi(value());
    else if (a == "--type")
      type = value();
    else if (a == "--dir")
      dir = value();
    else if (a == "--tiny")
      tiny = true;
    else {
      std::fprintf(stderr, "unknown argument %s (see the comment at the top of vision_encode_bench.cpp)\n", a.c_str());
      return 2;
    }
  }
  try {
    vision::ClipSynthOptions o;
    if (!tiny) {
      o.image_size = 336;
      o.patch_size = 14;
      o.n_embd = 1024;
      o.n_ff = 4096;
      o.n_layer = 24;
      o.n_head = 16;
      o.proj_dim = 4096;
    }
    o.type = type;
    const std::string path = (std::filesystem::path(dir) /
                              ("vision-bench-" + std::string(tiny ? "tiny" : "vit-l14-336") + "-" + type + ".gguf"))
                                 .string();
    if (!std::filesystem::exists(path)) vision::synth_mmproj(o, path, std::cerr);
    auto model = vision::ClipModel::load(path);
    std::unique_ptr<Backend> be = backend == "cuda" ? make_cuda_backend({}) : make_backend(backend, threads);
    vision::ClipEncoder enc(*model, *be, threads);
    const int side = model->hp.image_size;
    std::vector<float> pixels(static_cast<size_t>(3 * side * side));
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<float>(i % 97) / 48.0f - 1.0f;
    std::vector<double> ms;
    for (int r = 0; r < runs; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      const std::vector<float> rows = enc.embed(pixels, side, side);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      std::printf("run %d: %.1f ms (%zu rows of %d)\n", r + 1, ms.back(), rows.size() / model->hp.proj_dim,
                  model->hp.proj_dim);
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%s, %s, %s backend%s: median %.1f ms per image over %d runs\n", tiny ? "tiny tower" : "ViT-L/14 336",
                type.c_str(), backend.c_str(),
                be->device_name().empty() ? "" : (" (" + be->device_name() + ")").c_str(), ms[ms.size() / 2], runs);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vision_encode_bench: %s\n", e.what());
    return 1;
  }
}
