// libFuzzer target for the compressed-file reader and the decoders behind it: any bytes must
// decompress or end in hayate::Error, never crash, hang or read out of bounds. The first byte
// picks how the rest is used: as a whole file, or as a file body whose checksum is appended
// here, so that inputs get past the container's CRC into the field checks and the range decoder
// (a toy source stands in for the model and takes the file's model fingerprint).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "compress/alphabet.h"
#include "compress/container.h"
#include "compress/lossless.h"
#include "compress/toy_source.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hayate::compress;
  if (size == 0) return 0;
  std::vector<uint8_t> file(data + 1, data + size);
  if (data[0] & 1) {
    const uint32_t crc = crc32(file);
    for (int i = 0; i < 4; ++i) file.push_back(static_cast<uint8_t>(crc >> (8 * i)));
  }
  try {
    const Container c = read_container(file);
    if (c.original_length > (1u << 20)) return 0;  // a real decoder would allocate it; keep the fuzzer small
    if (c.method == Method::Model || c.method == Method::Semantic) {
      if (c.model.window_tokens > 512) return 0;
      const int n_seq = c.model.lockstep ? c.model.lockstep : 4;
      ToySource toy(300, static_cast<int32_t>(c.model.window_tokens), n_seq, c.model.lockstep == 0, c.model.model_id);
      const Alphabet ab = Alphabet::bytes_only(300);
      if (c.method == Method::Model) {
        const std::string out = decompress(c, &toy, &ab);
        if (out.size() != c.original_length) __builtin_trap();
      } else {
        const std::string summary = decode_stream(c.model, c.windows, c.semantic.summary_length, toy, ab);
        if (summary.size() != c.semantic.summary_length) __builtin_trap();
      }
    } else {
      const std::string out = decompress(c, nullptr, nullptr);
      if (out.size() != c.original_length) __builtin_trap();
    }
  } catch (const hayate::Error&) {
  }
  return 0;
}
