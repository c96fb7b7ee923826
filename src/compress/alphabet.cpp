#include "compress/alphabet.h"

#include "compress/hash.h"
#include "core/utf8.h"

namespace hayate::compress {
namespace {

// Text is handed to the tokenizer in pieces of about this size, cut after a line break, so a
// piece the tokenizer cannot spell exactly costs only that piece its fallback.
constexpr size_t kTextPiece = 16 * 1024;

}  // namespace

Alphabet::Alphabet(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {
  const int32_t n = tokenizer.n_vocab();
  pieces_.resize(static_cast<size_t>(n));
  std::fill(std::begin(byte_token_), std::end(byte_token_), -1);
  for (int32_t id = 0; id < n; ++id) {
    // Control and unknown tokens spell nothing: they are never coded.
    const TokenType type = tokenizer.token_type(id);
    if (type == TokenType::Control || type == TokenType::Unknown) continue;
    pieces_[static_cast<size_t>(id)] = tokenizer.token_to_piece(id, false);
    const std::string& p = pieces_[static_cast<size_t>(id)];
    if (p.size() == 1 && byte_token_[static_cast<uint8_t>(p[0])] < 0) byte_token_[static_cast<uint8_t>(p[0])] = id;
  }
  start_token_ = tokenizer.bos_id() >= 0 ? tokenizer.bos_id() : tokenizer.eos_id() >= 0 ? tokenizer.eos_id() : 0;
}

Alphabet Alphabet::bytes_only(int32_t n_tokens) {
  Alphabet a;
  a.pieces_.resize(static_cast<size_t>(n_tokens));
  std::fill(std::begin(a.byte_token_), std::end(a.byte_token_), -1);
  for (int32_t b = 0; b < 256 && b < n_tokens; ++b) {
    a.pieces_[static_cast<size_t>(b)] = std::string(1, static_cast<char>(b));
    a.byte_token_[b] = b;
  }
  return a;
}

void Alphabet::symbolize_byte(uint8_t b, std::vector<int32_t>& out) const {
  out.push_back(byte_token_[b] >= 0 ? byte_token_[b] : n_tokens() + b);
}

bool Alphabet::spells(const std::vector<int32_t>& ids, std::string_view text) const {
  size_t at = 0;
  for (int32_t id : ids) {
    if (id < 0 || id >= n_tokens()) return false;
    const std::string& p = pieces_[static_cast<size_t>(id)];
    if (p.empty() || text.substr(at, p.size()) != p) return false;
    at += p.size();
  }
  return at == text.size();
}

void Alphabet::symbolize_text(std::string_view text, std::vector<int32_t>& out) const {
  if (tokenizer_) {
    std::vector<int32_t> ids = tokenizer_->encode(text, false, false);
    if (spells(ids, text)) {
      out.insert(out.end(), ids.begin(), ids.end());
      return;
    }
    // Halves cut at white space, then characters: only what the tokenizer changes (a
    // normalised character, a space it adds) falls back to smaller symbols.
    if (text.size() > 64) {
      const size_t cut = text.find_first_of(" \n", text.size() / 2);
      if (cut != std::string_view::npos && cut > 0) {
        symbolize_text(text.substr(0, cut), out);
        symbolize_text(text.substr(cut), out);
        return;
      }
    }
    if (text.size() > 4) {
      for (size_t at = 0; at < text.size();) {
        const size_t len = utf8::valid_length(text, at);
        symbolize_text(text.substr(at, len), out);
        at += len;
      }
      return;
    }
  }
  for (char c : text) symbolize_byte(static_cast<uint8_t>(c), out);
}

std::vector<int32_t> Alphabet::symbolize(std::string_view bytes) const {
  std::vector<int32_t> out;
  out.reserve(bytes.size() / 3 + 16);
  size_t at = 0;
  while (at < bytes.size()) {
    // The longest valid UTF-8 run from here, cut into pieces after a line break.
    size_t end = at;
    while (end < bytes.size() && end - at < kTextPiece) {
      const size_t len = utf8::valid_length(bytes, end);
      if (len == 0) break;
      end += len;
    }
    if (end - at >= kTextPiece) {
      const size_t nl = bytes.substr(at, end - at).rfind('\n');
      if (nl != std::string_view::npos && nl > 0) end = at + nl + 1;
    }
    if (end > at) {
      symbolize_text(bytes.substr(at, end - at), out);
      at = end;
    }
    while (at < bytes.size() && utf8::valid_length(bytes, at) == 0)
      symbolize_byte(static_cast<uint8_t>(bytes[at++]), out);
  }
  return out;
}

void Alphabet::append_bytes(int32_t symbol, std::string& out) const {
  if (is_escaped(symbol))
    out.push_back(static_cast<char>(symbol - n_tokens()));
  else
    out += pieces_[static_cast<size_t>(symbol)];
}

uint64_t Alphabet::hash() const {
  Hasher h;
  h.add_u64(pieces_.size());
  for (const std::string& p : pieces_) {
    h.add_u64(p.size());
    h.add(p);
  }
  h.add_u64(static_cast<uint64_t>(start_token_));
  return h.digest();
}

}  // namespace hayate::compress
