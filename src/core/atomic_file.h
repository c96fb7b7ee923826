// Replacing a file so that a crash (or kill -9, or a power cut) leaves the old contents or the new,
// never a mix: the bytes go to a temporary file beside it, which is fsync'ed and renamed over the
// old one, then the directory is fsync'ed so that the rename itself is on disk.
#pragma once

#include <string>
#include <string_view>

namespace hayate {

// Error(ResourceExhausted) naming the file and the system's reason when it cannot be written.
void write_file_atomically(const std::string& path, std::string_view data);

}  // namespace hayate
