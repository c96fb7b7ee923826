#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace hayate {
namespace {

constexpr size_t kBufferBytes = 1 << 20;

uint64_t fault_limit() {
  const char* v = std::getenv("HAYATE_FAULT_DISK_FULL_AFTER");
  if (!v || !*v) return UINT64_MAX;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  return *end == '\0' ? n : UINT64_MAX;
}

void sync_folder_of(const std::string& path) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return;  // the rename is done; a folder we cannot open only loses durability
  ::fsync(dfd);
  ::close(dfd);
}

}  // namespace

// The pid in the temporary name keeps two processes saving the same file from writing into one
// temporary file.
AtomicFile::AtomicFile(std::string path)
    : path_(std::move(path)), tmp_(path_ + ".tmp." + std::to_string(::getpid())), fault_after_(fault_limit()) {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) io_error("cannot create " + tmp_, errno);
  buffer_.reserve(kBufferBytes);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  if (buffer_.size() + n > kBufferBytes) flush();
  if (n >= kBufferBytes)
    write_fully(p, n);
  else
    buffer_.insert(buffer_.end(), p, p + n);
  written_ += n;
}

void AtomicFile::commit() {
  flush();
  if (::fsync(fd_) != 0) io_error("cannot sync " + tmp_, errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) io_error("cannot close " + tmp_, errno);
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) io_error("cannot rename " + tmp_ + " to " + path_, errno);
  committed_ = true;
  sync_folder_of(path_);
}

void AtomicFile::io_error(const std::string& what, int err) const {
  const ErrorKind kind = (err == ENOSPC || err == EDQUOT) ? ErrorKind::ResourceExhausted
                         : err == ENOENT                  ? ErrorKind::NotFound
                                                          : ErrorKind::BadInput;
  std::string hint;
  if (kind == ErrorKind::ResourceExhausted) hint = "; free some space (nothing was written to " + path_ + ")";
  fail(kind, path_ + ": " + what + ": " + std::strerror(err) + hint);
}

void AtomicFile::flush() {
  write_fully(buffer_.data(), buffer_.size());
  buffer_.clear();
}

void AtomicFile::write_fully(const uint8_t* p, size_t n) {
  while (n > 0) {
    if (on_disk_ + n > fault_after_) io_error("cannot write " + tmp_, ENOSPC);
    const ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      io_error("cannot write " + tmp_, errno);
    }
    p += w;
    n -= static_cast<size_t>(w);
    on_disk_ += static_cast<uint64_t>(w);
  }
}

void write_file_atomically(const std::string& path, std::string_view bytes) {
  AtomicFile f(path);
  f.write(bytes.data(), bytes.size());
  f.commit();
}

}  // namespace hayate
