// Per-step device memory of the CUDA backend: scratch activations (reused between steps, as the
// host backends do) and the host-to-device staging of small per-batch arrays (token ids,
// positions, block tables) through pinned buffers, so uploads stay asynchronous and can be
// captured in a CUDA graph.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "backend/cuda/cuda_util.h"

namespace hayate::cuda {

class Scratch {
 public:
  explicit Scratch(MemoryBudget& budget) : budget_(budget) {}
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  void* take(size_t bytes);  // the next buffer, grown when too small
  size_t mark() const { return next_; }
  void release(size_t mark) { next_ = mark; }
  void reset() { next_ = 0; }
  // Frees buffers replaced by larger ones; only when no queued work can still use them.
  void free_retired();
  uint64_t bytes() const;

 private:
  struct Buffer {
    void* p = nullptr;
    size_t bytes = 0;
  };
  MemoryBudget& budget_;
  std::vector<Buffer> buffers_, retired_;
  size_t next_ = 0;
};

class Uploads {
 public:
  explicit Uploads(MemoryBudget& budget) : budget_(budget) {}
  ~Uploads();
  Uploads(const Uploads&) = delete;
  Uploads& operator=(const Uploads&) = delete;

  // `bytes` host bytes copied into pinned staging, and the device address they are to be copied
  // to (by the caller, host to dev, when fresh). The same host array with the same contents
  // put again in one step gives the same copy, not fresh. Equal steps stage at equal addresses.
  struct Staged {
    const void* host = nullptr;
    void* dev = nullptr;
    bool fresh = false;
  };
  Staged put(const void* src, size_t bytes);
  // Host bytes copied into pinned staging, for the caller to copy from to a device address.
  const void* stage_copy(const void* src, size_t bytes);
  void reset();  // only when the stream is idle
  void free_retired() {}

 private:
  struct Chunk {
    uint8_t* host = nullptr;
    uint8_t* dev = nullptr;
    size_t cap = 0, used = 0;
  };
  struct Memo {
    const void* src;
    size_t bytes;
    const uint8_t* host;
    uint8_t* dev;
  };
  size_t stage(const void* src, size_t bytes, Chunk** chunk);
  MemoryBudget& budget_;
  std::vector<Chunk> chunks_;
  size_t current_ = 0;
  std::vector<Memo> memo_;
};

}  // namespace hayate::cuda
