// Standard base64 (RFC 4648, with padding), for binary data inside JSON: embeddings as
// base64 floats, compressed files in the compression API.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hayate {

std::string base64_encode(std::span<const uint8_t> bytes);
// Error(BadInput) naming `what` and the first bad character or a wrong length.
std::vector<uint8_t> base64_decode(std::string_view text, std::string_view what = "base64 data");

}  // namespace hayate
