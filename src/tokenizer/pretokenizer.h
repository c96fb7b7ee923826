// Pre-tokenizers of byte-level BPE models: text is cut into pieces by a list of regular
// expressions (PCRE2, Unicode-aware) named by tokenizer.ggml.pre, before BPE runs on each piece.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hayate {

// A half-open byte range of the text being split.
struct Span {
  size_t begin;
  size_t end;
};

class PreTokenizer {
 public:
  // Throws Error(Unsupported) naming `name` when it is not a known pre-tokenizer.
  explicit PreTokenizer(std::string_view name);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Each regex in turn is applied to every piece the previous one produced; matches and the
  // text between them both become pieces, so the pieces always cover the whole text. Bytes
  // that are not valid UTF-8 become pieces of their own (byte-level BPE can still encode them).
  std::vector<Span> split(std::string_view text) const;

  // The llama3 family looks a whole piece up in the vocabulary before merging.
  bool ignore_merges() const { return ignore_merges_; }
  // Default of tokenizer.ggml.add_bos_token for this family.
  bool add_bos_default() const { return add_bos_default_; }
  // Whether the family's tokenizer.json normalizes text to NFC before splitting (Qwen does;
  // GGUF metadata does not record normalizers, so the name decides).
  bool nfc() const { return nfc_; }

  // Every name this build accepts, for error messages and tests.
  static std::vector<std::string> known_names();

 private:
  class Regex;
  std::vector<std::unique_ptr<Regex>> regexes_;
  bool ignore_merges_ = false;
  bool add_bos_default_ = false;
  bool nfc_ = false;
};

}  // namespace hayate
