// The safetensors header is untrusted input (`hayate convert` on a downloaded directory). Each
// input is written to a file and opened; only hayate::Error may come out.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "convert/safetensors.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/dev/shm/hayate-fuzz-" + std::to_string(::getpid()) + ".safetensors";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    hayate::convert::SafetensorsFile file(path);
    size_t sum = 0;
    for (const auto& t : file.tensors())
      for (size_t i = 0; i < t.nbytes; i += 61) sum += t.data[i];
    if (sum == 0xdeadbeef) std::puts("");
  } catch (const hayate::Error&) {
  }
  return 0;
}
