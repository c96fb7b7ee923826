// WordPiece (tokenizer.ggml.model "bert"): BERT's normaliser and pre-tokenizer (bert_text.h),
// then each word greedily split longest-match-first. Vocabulary texts are as llama.cpp writes
// them: a word-initial piece carries a leading U+2581, a continuation ("##x" in Hugging Face's
// vocab.txt) none. A word with a part no piece matches, or longer than 100 characters, is [UNK].
#pragma once

#include "tokenizer/bert_text.h"
#include "tokenizer/vocab_tokenizer.h"

namespace hayate {

class WordPieceTokenizer final : public VocabTokenizer {
 public:
  // vocab.bos/eos are [CLS]/[SEP] (from tokenizer.ggml.cls_token_id / seperator_token_id).
  WordPieceTokenizer(Vocab vocab, std::string pre, BertTextOptions text);

  static constexpr size_t kMaxWordChars = 100;  // Hugging Face's max_input_chars_per_word

 protected:
  void encode_text(std::string_view text, bool first_or_after_special, std::vector<int32_t>& out) const override;
  std::string normal_piece(int32_t id) const override;

 private:
  void encode_word(const std::string& word, std::vector<int32_t>& out) const;

  BertTextOptions text_;
};

}  // namespace hayate
