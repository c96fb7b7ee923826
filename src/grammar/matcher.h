// A grammar compiled against a model's vocabulary, and the per-sequence matcher that yields the
// allowed tokens at each step.
//
// Compiling walks the sorted vocabulary once per grammar position that a token can start at,
// with the stacks above that position's rule known only as far as they are fixed by the grammar
// (a rule used in one place returns to one place). Each token is then, for that position,
// accepted (its bytes fit whatever surrounds the rule), rejected (they fit nothing), or
// uncertain (they run past the end of the rule into a context only the running match knows).
// At run time the mask of a state is the union of its positions' accepted tokens plus the
// uncertain ones its real stacks accept, which is usually a small share of the vocabulary; masks
// are also kept per state (by the positions of its stacks), shared by every matcher of the
// grammar, so a state seen before costs one lookup.
//
//   auto vocab = std::make_shared<Vocabulary>(...);            // once per model
//   auto compiled = std::make_shared<const CompiledGrammar>(parse_gbnf(text), vocab);
//   Matcher m(compiled);
//   m.fill_allowed(bits); ... m.accept(id) ...
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "grammar/grammar.h"
#include "grammar/stacks.h"

namespace hayate::grammar {

// The model's tokens as the bytes they add to the text.
struct Vocabulary {
  std::vector<std::string> tokens;  // by id; empty: never allowed by a grammar (control tokens)
  std::vector<int32_t> end_ids;     // end-of-generation ids: allowed where the grammar may end
};

struct CompileLimits {
  uint64_t max_steps = 50'000'000;     // byte steps while walking the vocabulary (a few seconds)
  size_t max_cache_bytes = 64u << 20;  // masks kept per state
};

class CompiledGrammar {
 public:
  // Error(BadInput) when the walk would take more than limits.max_steps byte steps.
  CompiledGrammar(Grammar grammar, std::shared_ptr<const Vocabulary> vocab, const CompileLimits& limits = {});

  const Grammar& grammar() const { return grammar_; }
  const Vocabulary& vocab() const { return *vocab_; }
  size_t n_words() const { return (vocab_->tokens.size() + 63) / 64; }
  double compile_seconds() const { return compile_seconds_; }
  size_t n_uncertain() const;  // uncertain tokens over all positions (for benchmarks and tests)
  size_t uncertain_at(size_t pos) const { return tables_[pos].uncertain.size(); }

 private:
  friend class Matcher;
  struct Table {
    std::vector<int32_t> accepted_ids;    // when few
    std::vector<uint64_t> accepted_bits;  // when many
    std::vector<int32_t> uncertain;
  };
  void compile_position(Stacks& stacks, int32_t pos, int32_t parent, const CompileLimits& limits);
  // The mask cache, by the positions of a state's stacks.
  bool cached(const std::vector<int32_t>& key, std::vector<uint64_t>& bits) const;
  void remember(std::vector<int32_t> key, const std::vector<uint64_t>& bits) const;

  Grammar grammar_;
  std::shared_ptr<const Vocabulary> vocab_;
  std::vector<int32_t> sorted_;  // non-empty token ids by their bytes
  std::vector<Table> tables_;    // by position (Bytes elements only)
  double compile_seconds_ = 0;
  size_t max_cache_bytes_;

  struct KeyHash {
    size_t operator()(const std::vector<int32_t>& k) const;
  };
  mutable std::mutex mu_;
  mutable std::unordered_map<std::vector<int32_t>, std::vector<uint64_t>, KeyHash> cache_;
  mutable size_t cache_bytes_ = 0;
};

// One sequence's match. Not thread-safe; the compiled grammar may be shared.
class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const CompiledGrammar> compiled);

  // bits (n_words() words): the ids allowed next; end ids when the grammar may end here.
  void fill_allowed(std::vector<uint64_t>& bits);
  // Sets the logits of ids not allowed to -inf (ids past the vocabulary too). When nothing is
  // allowed (a vocabulary that cannot spell what the grammar needs) the end ids stay allowed.
  void mask(std::span<float> logits);
  // Feeds a chosen id: false when the grammar does not allow it (the state is then unchanged).
  bool accept(int32_t id);
  // Feeds text, byte by byte (tests, and checking a whole output); false when not allowed.
  bool accept_bytes(std::string_view bytes);
  bool can_end() const { return state_.accepting; }
  // The grammar has ended: nothing more can follow.
  bool done() const { return state_.nodes.empty(); }

 private:
  std::shared_ptr<const CompiledGrammar> compiled_;
  Stacks stacks_;
  StackSet state_, next_;
  std::vector<int32_t> key_;
  std::vector<uint64_t> bits_;
};

}  // namespace hayate::grammar
