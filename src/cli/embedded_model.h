// The demo model (assets/demo-q8_0.gguf, made by tools/demo-model/) linked into the program's
// read-only data, so `hayate run` works with no file and no download. It is parsed in place:
// the bytes live as long as the program.
#pragma once

#include <cstdint>
#include <span>

namespace hayate::cli {

// What load_model accepts as a path for it, and the name its errors carry.
inline constexpr const char* kEmbeddedModelName = "embedded:hayate-demo";

std::span<const uint8_t> embedded_model();

}  // namespace hayate::cli
