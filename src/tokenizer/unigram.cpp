#include "tokenizer/unigram.h"

#include <cstdio>
#include <limits>

#include "core/error.h"
#include "core/utf8.h"
#include "tokenizer/spm.h"

namespace hayate {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581
constexpr float kUnkPenalty = 10.0f;                 // Hugging Face: unk scores min_score - 10

}  // namespace

UnigramTokenizer::UnigramTokenizer(Vocab vocab, std::string pre, bool collapse_spaces, bool byte_fallback)
    : VocabTokenizer(std::move(vocab), "t5", std::move(pre)),
      collapse_spaces_(collapse_spaces),
      byte_fallback_(byte_fallback) {
  if (vocab_.unk < 0 && !byte_fallback_)
    fail(ErrorKind::BadInput, vocab_.source + ": a Unigram vocabulary needs tokenizer.ggml.unknown_token_id");
  float min_score = std::numeric_limits<float>::max();
  for (int32_t id = 0; id < vocab_.size(); ++id) {
    if (vocab_.types[id] != TokenType::Normal && vocab_.types[id] != TokenType::UserDefined) continue;
    max_piece_bytes_ = std::max(max_piece_bytes_, vocab_.texts[id].size());
    min_score = std::min(min_score, vocab_.scores[id]);
  }
  unk_score_ = (min_score == std::numeric_limits<float>::max() ? 0.0f : min_score) - kUnkPenalty;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    byte_tokens_[b] = vocab_.find(name);
  }
  build_pieces();
}

std::string UnigramTokenizer::normal_piece(int32_t id) const { return sentencepiece_piece(vocab_, id); }

void UnigramTokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  // best[i]: the highest score of a cut of word[0, i); from[i]: where its last piece starts and
  // which token it is (-1: an unknown character).
  const size_t n = word.size();
  std::vector<double> best(n + 1, -std::numeric_limits<double>::infinity());
  std::vector<size_t> from(n + 1, 0);
  std::vector<int32_t> token(n + 1, -1);
  best[0] = 0;
  for (size_t start = 0; start < n; ++start) {
    if (best[start] == -std::numeric_limits<double>::infinity()) continue;
    const utf8::Step step = utf8::next(word, start);
    const size_t char_len = step.status == utf8::Status::Valid ? step.length : 1;
    bool single = false;
    for (size_t len = char_len; start + len <= n && len <= max_piece_bytes_;) {
      const int32_t id = vocab_.find(word.substr(start, len));
      if (id >= 0 && (vocab_.types[id] == TokenType::Normal || vocab_.types[id] == TokenType::UserDefined)) {
        const double score = best[start] + vocab_.scores[id];
        if (score > best[start + len]) {
          best[start + len] = score;
          from[start + len] = start;
          token[start + len] = id;
        }
        if (len == char_len) single = true;
      }
      if (start + len >= n) break;
      const utf8::Step next = utf8::next(word, start + len);
      len += next.status == utf8::Status::Valid ? next.length : 1;
    }
    if (!single) {
      const double score = best[start] + unk_score_;
      if (score > best[start + char_len]) {
        best[start + char_len] = score;
        from[start + char_len] = start;
        token[start + char_len] = -1;
      }
    }
  }
  std::vector<std::pair<size_t, int32_t>> cut;  // (start, token) from the end backwards
  for (size_t end = n; end > 0; end = from[end]) cut.emplace_back(from[end], token[end]);
  bool last_unknown = false;
  for (auto it = cut.rbegin(); it != cut.rend(); ++it) {
    const auto [start, id] = *it;
    if (id >= 0) {
      out.push_back(id);
      last_unknown = false;
      continue;
    }
    if (byte_fallback_) {
      const size_t stop = (it + 1 == cut.rend()) ? n : (it + 1)->first;
      for (size_t b = start; b < stop; ++b) {
        const int32_t byte = byte_tokens_[static_cast<uint8_t>(word[b])];
        out.push_back(byte >= 0 ? byte : vocab_.unk);
      }
    } else if (!last_unknown) {
      out.push_back(vocab_.unk);  // consecutive unknown characters fuse into one <unk>
    }
    last_unknown = true;
  }
}

void UnigramTokenizer::encode_text(std::string_view text, bool, std::vector<int32_t>& out) const {
  std::string s;
  s.reserve(text.size() + kSpace.size());
  bool previous_space = false;
  for (char c : text) {
    if (c == ' ') {
      if (collapse_spaces_ && previous_space) continue;
      previous_space = true;
      s += kSpace;
    } else {
      previous_space = false;
      s += c;
    }
  }
  if (s.empty()) return;
  if (vocab_.add_space_prefix && !std::string_view(s).starts_with(kSpace)) s.insert(0, kSpace);
  // Metaspace's split: each word starts at a U+2581 and runs to the next.
  size_t begin = 0;
  for (size_t pos = 1; pos <= s.size(); ++pos) {
    if (pos == s.size() || std::string_view(s).substr(pos).starts_with(kSpace)) {
      encode_word(std::string_view(s).substr(begin, pos - begin), out);
      begin = pos;
    }
  }
}

}  // namespace hayate
