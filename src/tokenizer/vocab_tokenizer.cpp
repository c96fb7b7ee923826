#include "tokenizer/vocab_tokenizer.h"

#include "core/error.h"

namespace hayate {

VocabTokenizer::VocabTokenizer(Vocab vocab, std::string model, std::string pre)
    : vocab_(std::move(vocab)), splitter_(vocab_), model_(std::move(model)), pre_(std::move(pre)) {}

void VocabTokenizer::build_pieces() {
  pieces_.resize(vocab_.texts.size());
  for (int32_t id = 0; id < vocab_.size(); ++id) {
    switch (vocab_.types[id]) {
      case TokenType::Control:
      case TokenType::Unknown:
      case TokenType::UserDefined:
        pieces_[id] = vocab_.texts[id];
        break;
      case TokenType::Normal:
      case TokenType::Byte:
        pieces_[id] = normal_piece(id);
        break;
      case TokenType::Unused:
      case TokenType::Undefined:
        break;  // stands for no text
    }
  }
}

void VocabTokenizer::check_id(int32_t id) const {
  if (id < 0 || id >= vocab_.size())
    fail(ErrorKind::BadInput, "token id " + std::to_string(id) + " is outside the vocabulary of " +
                                  std::to_string(vocab_.size()) + " tokens");
}

std::vector<int32_t> VocabTokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_special && vocab_.add_bos) out.push_back(vocab_.bos);

  bool first_or_after_special = true;
  for (const Fragment& fragment : splitter_.split(text, parse_special)) {
    if (fragment.token >= 0) {
      out.push_back(fragment.token);
      first_or_after_special = true;
    } else {
      encode_text(text.substr(fragment.begin, fragment.end - fragment.begin), first_or_after_special, out);
      first_or_after_special = false;
    }
  }

  if (add_special && vocab_.add_eos) out.push_back(vocab_.eos);
  return out;
}

std::string VocabTokenizer::token_to_piece(int32_t id, bool special) const {
  check_id(id);
  if (!special && vocab_.is_control_like(id)) return {};
  return pieces_[id];
}

std::string VocabTokenizer::decode(const std::vector<int32_t>& ids, bool special, bool skip_leading_space) const {
  std::string out;
  // SentencePiece put a space before the text and after every special token when encoding;
  // take each of those away again (as sentencepiece does for every run between specials).
  const bool prefixed = skip_leading_space && vocab_.add_space_prefix;
  bool strip = prefixed;
  for (int32_t id : ids) {
    check_id(id);
    if (vocab_.is_special(id)) {
      if (special || vocab_.types[id] == TokenType::UserDefined) out += pieces_[id];
      strip = prefixed;
      continue;
    }
    const std::string& piece = pieces_[id];
    if (strip && !piece.empty()) {
      strip = false;
      if (piece[0] == ' ') {
        out.append(piece, 1);
        continue;
      }
    }
    out += piece;
  }
  return out;
}

bool VocabTokenizer::is_end_of_generation(int32_t id) const {
  return id >= 0 && id < vocab_.size() && vocab_.end_of_generation[id];
}

const std::string& VocabTokenizer::token_text(int32_t id) const {
  check_id(id);
  return vocab_.texts[id];
}

TokenType VocabTokenizer::token_type(int32_t id) const {
  check_id(id);
  return vocab_.types[id];
}

}  // namespace hayate
