#include "server/gzip.h"

#include <zlib.h>

#include <cctype>
#include <cstdlib>

#include "core/error.h"

namespace hayate::server {

std::string gzip_compress(std::string_view data) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    fail(ErrorKind::Internal, "gzip: deflateInit2 failed");
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const size_t n = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) fail(ErrorKind::Internal, "gzip: deflate did not finish");
  out.resize(n);
  return out;
}

bool accepts_gzip(std::string_view header) {
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t end = header.find(',', pos);
    if (end == std::string_view::npos) end = header.size();
    std::string item;
    for (char c : header.substr(pos, end - pos))
      if (!std::isspace(static_cast<unsigned char>(c)))
        item += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const size_t semi = item.find(';');
    const std::string coding = item.substr(0, semi);
    if (coding == "gzip" || coding == "*") {
      if (semi == std::string::npos) return true;
      const std::string params = item.substr(semi + 1);
      if (params.rfind("q=", 0) != 0) return true;
      return std::strtod(params.c_str() + 2, nullptr) > 0;
    }
    pos = end + 1;
  }
  return false;
}

}  // namespace hayate::server
