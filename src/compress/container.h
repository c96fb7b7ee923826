// The compressed file: header, windows and checksums (docs/compress-format.md describes every
// byte). Reading checks everything before anything is decoded: the magic, the version, the
// checksum of the whole container (so a truncated or bit-flipped file is refused at once), then
// each field against its limits. Every refusal is an Error(BadInput) that says what was wrong.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hayate::compress {

inline constexpr uint8_t kFormatVersion = 1;
inline constexpr uint64_t kMaxOriginalBytes = uint64_t{1} << 40;

enum class Method : uint8_t {
  Stored = 0,    // the bytes as they are
  Model = 1,     // range-coded with the model's next-token probabilities (lossless)
  Zstd = 2,      // one zstd frame: the last step of the fallback chain (lossless)
  Semantic = 3,  // a summary (itself model-coded) that the model expands again (lossy)
};
const char* method_name(Method m);  // "stored", "model", "zstd", "semantic"

struct ModelParams {
  uint32_t model_id = 0;        // weights, hyper-parameters and token pieces (fingerprint.h)
  uint16_t compute_id = 0;      // backend, device and kernels that computed the logits
  uint32_t window_tokens = 0;   // most symbols in one window (after its start token)
  uint8_t precision_bits = 24;  // frequency tables total at most 2^precision_bits
  uint8_t lockstep = 0;         // 0: any schedule decodes it; else windows run this many side by side
};

struct Window {
  uint64_t n_bytes = 0;  // original bytes it holds, at least 1
  bool stored = false;   // payload is those bytes as they are (coding did not make them smaller)
  uint16_t check = 0;    // low 16 bits of the CRC-32 of those bytes
  std::vector<uint8_t> payload;
};

struct SemanticParams {
  uint8_t summary_method = 0;   // semantic.h's Summary methods (which prompt made the summary)
  uint32_t target_tokens = 0;   // tokens the reconstruction generates at most
  uint16_t quality = 0;         // embedding cosine of original and reconstruction, x 1/10000
  uint64_t summary_length = 0;  // bytes of the summary the windows hold
};

struct Container {
  Method method = Method::Stored;
  uint64_t original_length = 0;
  uint32_t original_crc = 0;    // CRC-32 of the original bytes
  ModelParams model;            // Model and Semantic
  SemanticParams semantic;      // Semantic
  std::vector<Window> windows;  // Model; Semantic: the summary's
  std::vector<uint8_t> data;    // Stored: the bytes; Zstd: the frame
};

std::vector<uint8_t> write_container(const Container& c);
// Error(BadInput) for anything that is not a sound container of this version.
Container read_container(std::span<const uint8_t> bytes);
// True when the bytes start with the magic (for a "compressed or not" guess).
bool has_magic(std::span<const uint8_t> bytes);

uint32_t crc32(std::span<const uint8_t> bytes);
inline uint32_t crc32(std::string_view s) {
  return crc32(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

}  // namespace hayate::compress
