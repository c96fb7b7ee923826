// A read-only view of a whole file, memory-mapped so that model weights are never copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace hayate {

class MappedFile {
 public:
  // Throws Error(NotFound / BadInput) naming the path.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }
  // Drops the whole pages inside [p, p + n) from the process's resident memory: they are read
  // back from the file if touched again. For data a backend has copied elsewhere (repacked
  // weights). Ranges outside the mapping are ignored.
  void release(const void* p, size_t n) const;

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Resident set size of this process in bytes (from /proc/self/statm), and its peak (VmHWM).
// Gives the whole pages inside [p, p + n) back to the system (MADV_DONTNEED): file-backed pages
// are read back if touched, anonymous ones come back zeroed. Advice only: on failure they stay.
void release_pages(const void* p, size_t n);

size_t resident_memory_bytes();
size_t peak_resident_memory_bytes();

}  // namespace hayate
