// Finds special tokens written literally in the text before ordinary tokenization runs.
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/vocab.h"

namespace hayate {

struct Fragment {
  int32_t token;  // the special token, or -1 for ordinary text
  size_t begin;   // the bytes of the text this fragment covers
  size_t end;
};

// Follows llama.cpp: user-defined tokens are always matched (HF tokenizers treat added tokens
// that way), control and unknown-type tokens only when parse_special is set. Longer tokens win:
// each token, longest first, claims its leftmost non-overlapping occurrences in the text not
// yet claimed, so "<|im_start|>" is never cut short by a shorter token inside it.
class SpecialTokenSplitter {
 public:
  explicit SpecialTokenSplitter(const Vocab& vocab);

  std::vector<Fragment> split(std::string_view text, bool parse_special) const;

 private:
  // Marks, by rank, the specials that occur in `text` at all; returns whether any does.
  bool find_present(std::string_view text, bool parse_special, std::vector<bool>& present) const;
  int32_t child(int32_t node, uint8_t byte) const {
    const auto it = edges_.find((static_cast<uint64_t>(node) << 8) | byte);
    return it == edges_.end() ? -1 : it->second;
  }

  const Vocab& vocab_;
  std::vector<int32_t> specials_;                // token ids, longest text first, ties by id
  std::vector<bool> always_;                     // by rank: matched even without parse_special
  std::vector<int32_t> terminal_rank_;           // by trie node: the special ending there, or -1
  std::unordered_map<uint64_t, int32_t> edges_;  // (node << 8 | byte) -> child node
  bool starts_[256] = {};                        // bytes a special can start with
};

}  // namespace hayate
