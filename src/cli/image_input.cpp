#include "cli/image_input.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.h"

namespace hayate::cli {

std::string model_name(const ModelOptions& m) {
  const std::string path = m.path.empty() ? default_model_path() : m.path;
  const std::string prefix = "embedded:";
  return path.rfind(prefix, 0) == 0 ? path.substr(prefix.size()) : std::filesystem::path(path).stem().string();
}

image::Decoded read_image(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(ErrorKind::NotFound, path + ": cannot open the image");
  const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  try {
    return image::decode(bytes, image::Limits{});
  } catch (const Error& e) {
    fail(e.kind(), path + ": " + e.what());
  }
}

void fail_image_without_mmproj(const std::string& path, const ModelOptions& m) {
  read_image(path);
  image::fail_text_only(model_name(m));
}

}  // namespace hayate::cli
