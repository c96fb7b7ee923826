// Byte-level BPE (tokenizer.ggml.model "gpt2"): the pre-tokenizer cuts text into pieces, each
// piece's bytes are spelled with GPT-2's printable byte alphabet, then adjacent symbols are
// merged by tokenizer.ggml.merges, the earliest listed merge first.
#pragma once

#include <memory>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/vocab_tokenizer.h"

namespace hayate {

class BpeTokenizer final : public VocabTokenizer {
 public:
  // `merges` is tokenizer.ggml.merges ("left right" per entry, rank = position).
  BpeTokenizer(Vocab vocab, std::string pre, std::unique_ptr<PreTokenizer> pretokenizer,
               const std::vector<std::string>& merges);

 protected:
  void encode_text(std::string_view text, bool first_or_after_special, std::vector<int32_t>& out) const override;
  std::string normal_piece(int32_t id) const override;

 private:
  // Merges one piece already spelled in the byte alphabet.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;
  int32_t rank(std::string_view left, std::string_view right, std::string& scratch) const;

  std::unique_ptr<PreTokenizer> pretokenizer_;
  StringMap<int32_t> ranks_;  // "left right" -> rank
};

}  // namespace hayate
