// zstd for the containers that hold a zstd frame (the fallback chain's last step).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hayate::compress {

std::vector<uint8_t> zstd_frame(std::string_view input, int level);
// Exactly `size` bytes from one frame; Error(BadInput) for a damaged frame or another size.
std::string unzstd(std::span<const uint8_t> frame, uint64_t size);

}  // namespace hayate::compress
