#include "convert/safetensors.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "convert/json_file.h"
#include "core/error.h"

namespace hayate::convert {

namespace {

// Real headers are a few hundred KiB even for large models; anything near this is garbage.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

StDtype dtype_from_name(std::string_view name) {
  if (name == "F32") return StDtype::F32;
  if (name == "F16") return StDtype::F16;
  if (name == "BF16") return StDtype::BF16;
  return StDtype::Other;
}

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

StTensor parse_entry(const std::string& path, const std::string& name, const nlohmann::json& e,
                     const uint8_t* data, uint64_t data_size) {
  const std::string where = path + ": tensor '" + name + "'";
  if (!e.is_object()) fail(ErrorKind::BadInput, where + ": header entry is not an object");
  const auto dtype = e.find("dtype");
  const auto shape = e.find("shape");
  const auto offsets = e.find("data_offsets");
  if (dtype == e.end() || !dtype->is_string()) fail(ErrorKind::BadInput, where + ": no dtype string");
  if (shape == e.end() || !shape->is_array()) fail(ErrorKind::BadInput, where + ": no shape list");
  if (offsets == e.end() || !offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
      !(*offsets)[1].is_number_unsigned()) {
    fail(ErrorKind::BadInput, where + ": data_offsets must be two non-negative integers");
  }

  StTensor t;
  t.name = name;
  t.dtype_name = dtype->get<std::string>();
  t.dtype = dtype_from_name(t.dtype_name);
  const size_t elem = dtype_size(t.dtype_name);
  if (elem == 0) {
    fail(ErrorKind::Unsupported, where + " has dtype '" + t.dtype_name + "', which hayate does not know");
  }

  uint64_t count = 1;
  bool overflow = false;
  for (const auto& d : *shape) {
    if (!d.is_number_unsigned()) fail(ErrorKind::BadInput, where + ": shape holds " + d.dump() + ", not a size");
    const uint64_t n = d.get<uint64_t>();
    if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) overflow = true;
    t.shape.push_back(static_cast<int64_t>(n));
    if (n != 0 && count > std::numeric_limits<uint64_t>::max() / n) overflow = true;
    count *= n;
  }
  if (overflow || count > std::numeric_limits<uint64_t>::max() / elem) {
    fail(ErrorKind::BadInput, where + ": shape " + shape->dump() + " is too large");
  }

  const uint64_t begin = (*offsets)[0].get<uint64_t>();
  const uint64_t end = (*offsets)[1].get<uint64_t>();
  if (begin > end || end > data_size) {
    fail(ErrorKind::BadInput, where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                                  "] lie outside the data section of " + std::to_string(data_size) +
                                  " bytes (is the file truncated?)");
  }
  if (end - begin != count * elem) {
    fail(ErrorKind::BadInput, where + ": " + std::to_string(end - begin) + " bytes of data, but " + t.dtype_name +
                                  " " + t.shape_string() + " needs " + std::to_string(count * elem));
  }
  t.data = data + begin;
  t.nbytes = static_cast<size_t>(end - begin);
  return t;
}

}  // namespace

size_t dtype_size(std::string_view name) {
  static const std::pair<std::string_view, size_t> kSizes[] = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
      {"I8", 1},  {"U64", 8}, {"U32", 4}, {"U16", 2},  {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1},
      {"F8_E5M2", 1}, {"F8_E8M0", 1},
  };
  for (const auto& [n, size] : kSizes) {
    if (n == name) return size;
  }
  return 0;
}

int64_t StTensor::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string StTensor::shape_string() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  map_ = std::make_unique<MappedFile>(path);
  const uint8_t* bytes = map_->data();
  const uint64_t size = map_->size();
  if (size < 8) {
    fail(ErrorKind::BadInput, path + ": " + std::to_string(size) + " bytes is too short for a safetensors file");
  }
  const uint64_t header_len = read_le64(bytes);
  if (header_len > size - 8) {
    fail(ErrorKind::BadInput, path + ": header length " + std::to_string(header_len) + " runs past the end of the " +
                                  std::to_string(size) + "-byte file (truncated, or not a safetensors file)");
  }
  if (header_len > kMaxHeaderBytes) {
    fail(ErrorKind::BadInput, path + ": header length " + std::to_string(header_len) + " is implausibly large");
  }
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_len);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for huge numbers
    fail(ErrorKind::BadInput, path + ": header is not valid JSON: " + e.what());
  }
  if (!header.is_object()) fail(ErrorKind::BadInput, path + ": header is not a JSON object");

  const uint8_t* data = bytes + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    tensors_.push_back(parse_entry(path, name, entry, data, data_size));
  }
  // The header is a JSON object (unordered); file order is the order of the data.
  std::stable_sort(tensors_.begin(), tensors_.end(),
                   [](const StTensor& a, const StTensor& b) { return a.data < b.data; });
  for (StTensor& t : tensors_) t.file = &path_;
}

SafetensorsFile::~SafetensorsFile() = default;

SafetensorsModel::SafetensorsModel(const std::string& dir) {
  const std::string single = join_path(dir, "model.safetensors");
  const std::string index_path = join_path(dir, "model.safetensors.index.json");
  if (is_file(index_path)) {
    const nlohmann::json index = read_json_file(index_path);
    const auto map = index.find("weight_map");
    if (map == index.end() || !map->is_object()) fail(ErrorKind::BadInput, index_path + ": no weight_map object");
    std::set<std::string> shards;
    for (const auto& [name, file] : map->items()) {
      if (!file.is_string()) fail(ErrorKind::BadInput, index_path + ": weight_map['" + name + "'] is not a file name");
      const std::string f = file.get<std::string>();
      if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..") {
        fail(ErrorKind::BadInput, index_path + ": shard name '" + f + "' is not a file name in the directory");
      }
      shards.insert(f);
    }
    for (const std::string& f : shards) add_file(join_path(dir, f));
    for (const auto& [name, file] : map->items()) {
      const StTensor* t = find(name);
      if (!t || std::filesystem::path(*t->file).filename() != file.get<std::string>()) {
        fail(ErrorKind::BadInput, index_path + ": tensor '" + name + "' is not in " + file.get<std::string>());
      }
    }
  } else if (is_file(single)) {
    add_file(single);
  } else {
    std::vector<std::string> found;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.is_regular_file() && entry.path().extension() == ".safetensors") found.push_back(entry.path().string());
    }
    if (found.empty()) {
      fail(ErrorKind::NotFound, dir + ": no model.safetensors, model.safetensors.index.json or *.safetensors "
                                      "(PyTorch .bin checkpoints are not supported: save the model as safetensors)");
    }
    std::sort(found.begin(), found.end());
    for (const std::string& f : found) add_file(f);
  }
}

void SafetensorsModel::add_file(const std::string& path) {
  files_.push_back(std::make_unique<SafetensorsFile>(path));
  for (const StTensor& t : files_.back()->tensors()) {
    if (!by_name_.emplace(t.name, &t).second) {
      fail(ErrorKind::BadInput, path + ": tensor '" + t.name + "' also appears in " + *by_name_.at(t.name)->file);
    }
    order_.push_back(&t);
  }
}

const StTensor* SafetensorsModel::find(std::string_view name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

void release_pages(const StTensor& t) {
  if (t.nbytes == 0) return;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  // Dropped pages are read again from the page cache if touched, so this is only a hint; whole
  // pages inside the tensor keep a neighbour's first or last page warm.
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(t.data) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(t.data) + t.nbytes) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace hayate::convert
