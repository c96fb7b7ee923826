// SHA-256 (OpenSSL), as lowercase hex: the names of cache entries and of document contents,
// where a collision would serve one request's answer to another.
#pragma once

#include <string>
#include <string_view>

namespace hayate::cache {

std::string sha256_hex(std::string_view data);

}  // namespace hayate::cache
