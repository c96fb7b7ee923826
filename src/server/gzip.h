// gzip (RFC 1952) of response bodies, through zlib.
#pragma once

#include <string>
#include <string_view>

namespace hayate::server {

std::string gzip_compress(std::string_view data);
// Whether an Accept-Encoding header allows gzip (a "gzip" coding whose q is not 0).
bool accepts_gzip(std::string_view accept_encoding);

}  // namespace hayate::server
