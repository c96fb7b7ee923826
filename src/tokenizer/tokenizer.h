// Tokenizers built from GGUF metadata (tokenizer.ggml.*): SentencePiece-style ("llama") and
// byte-level BPE ("gpt2") with the pre-tokenizer named by tokenizer.ggml.pre.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hayate::gguf {
class File;
}

namespace hayate {

// GGUF token types (tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Reads tokenizer.ggml.* from the file; Error(Unsupported) for a model/pre it does not know,
  // Error(BadInput) for inconsistent metadata (e.g. scores shorter than tokens).
  static std::unique_ptr<Tokenizer> from_gguf(const gguf::File& file);

  // add_special: add BOS (and EOS) as the model's metadata says (add_bos_token / add_eos_token).
  // parse_special: text like "<|im_start|>" becomes that special token, as HF tokenizers do.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const = 0;

  // The bytes of one token (may be part of a UTF-8 character). Control tokens give their text
  // only when `special` is true.
  virtual std::string token_to_piece(int32_t id, bool special) const = 0;
  // All pieces joined; for SentencePiece the leading space of the first text token (and of the
  // first after each special token, where encoding added one too) is removed when the model
  // adds a space prefix and skip_leading_space is true.
  virtual std::string decode(const std::vector<int32_t>& ids, bool special, bool skip_leading_space = true) const = 0;

  virtual int32_t n_vocab() const = 0;
  virtual int32_t bos_id() const = 0;  // -1 when none
  virtual int32_t eos_id() const = 0;
  virtual bool is_end_of_generation(int32_t id) const = 0;  // eos, eot, eom, <|im_end|> …
  virtual const std::string& token_text(int32_t id) const = 0;
  virtual TokenType token_type(int32_t id) const = 0;
  virtual std::string model_name() const = 0;  // "llama" / "gpt2"
  virtual std::string pre_name() const = 0;    // tokenizer.ggml.pre, "default" when absent
  // True when encoding puts a space before the text (SentencePiece's add_space_prefix), so that
  // decoders drop the leading space of the first text token.
  virtual bool add_space_prefix() const { return false; }
};

// Turns a stream of token ids into text without ever emitting half a UTF-8 character:
// bytes of an unfinished character are held back until the character completes (or flush()).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool special = false);
  std::string push(int32_t id);
  std::string flush();  // whatever is pending, invalid bytes replaced by U+FFFD
  // The id's bytes as decode() spells them at this point of the stream (SentencePiece's added
  // space taken off where decode takes it), half characters included; push() holds those back.
  std::string piece(int32_t id);

 private:
  const Tokenizer& tokenizer_;
  bool special_;
  bool first_ = true;
  std::string pending_;
};

}  // namespace hayate
