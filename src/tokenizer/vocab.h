// The vocabulary half of tokenizer.ggml.*: token texts, scores and types, the special ids and the
// add_bos / add_eos / add_space_prefix flags. Shared by both tokenizer kinds.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace hayate {

// Lets unordered_map<std::string, …> be searched with a string_view, without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// WordPiece: BOS/EOS default to tokenizer.ggml.cls_token_id / seperator_token_id (llama.cpp's keys).
enum class VocabKind { SentencePiece, BytePairEncoding, WordPiece };

struct Vocab {
  // Reads tokens, scores, types and special ids. `kind` picks llama.cpp's defaults (SentencePiece:
  // BOS 1, EOS 2, UNK 0, add_bos, add_space_prefix; BPE: none of them). add_bos_default is the
  // pre-tokenizer family's default, overridden by tokenizer.ggml.add_bos_token when present.
  static Vocab load(const gguf::File& file, VocabKind kind, bool add_bos_default);

  int32_t size() const { return static_cast<int32_t>(texts.size()); }
  int32_t find(std::string_view text) const {
    const auto it = ids.find(text);
    return it == ids.end() ? -1 : it->second;
  }
  // Control and unknown tokens print only when asked for specials.
  bool is_control_like(int32_t id) const { return is_control_like(types[id]); }
  static bool is_control_like(TokenType type) { return type == TokenType::Control || type == TokenType::Unknown; }
  // Tokens the special-token splitter finds in text (user-defined ones even without parsing).
  bool is_special(int32_t id) const { return is_control_like(id) || types[id] == TokenType::UserDefined; }

  std::string source;  // file name, for messages
  std::vector<std::string> texts;
  std::vector<float> scores;  // zeros when the file has none
  std::vector<TokenType> types;
  StringMap<int32_t> ids;
  std::vector<bool> end_of_generation;

  int32_t bos = -1;
  int32_t eos = -1;
  int32_t unk = -1;
  int32_t eot = -1;
  int32_t eom = -1;
  int32_t pad = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;
};

}  // namespace hayate
