// SentencePiece-style tokenizer (tokenizer.ggml.model "llama"): spaces become U+2581, then
// adjacent pieces are merged greedily, the pair whose merged text has the highest score first;
// what is left outside the vocabulary falls back to <0xXX> byte tokens.
#pragma once

#include <array>

#include "tokenizer/vocab_tokenizer.h"

namespace hayate {

// The bytes a SentencePiece-style token stands for: <0xXX> byte tokens their byte, U+2581 a
// space (shared with the Unigram tokenizer).
std::string sentencepiece_piece(const Vocab& vocab, int32_t id);

class SpmTokenizer final : public VocabTokenizer {
 public:
  SpmTokenizer(Vocab vocab, std::string pre);

 protected:
  void encode_text(std::string_view text, bool first_or_after_special, std::vector<int32_t>& out) const override;
  std::string normal_piece(int32_t id) const override;

 private:
  void append_bytes(std::string_view bytes, std::vector<int32_t>& out) const;

  std::array<int32_t, 256> byte_tokens_;  // <0xXX>, else the byte as a token, else -1
};

}  // namespace hayate
