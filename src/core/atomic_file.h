// Files that appear whole or not at all: the bytes go to a temporary file beside PATH, which is
// synced and renamed over PATH only when every byte is written, then the directory is synced so
// that the rename itself is on disk. A crash (kill -9, a power cut) leaves the old contents or the
// new, never a mix, and a failure (a full disk) leaves no partial file behind.
//
// Fault injection: HAYATE_FAULT_DISK_FULL_AFTER=N (read when a file is opened) makes every write
// past its first N bytes fail with ENOSPC, as a full disk would, so that tests can check what a
// writer does then without filling a real one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hayate {

class AtomicFile {
 public:
  // Error when the temporary file cannot be created (its kind from errno: ResourceExhausted for a
  // full disk, NotFound for a missing folder).
  explicit AtomicFile(std::string path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  // Without commit(), the temporary file is removed.
  ~AtomicFile();

  void write(const void* data, size_t n);  // buffered
  uint64_t written() const { return written_; }
  // Flush, fsync, rename over the path, sync the folder. Error(ResourceExhausted) "PATH: cannot
  // write PATH.tmp.PID: No space left on device; ..." when the disk is full.
  void commit();

 private:
  [[noreturn]] void io_error(const std::string& what, int err) const;
  void flush();
  void write_fully(const uint8_t* p, size_t n);

  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
  uint64_t written_ = 0, on_disk_ = 0;
  uint64_t fault_after_ = UINT64_MAX;
  std::vector<uint8_t> buffer_;
};

// The whole of `bytes` as the file `path`, atomically.
void write_file_atomically(const std::string& path, std::string_view bytes);

}  // namespace hayate
