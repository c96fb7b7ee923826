#include "tokenizer/special_tokens.h"

#include <algorithm>

namespace hayate {

SpecialTokenSplitter::SpecialTokenSplitter(const Vocab& vocab) : vocab_(vocab) {
  for (int32_t id = 0; id < vocab.size(); ++id) {
    const TokenType type = vocab.types[id];
    const bool special = type == TokenType::Control || type == TokenType::UserDefined || type == TokenType::Unknown;
    if (special && !vocab.texts[id].empty()) specials_.push_back(id);
  }
  std::stable_sort(specials_.begin(), specials_.end(),
                   [&](int32_t a, int32_t b) { return vocab.texts[a].size() > vocab.texts[b].size(); });

  terminal_rank_.push_back(-1);  // the root
  for (size_t rank = 0; rank < specials_.size(); ++rank) {
    const int32_t id = specials_[rank];
    always_.push_back(vocab.types[id] == TokenType::UserDefined);
    const std::string& text = vocab.texts[id];
    starts_[static_cast<uint8_t>(text[0])] = true;
    int32_t node = 0;
    for (char c : text) {
      const uint64_t key = (static_cast<uint64_t>(node) << 8) | static_cast<uint8_t>(c);
      const auto [it, inserted] = edges_.emplace(key, static_cast<int32_t>(terminal_rank_.size()));
      if (inserted) terminal_rank_.push_back(-1);
      node = it->second;
    }
    // Two tokens with the same text: the first (lower id) keeps it, as the vocabulary map does.
    if (terminal_rank_[node] < 0) terminal_rank_[node] = static_cast<int32_t>(rank);
  }
}

bool SpecialTokenSplitter::find_present(std::string_view text, bool parse_special, std::vector<bool>& present) const {
  bool any = false;
  for (size_t pos = 0; pos < text.size(); ++pos) {
    if (!starts_[static_cast<uint8_t>(text[pos])]) continue;
    int32_t node = 0;
    for (size_t k = pos; k < text.size(); ++k) {
      node = child(node, static_cast<uint8_t>(text[k]));
      if (node < 0) break;
      const int32_t rank = terminal_rank_[node];
      if (rank >= 0 && (parse_special || always_[rank])) present[rank] = any = true;
    }
  }
  return any;
}

std::vector<Fragment> SpecialTokenSplitter::split(std::string_view text, bool parse_special) const {
  std::vector<Fragment> fragments;
  if (text.empty()) return fragments;

  std::vector<bool> present(specials_.size(), false);
  if (specials_.empty() || !find_present(text, parse_special, present)) {
    fragments.push_back({-1, 0, text.size()});
    return fragments;
  }

  // Tokens are visited longest first, so a claimed span is never shorter than the token being
  // placed: the token overlaps one exactly when its first or last byte is already claimed.
  std::vector<bool> claimed(text.size(), false);
  std::vector<Fragment> matches;
  for (size_t rank = 0; rank < specials_.size(); ++rank) {
    if (!present[rank]) continue;
    const int32_t id = specials_[rank];
    const std::string& token = vocab_.texts[id];
    for (size_t pos = text.find(token); pos != std::string_view::npos; pos = text.find(token, pos)) {
      const size_t end = pos + token.size();
      if (claimed[pos] || claimed[end - 1]) {
        ++pos;
        continue;
      }
      std::fill(claimed.begin() + static_cast<ptrdiff_t>(pos), claimed.begin() + static_cast<ptrdiff_t>(end), true);
      matches.push_back({id, pos, end});
      pos = end;
    }
  }

  std::sort(matches.begin(), matches.end(), [](const Fragment& a, const Fragment& b) { return a.begin < b.begin; });
  size_t pos = 0;
  for (const Fragment& m : matches) {
    if (m.begin > pos) fragments.push_back({-1, pos, m.begin});
    fragments.push_back(m);
    pos = m.end;
  }
  if (pos < text.size()) fragments.push_back({-1, pos, text.size()});
  return fragments;
}

}  // namespace hayate
