#include "tokenizer/bpe.h"

#include <array>
#include <queue>

#include "tokenizer/nfc.h"
#include "core/utf8.h"

namespace hayate {
namespace {

// GPT-2 spells every byte with a printable character: printable Latin-1 bytes stand for
// themselves, the others (controls, space, soft hyphen…) for U+0100 onwards, in byte order.
struct ByteAlphabet {
  std::array<std::string, 256> spelling;
  std::array<int16_t, 512> byte_of;  // code point -> byte, -1 where none

  ByteAlphabet() {
    byte_of.fill(-1);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      const uint32_t cp = printable ? b : next++;
      utf8::append_codepoint(spelling[b], cp);
      byte_of[cp] = static_cast<int16_t>(b);
    }
  }
};

const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet;
  return alphabet;
}

struct Symbol {
  size_t begin;
  size_t length;  // 0 once merged into the symbol on its left
  int32_t prev;
  int32_t next;
};

struct Bigram {
  int32_t rank;
  int32_t left;
  int32_t right;
  size_t left_length;  // the lengths when queued: a symbol that changed since makes it stale
  size_t right_length;
};

// The queue pops the lowest rank first and, among equal ranks, the leftmost pair.
struct LowerPriority {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

BpeTokenizer::BpeTokenizer(Vocab vocab, std::string pre, std::unique_ptr<PreTokenizer> pretokenizer,
                           const std::vector<std::string>& merges)
    : VocabTokenizer(std::move(vocab), "gpt2", std::move(pre)), pretokenizer_(std::move(pretokenizer)) {
  ranks_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    // The separator is the first space after the first character (a token may start with one).
    if (merges[i].find(' ', 1) == std::string::npos) continue;
    ranks_.emplace(merges[i], static_cast<int32_t>(i));  // a repeated merge keeps its first rank
  }
  build_pieces();
}

std::string BpeTokenizer::normal_piece(int32_t id) const {
  const ByteAlphabet& alphabet = byte_alphabet();
  const std::string& text = vocab_.texts[id];
  std::string piece;
  piece.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const utf8::Step step = utf8::next(text, pos);
    if (step.status == utf8::Status::Valid) {
      const uint32_t cp = utf8::decode(text, pos, step.length);
      if (cp < alphabet.byte_of.size() && alphabet.byte_of[cp] >= 0) {
        piece += static_cast<char>(alphabet.byte_of[cp]);
        pos += step.length;
        continue;
      }
    }
    // Outside the byte alphabet: the token's own text is the best guess.
    piece.append(text, pos, step.length);
    pos += step.length;
  }
  return piece;
}

int32_t BpeTokenizer::rank(std::string_view left, std::string_view right, std::string& scratch) const {
  scratch.assign(left);
  scratch += ' ';
  scratch += right;
  const auto it = ranks_.find(scratch);
  return it == ranks_.end() ? -1 : it->second;
}

void BpeTokenizer::encode_text(std::string_view raw, bool, std::vector<int32_t>& out) const {
  std::string normalized;
  if (pretokenizer_->nfc()) normalized = to_nfc(raw);
  const std::string_view text = pretokenizer_->nfc() ? std::string_view(normalized) : raw;
  const ByteAlphabet& alphabet = byte_alphabet();
  std::string word;
  for (const Span& span : pretokenizer_->split(text)) {
    word.clear();
    for (size_t i = span.begin; i < span.end; ++i) word += alphabet.spelling[static_cast<uint8_t>(text[i])];
    encode_word(word, out);
  }
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (pretokenizer_->ignore_merges()) {
    const int32_t id = vocab_.find(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }

  // The word is valid UTF-8 by construction: one symbol per character.
  std::vector<Symbol> symbols;
  for (size_t pos = 0; pos < word.size();) {
    const size_t length = utf8::lead_length(static_cast<uint8_t>(word[pos]));
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({pos, length, index - 1, index + 1});
    pos += length;
  }
  symbols.back().next = -1;

  std::string scratch;
  std::priority_queue<Bigram, std::vector<Bigram>, LowerPriority> queue;
  const auto text_of = [&](int32_t i) { return word.substr(symbols[i].begin, symbols[i].length); };
  const auto try_pair = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const int32_t r = rank(text_of(left), text_of(right), scratch);
    if (r >= 0) queue.push({r, left, right, symbols[left].length, symbols[right].length});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_pair(i - 1, i);

  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    Symbol& left = symbols[bigram.left];
    Symbol& right = symbols[bigram.right];
    // A symbol only grows by swallowing its right neighbour, so unchanged lengths (and a live
    // right symbol) mean the pair still stands side by side with the same text.
    if (left.length != bigram.left_length || right.length != bigram.right_length || right.length == 0) continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = bigram.left;
    try_pair(left.prev, bigram.left);
    try_pair(bigram.left, left.next);
  }

  for (int32_t i = 0; i != -1; i = symbols[i].next) {
    const std::string_view piece = text_of(i);
    const int32_t id = vocab_.find(piece);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    // A merge produced text outside the vocabulary: fall back to its characters.
    for (size_t pos = 0; pos < piece.size();) {
      const size_t length = utf8::lead_length(static_cast<uint8_t>(piece[pos]));
      const int32_t char_id = vocab_.find(piece.substr(pos, length));
      if (char_id >= 0) {
        out.push_back(char_id);
      } else if (vocab_.unk >= 0) {
        out.push_back(vocab_.unk);
      }
      pos += length;
    }
  }
}

}  // namespace hayate
