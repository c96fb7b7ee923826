// Shared by the image tests: files of tests/data/images/ and PIL's expectations beside them.
#pragma once

#include <cstdint>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hayate::image::testing {

inline std::string images_dir() { return std::string(HAYATE_TESTDATA) + "/images/"; }

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

inline std::vector<uint8_t> image_file(const std::string& name) { return read_bytes(images_dir() + name); }

// tools/vision/make_test_images.py's manifest: per image, PIL's size and resizes.
inline nlohmann::json expected_manifest() {
  std::ifstream f(images_dir() + "expected/manifest.json");
  return nlohmann::json::parse(f);
}

}  // namespace hayate::image::testing
