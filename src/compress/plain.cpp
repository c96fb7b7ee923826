// The containers that need no model: stored bytes and zstd frames.
#include <zstd.h>

#include "compress/lossless.h"
#include "compress/zstd_frame.h"
#include "core/error.h"

namespace hayate::compress {

std::vector<uint8_t> zstd_frame(std::string_view input, int level) {
  std::vector<uint8_t> out(ZSTD_compressBound(input.size()));
  const size_t n = ZSTD_compress(out.data(), out.size(), input.data(), input.size(), level);
  if (ZSTD_isError(n)) fail(ErrorKind::Internal, std::string("zstd: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

std::string unzstd(std::span<const uint8_t> frame, uint64_t size) {
  const unsigned long long declared = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (declared != size)
    fail(ErrorKind::BadInput, "the zstd frame does not declare the original's " + std::to_string(size) + " bytes");
  std::string out(size, '\0');
  const size_t n = ZSTD_decompress(out.data(), out.size(), frame.data(), frame.size());
  if (ZSTD_isError(n)) fail(ErrorKind::BadInput, std::string("the zstd frame is damaged: ") + ZSTD_getErrorName(n));
  if (n != size)
    fail(ErrorKind::BadInput, "the zstd frame holds " + std::to_string(n) + " bytes, not " + std::to_string(size));
  return out;
}

std::vector<uint8_t> compress_stored(std::string_view input) {
  Container c;
  c.method = Method::Stored;
  c.original_length = input.size();
  c.original_crc = crc32(input);
  c.data.assign(input.begin(), input.end());
  return write_container(c);
}

std::vector<uint8_t> compress_zstd(std::string_view input, int level) {
  Container c;
  c.method = Method::Zstd;
  c.original_length = input.size();
  c.original_crc = crc32(input);
  c.data = zstd_frame(input, level);
  return write_container(c);
}

}  // namespace hayate::compress
