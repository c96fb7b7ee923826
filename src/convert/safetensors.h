// safetensors files: an 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and byte range, then the raw data. The reader maps the file and validates every
// range against the file before any byte is used; tensors are views into the mapping.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/mapped_file.h"

namespace hayate::convert {

enum class StDtype { F32, F16, BF16, Other };

struct StTensor {
  std::string name;
  std::string dtype_name;      // as the header spells it: "BF16", "I64", ...
  StDtype dtype = StDtype::Other;
  std::vector<int64_t> shape;  // PyTorch order: shape[0] is the outermost dimension
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  const std::string* file = nullptr;  // the path, for messages

  int64_t n_elements() const;
  std::string shape_string() const;  // "[2048, 512]"
};

class SafetensorsFile {
 public:
  // Throws Error(BadInput) for anything malformed (truncated file, ranges past the end, sizes
  // that disagree with dtype x shape) and Error(Unsupported) for a dtype it does not know.
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<StTensor>& tensors() const { return tensors_; }

 private:
  std::string path_;
  std::unique_ptr<MappedFile> map_;
  std::vector<StTensor> tensors_;
};

// Every tensor of a model directory: model.safetensors; or the shards that
// model.safetensors.index.json lists; or, with neither, every *.safetensors file in it.
class SafetensorsModel {
 public:
  explicit SafetensorsModel(const std::string& dir);

  const StTensor* find(std::string_view name) const;
  const std::vector<const StTensor*>& tensors() const { return order_; }  // file order
  size_t file_count() const { return files_.size(); }

 private:
  void add_file(const std::string& path);

  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<const StTensor*> order_;
  std::unordered_map<std::string_view, const StTensor*> by_name_;
};

// Tells the kernel this process is done with the tensor's pages, so converting a model larger
// than memory does not keep every page it has read resident.
void release_pages(const StTensor& t);

// The dtype names this reader checks sizes for; only F32, F16 and BF16 can be converted.
size_t dtype_size(std::string_view dtype_name);  // 0 = unknown

// Writes a safetensors file (tests and fixture tools). `data` must hold exactly
// product(shape) x dtype_size(dtype) bytes.
struct StTensorToWrite {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};
void write_safetensors(const std::string& path, const std::vector<StTensorToWrite>& tensors);

}  // namespace hayate::convert
