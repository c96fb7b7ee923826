// What the coder codes: symbols that spell the input's bytes exactly. A symbol below n_tokens is
// a token of the model's vocabulary (its piece's bytes); symbol n_tokens + b is the escape
// followed by the raw byte b, for a byte no single-byte token spells. Any byte string therefore
// round-trips, valid UTF-8 or not, whatever the tokenizer does to text (normalisation, a
// space prefix): the tokenizer only proposes tokens, and a proposal whose pieces do not spell
// the bytes it came from is replaced by smaller ones.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace hayate::compress {

class Alphabet {
 public:
  // The model's tokenizer; it must outlive the alphabet.
  explicit Alphabet(const Tokenizer& tokenizer);
  // Tests and fuzzing: `n_tokens` tokens of which the first min(256, n_tokens) are the bytes
  // 0, 1, 2 ... and the rest spell nothing; no tokenizer.
  static Alphabet bytes_only(int32_t n_tokens);

  int32_t n_tokens() const { return static_cast<int32_t>(pieces_.size()); }
  int32_t escape_symbol() const { return n_tokens(); }
  bool is_escaped(int32_t symbol) const { return symbol >= n_tokens(); }

  std::vector<int32_t> symbolize(std::string_view bytes) const;
  void append_bytes(int32_t symbol, std::string& out) const;
  // The token the model reads after `symbol`: the symbol itself, or for an escaped byte its
  // single-byte token (there is none when it is escaped) or else start_token().
  int32_t context_token(int32_t symbol) const { return is_escaped(symbol) ? start_token_ : symbol; }
  // What every window starts with: BOS, else EOS, else token 0.
  int32_t start_token() const { return start_token_; }
  // A hash of every piece and the start token (part of the model fingerprint).
  uint64_t hash() const;

 private:
  Alphabet() = default;
  // Appends the symbols of valid UTF-8 text, trying the tokenizer first.
  void symbolize_text(std::string_view text, std::vector<int32_t>& out) const;
  bool spells(const std::vector<int32_t>& ids, std::string_view text) const;
  void symbolize_byte(uint8_t b, std::vector<int32_t>& out) const;

  const Tokenizer* tokenizer_ = nullptr;
  std::vector<std::string> pieces_;  // bytes of each token; empty for control tokens
  int32_t byte_token_[256];          // the token spelling just that byte, or -1
  int32_t start_token_ = 0;
};

}  // namespace hayate::compress
