// UTF-8 helpers shared by the tokenizers, the stream decoder, the chat templates and the GGUF
// printer. Their input is not trusted to be valid UTF-8, so every routine here copes with broken
// sequences.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hayate::utf8 {

// Length of the sequence announced by a lead byte, judged by its high bits only (1 for a stray
// continuation byte). The SentencePiece tokenizer splits text this way, as llama.cpp does.
inline size_t lead_length(uint8_t lead) {
  static constexpr uint8_t kByHighNibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kByHighNibble[lead >> 4];
}

enum class Status { Valid, Incomplete, Invalid };

struct Step {
  Status status;
  // Valid: the sequence length. Incomplete: the bytes present (a correct prefix that ran into
  // the end of the input). Invalid: the length of the maximal broken prefix, at least 1.
  size_t length;
};

// Examines the sequence that starts at text[pos] (pos < text.size()). Overlong forms, UTF-16
// surrogates and code points above U+10FFFF are invalid.
Step next(std::string_view text, size_t pos);

// Length of the valid sequence at text[pos], or 0 when the bytes there are not one.
inline size_t valid_length(std::string_view text, size_t pos) {
  const Step step = next(text, pos);
  return step.status == Status::Valid ? step.length : 0;
}

// Length of the longest prefix of `text` that is valid UTF-8.
size_t valid_prefix(std::string_view text);

void append_codepoint(std::string& out, uint32_t cp);

// Decodes the valid sequence at text[pos]; the caller has checked it with next().
uint32_t decode(std::string_view text, size_t pos, size_t length);

inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace hayate::utf8
