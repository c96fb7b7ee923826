// Unigram (tokenizer.ggml.model "t5"; XLM-R and T5 SentencePiece models as Hugging Face's
// tokenizer.json describes them): runs of spaces collapsed when remove_extra_whitespaces is set,
// spaces become U+2581 with one put in front (add_space_prefix), the text is split before each
// U+2581, and each word is cut by Viterbi into the pieces whose scores sum highest. A character
// no piece covers is <unk> (consecutive ones fused), or its bytes with byte_fallback.
#pragma once

#include <array>

#include "tokenizer/vocab_tokenizer.h"

namespace hayate {

class UnigramTokenizer final : public VocabTokenizer {
 public:
  UnigramTokenizer(Vocab vocab, std::string pre, bool collapse_spaces, bool byte_fallback);

 protected:
  void encode_text(std::string_view text, bool first_or_after_special, std::vector<int32_t>& out) const override;
  std::string normal_piece(int32_t id) const override;

 private:
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  bool collapse_spaces_;
  bool byte_fallback_;
  size_t max_piece_bytes_ = 0;
  float unk_score_ = 0;
  std::array<int32_t, 256> byte_tokens_{};
};

}  // namespace hayate
