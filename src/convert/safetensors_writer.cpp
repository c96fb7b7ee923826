#include <fstream>

#include <nlohmann/json.hpp>

#include "convert/safetensors.h"
#include "core/error.h"

namespace hayate::convert {

void write_safetensors(const std::string& path, const std::vector<StTensorToWrite>& tensors) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  uint64_t offset = 0;
  for (const StTensorToWrite& t : tensors) {
    uint64_t count = 1;
    for (int64_t d : t.shape) count *= static_cast<uint64_t>(d);
    const size_t elem = dtype_size(t.dtype);
    if (elem == 0 || count * elem != t.data.size()) {
      fail(ErrorKind::Internal, path + ": tensor '" + t.name + "' has " + std::to_string(t.data.size()) +
                                    " bytes, which do not match its dtype and shape");
    }
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned, as the format advises

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail(ErrorKind::BadInput, path + ": cannot create");
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const StTensorToWrite& t : tensors) {
    out.write(reinterpret_cast<const char*>(t.data.data()), static_cast<std::streamsize>(t.data.size()));
  }
  out.flush();
  if (!out) fail(ErrorKind::BadInput, path + ": write failed");
}

}  // namespace hayate::convert
