#include "backend/cuda/cuda_memory.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace hayate::cuda {

Scratch::~Scratch() {
  free_retired();
  for (Buffer& b : buffers_) device_free(budget_, b.p, b.bytes);
}

void* Scratch::take(size_t bytes) {
  bytes = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
  if (next_ == buffers_.size()) buffers_.push_back({});
  Buffer& b = buffers_[next_];
  if (b.bytes < bytes) {
    // Queued kernels may still read the old buffer, so it is freed only at the next sync.
    void* p = device_alloc(budget_, bytes, "scratch activations");
    if (b.p) retired_.push_back(b);
    b = Buffer{p, bytes};
  }
  ++next_;
  return b.p;
}

void Scratch::free_retired() {
  for (Buffer& b : retired_) device_free(budget_, b.p, b.bytes);
  retired_.clear();
}

uint64_t Scratch::bytes() const {
  uint64_t n = 0;
  for (const Buffer& b : buffers_) n += b.bytes;
  return n;
}

Uploads::~Uploads() {
  for (Chunk& c : chunks_) {
    (void)cudaFreeHost(c.host);
    device_free(budget_, c.dev, c.cap);
  }
}

size_t Uploads::stage(const void* src, size_t bytes, Chunk** chunk) {
  const size_t need = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
  while (current_ < chunks_.size() && chunks_[current_].cap - chunks_[current_].used < need) ++current_;
  if (current_ == chunks_.size()) {
    Chunk c;
    c.cap = std::max<size_t>(need, size_t{1} << 20);
    void* host = nullptr;
    check(cudaMallocHost(&host, c.cap), "cudaMallocHost (upload staging)");
    c.host = static_cast<uint8_t*>(host);
    try {
      c.dev = static_cast<uint8_t*>(device_alloc(budget_, c.cap, "upload staging"));
    } catch (...) {
      (void)cudaFreeHost(c.host);
      throw;
    }
    chunks_.push_back(c);
  }
  Chunk& c = chunks_[current_];
  const size_t off = c.used;
  if (bytes > 0) std::memcpy(c.host + off, src, bytes);
  c.used += need;
  *chunk = &c;
  return off;
}

Uploads::Staged Uploads::put(const void* src, size_t bytes) {
  for (const Memo& m : memo_)
    if (m.src == src && m.bytes == bytes && std::memcmp(m.host, src, bytes) == 0) return {m.host, m.dev, false};
  Chunk* c = nullptr;
  const size_t off = stage(src, bytes, &c);
  memo_.push_back({src, bytes, c->host + off, c->dev + off});
  return {c->host + off, c->dev + off, true};
}

const void* Uploads::stage_copy(const void* src, size_t bytes) {
  Chunk* c = nullptr;
  const size_t off = stage(src, bytes, &c);
  return c->host + off;
}

void Uploads::reset() {
  for (Chunk& c : chunks_) c.used = 0;
  current_ = 0;
  memo_.clear();
}

}  // namespace hayate::cuda
