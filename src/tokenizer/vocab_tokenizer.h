// What the SentencePiece and byte-level BPE tokenizers share: the vocabulary, special-token
// splitting, BOS/EOS, the per-token pieces and decoding. Subclasses supply how one fragment of
// ordinary text becomes ids and what bytes a normal token stands for.
#pragma once

#include <string>
#include <vector>

#include "tokenizer/special_tokens.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace hayate {

class VocabTokenizer : public Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override;
  std::string token_to_piece(int32_t id, bool special) const override;
  std::string decode(const std::vector<int32_t>& ids, bool special, bool skip_leading_space = true) const override;

  int32_t n_vocab() const override { return vocab_.size(); }
  int32_t bos_id() const override { return vocab_.bos; }
  int32_t eos_id() const override { return vocab_.eos; }
  bool is_end_of_generation(int32_t id) const override;
  const std::string& token_text(int32_t id) const override;
  TokenType token_type(int32_t id) const override;
  std::string model_name() const override { return model_; }
  std::string pre_name() const override { return pre_; }
  bool add_space_prefix() const override { return vocab_.add_space_prefix; }

 protected:
  VocabTokenizer(Vocab vocab, std::string model, std::string pre);

  // Appends the ids of ordinary text. `first_or_after_special` is true for the first fragment
  // and for one that follows a special token (where SentencePiece adds its space prefix).
  virtual void encode_text(std::string_view text, bool first_or_after_special, std::vector<int32_t>& out) const = 0;
  // The bytes a Normal (or Byte) token stands for.
  virtual std::string normal_piece(int32_t id) const = 0;
  // Fills pieces_; subclasses call it once their own state is ready.
  void build_pieces();

  void check_id(int32_t id) const;

  Vocab vocab_;
  SpecialTokenSplitter splitter_;  // refers to vocab_, declared after it

 private:
  std::string model_;
  std::string pre_;
  std::vector<std::string> pieces_;  // as token_to_piece(id, special = true)
};

}  // namespace hayate
