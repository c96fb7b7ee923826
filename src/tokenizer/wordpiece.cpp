#include "tokenizer/wordpiece.h"

#include "core/error.h"
#include "core/utf8.h"

namespace hayate {
namespace {

constexpr std::string_view kWordStart = "\xE2\x96\x81";  // U+2581

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(Vocab vocab, std::string pre, BertTextOptions text)
    : VocabTokenizer(std::move(vocab), "bert", std::move(pre)), text_(text) {
  if (text_.lowercase != text_.strip_accents)
    fail(ErrorKind::Unsupported, vocab_.source +
                                     ": a WordPiece normaliser that lower-cases without stripping "
                                     "accents (or the reverse) is not supported");
  if (vocab_.unk < 0)
    fail(ErrorKind::BadInput, vocab_.source + ": a WordPiece vocabulary needs tokenizer.ggml.unknown_token_id");
  build_pieces();
}

std::string WordPieceTokenizer::normal_piece(int32_t id) const {
  const std::string& text = vocab_.texts[id];
  if (!text.starts_with(kWordStart)) return text;
  std::string piece(1, ' ');
  piece.append(text, kWordStart.size());
  return piece;
}

void WordPieceTokenizer::encode_word(const std::string& word, std::vector<int32_t>& out) const {
  size_t chars = 0;
  for (size_t p = 0; p < word.size(); p += utf8::valid_length(word, p)) ++chars;
  if (chars > kMaxWordChars) {
    out.push_back(vocab_.unk);
    return;
  }
  const size_t mark = out.size();
  std::string candidate;
  for (size_t start = 0; start < word.size();) {
    int32_t found = -1;
    size_t found_end = 0;
    // Longest match first: shrink the end one character at a time.
    for (size_t end = word.size(); end > start;) {
      candidate.clear();
      if (start == 0) candidate = kWordStart;
      candidate.append(word, start, end - start);
      found = vocab_.find(candidate);
      if (found >= 0 && !vocab_.is_special(found)) {
        found_end = end;
        break;
      }
      found = -1;
      do --end;
      while (end > start && (static_cast<uint8_t>(word[end]) & 0xC0) == 0x80);
    }
    if (found < 0) {
      out.resize(mark);
      out.push_back(vocab_.unk);
      return;
    }
    out.push_back(found);
    start = found_end;
  }
}

void WordPieceTokenizer::encode_text(std::string_view text, bool, std::vector<int32_t>& out) const {
  for (const std::string& word : bert_words(text, text_)) encode_word(word, out);
}

}  // namespace hayate
