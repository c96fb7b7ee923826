// The pieces of a SentencePiece `tokenizer.model` (a ModelProto protobuf), read by a tiny
// protobuf decoder: only the fields the GGUF vocabulary needs (piece, score, type).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace hayate::convert {

struct SpPiece {
  std::string piece;
  float score = 0.0f;
  int32_t type = 1;  // SentencePiece's numbering, which GGUF's token types share (1 = normal)
};

// Error(BadInput) naming `what` for malformed bytes.
std::vector<SpPiece> parse_sentencepiece_model(std::span<const uint8_t> bytes, const std::string& what);
std::vector<SpPiece> read_sentencepiece_model(const std::string& path);

}  // namespace hayate::convert
