// libFuzzer target for the GGUF reader: any bytes must parse or end in hayate::Error, and a
// file that parses must be safe to use whole (every tensor byte, every value's display).
#include <cstddef>
#include <cstdint>
#include <sstream>

#include "core/error.h"
#include "gguf/gguf.h"
#include "gguf/info.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hayate::gguf;
  try {
    const auto f = File::parse({data, size}, "fuzz.gguf");
    uint64_t sum = 0;
    for (const TensorInfo& t : f->tensors()) {
      for (uint64_t i = 0; i < t.nbytes; ++i) sum += t.data[i];
      sum += static_cast<uint64_t>(t.n_elements() + t.rows() + t.cols());
      if (f->find_tensor(t.name) != &t) __builtin_trap();
    }
    for (const auto& [key, value] : f->metadata()) {
      sum += value.to_display().size() + value.to_display(SIZE_MAX).size();
      if (f->find(key) != &value) __builtin_trap();
    }
    std::ostringstream out;
    print_info(*f, out);
    print_info_json(*f, out);
    sum += out.str().size();
    volatile uint64_t sink = sum;
    (void)sink;
  } catch (const hayate::Error&) {
  }
  return 0;
}
