#include "tokenizer/spm.h"

#include <cstdio>
#include <queue>

#include "core/utf8.h"

namespace hayate {
namespace {

constexpr std::string_view kVisibleSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

struct Symbol {
  size_t begin;
  size_t length;  // 0 once merged into the symbol on its left
  int32_t prev;
  int32_t next;
};

struct Bigram {
  float score;
  int32_t left;
  int32_t right;
  size_t length;  // of the merged text; a symbol that grew since makes the entry stale
};

// The queue pops the highest score first and, among equal scores, the leftmost pair.
struct LowerPriority {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

SpmTokenizer::SpmTokenizer(Vocab vocab, std::string pre) : VocabTokenizer(std::move(vocab), "llama", std::move(pre)) {
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    int32_t id = vocab_.find(name);
    if (id < 0) id = vocab_.find(std::string(1, static_cast<char>(b)));
    byte_tokens_[b] = id;
  }
  build_pieces();
}

std::string sentencepiece_piece(const Vocab& vocab, int32_t id) {
  const std::string& text = vocab.texts[id];
  if (vocab.types[id] == TokenType::Byte) {
    if (text.size() == 6 && text.starts_with("<0x") && text[5] == '>') {
      const int hi = hex_value(text[3]);
      const int lo = hex_value(text[4]);
      if (hi >= 0 && lo >= 0) return std::string(1, static_cast<char>(hi * 16 + lo));
    }
    return text;  // a byte token not spelled <0xXX>: its text is the best guess
  }
  std::string piece;
  piece.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    if (text.compare(pos, kVisibleSpace.size(), kVisibleSpace) == 0) {
      piece += ' ';
      pos += kVisibleSpace.size();
    } else {
      piece += text[pos++];
    }
  }
  return piece;
}

std::string SpmTokenizer::normal_piece(int32_t id) const { return sentencepiece_piece(vocab_, id); }

void SpmTokenizer::append_bytes(std::string_view bytes, std::vector<int32_t>& out) const {
  for (char c : bytes) {
    const int32_t id = byte_tokens_[static_cast<uint8_t>(c)];
    if (id >= 0) {
      out.push_back(id);
    } else if (vocab_.unk >= 0) {
      out.push_back(vocab_.unk);
    }
  }
}

void SpmTokenizer::encode_text(std::string_view text, bool first_or_after_special, std::vector<int32_t>& out) const {
  std::string escaped;
  escaped.reserve(text.size() + kVisibleSpace.size());
  if (first_or_after_special && vocab_.add_space_prefix) escaped += kVisibleSpace;
  for (char c : text) {
    if (c == ' ') {
      escaped += kVisibleSpace;
    } else {
      escaped += c;
    }
  }
  if (escaped.empty()) return;
  const std::string_view s = escaped;

  // One symbol per UTF-8 character. A byte that starts no valid character is a symbol of its
  // own (llama.cpp would glue the following bytes to it and lose escaped spaces into <0xXX>).
  std::vector<Symbol> symbols;
  symbols.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) {
    const utf8::Step step = utf8::next(s, pos);
    const size_t length = step.status == utf8::Status::Valid ? step.length : 1;
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({pos, length, index - 1, index + 1});
    pos += length;
  }
  symbols.back().next = -1;

  std::priority_queue<Bigram, std::vector<Bigram>, LowerPriority> queue;
  const auto try_pair = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const std::string_view merged = s.substr(symbols[left].begin, symbols[left].length + symbols[right].length);
    const int32_t id = vocab_.find(merged);
    if (id >= 0) queue.push({vocab_.scores[id], left, right, merged.size()});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_pair(i - 1, i);

  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    Symbol& left = symbols[bigram.left];
    Symbol& right = symbols[bigram.right];
    if (left.length == 0 || right.length == 0 || left.length + right.length != bigram.length) continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = bigram.left;
    try_pair(left.prev, bigram.left);
    try_pair(bigram.left, left.next);
  }

  for (int32_t i = 0; i != -1; i = symbols[i].next) {
    const std::string_view piece = s.substr(symbols[i].begin, symbols[i].length);
    const int32_t id = vocab_.find(piece);
    if (id >= 0) {
      out.push_back(id);
    } else {
      append_bytes(piece, out);
    }
  }
}

}  // namespace hayate
