// Lossless compression with a model: the input becomes symbols (alphabet.h), cut into windows of
// at most a context's worth; each window starts afresh from the start token and is range-coded
// with the model's next-symbol probabilities (frequencies.h). Windows are independent, so
// decompression, which must run one token per step, runs many windows side by side in one
// batch, and compression runs whole windows as batched prompts.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "compress/alphabet.h"
#include "compress/container.h"
#include "compress/logit_source.h"

namespace hayate::compress {

struct LosslessOptions {
  int32_t window_tokens = 0;  // 0: the source's context
  int precision_bits = 24;
};

// The model-coded windows of a byte string (what Model and Semantic containers hold).
struct CodedStream {
  ModelParams params;
  std::vector<Window> windows;
};

// Codes every input; inputs share forward steps when the source is batch-invariant.
std::vector<CodedStream> encode_streams(std::span<const std::string_view> inputs, LogitSource& source,
                                        const Alphabet& alphabet, const LosslessOptions& options = {});
// The `total_bytes` bytes the windows hold. Error(BadInput) when they were coded with another
// model or do not decode to what was coded (the message says whether the compute path differs).
std::string decode_stream(const ModelParams& params, const std::vector<Window>& windows, uint64_t total_bytes,
                          LogitSource& source, const Alphabet& alphabet);

std::vector<uint8_t> compress_lossless(std::string_view input, LogitSource& source, const Alphabet& alphabet,
                                       const LosslessOptions& options = {});
std::vector<std::vector<uint8_t>> compress_lossless(std::span<const std::string_view> inputs, LogitSource& source,
                                                    const Alphabet& alphabet, const LosslessOptions& options = {});

// Stored and zstd containers (no model).
std::vector<uint8_t> compress_stored(std::string_view input);
std::vector<uint8_t> compress_zstd(std::string_view input, int level = 19);

// The original bytes of a lossless container (stored, zstd or model; the model ones need a
// source and its alphabet). Error(BadInput) for a damaged file, another model's file, or a
// semantic one (semantic.h reconstructs those).
std::string decompress(std::span<const uint8_t> file, LogitSource* source, const Alphabet* alphabet);
std::string decompress(const Container& c, LogitSource* source, const Alphabet* alphabet);

}  // namespace hayate::compress
