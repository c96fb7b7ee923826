// Bounds on one rendering of a chat template, so that a hostile or broken template ends in an
// Error(BadInput) instead of a hang, a crash or all the memory.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hayate::chat {

struct Limits {
  uint64_t max_steps = 20'000'000;      // expressions evaluated + loop iterations + bytes built / 64
  size_t max_output_bytes = 32u << 20;  // the rendered text, and any one string built on the way
  size_t max_items = 1u << 20;          // elements of one list (range(), list * n, ...)
  int max_depth = 600;                  // nested evaluation: expressions, blocks and macro calls
};

}  // namespace hayate::chat
