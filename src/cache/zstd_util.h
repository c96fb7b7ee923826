// zstd one-shot compression with the frame's content checksum on, so a damaged value or cache
// file is detected rather than returned.
#pragma once

#include <string>
#include <string_view>

namespace hayate::cache {

std::string zstd_compress(std::string_view data, int level);
// Error(BadInput) for data that is not one whole, intact zstd frame.
std::string zstd_decompress(std::string_view frame);

}  // namespace hayate::cache
