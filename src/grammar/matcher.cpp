#include "grammar/matcher.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "core/error.h"

namespace hayate::grammar {
namespace {

void set_bit(std::vector<uint64_t>& bits, int32_t id) {
  bits[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
}
bool get_bit(const std::vector<uint64_t>& bits, int32_t id) {
  return (bits[static_cast<size_t>(id) >> 6] >> (id & 63)) & 1;
}

// For each rule, the parent its nodes have whatever the input: the return position of its
// references, when they all return to one place, up through rules for which that holds too;
// kContext where it stops (a rule used in different places, or recursion), kBottom for a root
// nothing refers to. A reference followed by End returns where its own rule would (a tail call),
// so references at the ends of one rule's alternatives count as one place, and a rule calling
// itself last (a loop) adds none.
std::vector<int32_t> static_parents(const Grammar& g, Stacks& stacks) {
  const size_t n = g.rules.size();
  // Each rule's one return place: a position to resume at (>= 0), or the rule whose return it
  // shares (-2 - rule); kMany when there are several; kNone when unused.
  constexpr int32_t kNone = std::numeric_limits<int32_t>::max(), kMany = std::numeric_limits<int32_t>::min() + 1;
  std::vector<int32_t> place(n, kNone);
  for (size_t p = 0; p < g.elements.size(); ++p) {
    const Element& e = g.elements[p];
    if (e.kind != Element::Rule) continue;
    const bool tail = g.elements[p + 1].kind == Element::End;
    const int32_t owner = g.rule_of[p];
    if (tail && owner == e.index) continue;
    const int32_t here = tail ? -2 - owner : static_cast<int32_t>(p + 1);
    int32_t& slot = place[static_cast<size_t>(e.index)];
    slot = slot == kNone || slot == here ? here : kMany;
  }
  constexpr int32_t kUnknown = std::numeric_limits<int32_t>::min();
  std::vector<int32_t> parent(n, kUnknown);
  std::vector<uint8_t> visiting(n, 0);
  for (size_t start = 0; start < n; ++start) {
    // Walk up to a rule whose parent is known or fixed, then fill the chain back down.
    std::vector<int32_t> chain;
    int32_t r = static_cast<int32_t>(start);
    int32_t top;
    while (true) {
      const auto ur = static_cast<size_t>(r);
      if (parent[ur] != kUnknown) {
        top = parent[ur];
        break;
      }
      if (r == g.root) {
        top = parent[ur] = place[ur] == kNone ? Stacks::kBottom : Stacks::kContext;
        break;
      }
      if (place[ur] == kNone || place[ur] == kMany || visiting[ur]) {
        top = Stacks::kContext;
        if (!visiting[ur]) parent[ur] = top;
        break;
      }
      visiting[ur] = 1;
      chain.push_back(r);
      r = place[ur] >= 0 ? g.rule_of[static_cast<size_t>(place[ur])] : -2 - place[ur];
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      const auto ur = static_cast<size_t>(*it);
      visiting[ur] = 0;
      if (place[ur] >= 0) top = stacks.intern(place[ur], top);
      parent[ur] = top;
    }
  }
  return parent;
}

}  // namespace

size_t CompiledGrammar::KeyHash::operator()(const std::vector<int32_t>& k) const {
  uint64_t h = 0xcbf29ce484222325ull;
  for (int32_t v : k) {
    h ^= uint32_t(v);
    h *= 0x100000001b3ull;
  }
  return static_cast<size_t>(h ^ (h >> 29));
}

CompiledGrammar::CompiledGrammar(Grammar grammar, std::shared_ptr<const Vocabulary> vocab, const CompileLimits& limits)
    : grammar_(std::move(grammar)), vocab_(std::move(vocab)), max_cache_bytes_(limits.max_cache_bytes) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto& tokens = vocab_->tokens;
  for (size_t id = 0; id < tokens.size(); ++id)
    if (!tokens[id].empty()) sorted_.push_back(static_cast<int32_t>(id));
  std::sort(sorted_.begin(), sorted_.end(),
            [&](int32_t a, int32_t b) { return tokens[static_cast<size_t>(a)] < tokens[static_cast<size_t>(b)]; });

  Stacks stacks(grammar_);
  const std::vector<int32_t> parents = static_parents(grammar_, stacks);
  tables_.resize(grammar_.elements.size());
  for (size_t p = 0; p < grammar_.elements.size(); ++p) {
    if (grammar_.elements[p].kind != Element::Bytes) continue;
    compile_position(stacks, static_cast<int32_t>(p), parents[static_cast<size_t>(grammar_.rule_of[p])], limits);
  }
  compile_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

size_t CompiledGrammar::n_uncertain() const {
  size_t n = 0;
  for (const Table& t : tables_) n += t.uncertain.size();
  return n;
}

// Walks the sorted vocabulary from one position: level k holds the state after the first k
// bytes of the current token, reused by the next token as far as they share a prefix; a dead
// prefix skips every token that starts with it.
void CompiledGrammar::compile_position(Stacks& stacks, int32_t pos, int32_t parent, const CompileLimits& limits) {
  const auto& tokens = vocab_->tokens;
  std::vector<StackSet> level(1);
  std::vector<uint8_t> popped_by(1, 0);  // a rule popped to the unknown context within the first k bytes
  level[0].nodes.push_back(stacks.intern(pos, parent));
  std::vector<int32_t> accepted;
  Table& table = tables_[static_cast<size_t>(pos)];
  const std::string* prev = nullptr;
  size_t valid = 0;  // levels [0, valid] hold the prefix of *prev
  for (size_t i = 0; i < sorted_.size();) {
    const int32_t id = sorted_[i];
    const std::string& t = tokens[static_cast<size_t>(id)];
    size_t k = 0;
    if (prev) {
      const size_t limit = std::min({valid, t.size(), prev->size()});
      while (k < limit && t[k] == (*prev)[k]) ++k;
    }
    while (k < t.size() && !level[k].nodes.empty()) {
      if (level.size() < k + 2) {
        level.resize(k + 2);
        popped_by.resize(k + 2);
      }
      stacks.advance(level[k], static_cast<uint8_t>(t[k]), level[k + 1]);
      popped_by[k + 1] = popped_by[k] | level[k + 1].context;
      ++k;
    }
    if (stacks.steps() > limits.max_steps)
      fail(ErrorKind::BadInput, "grammar: matching it against the model's vocabulary takes more than " +
                                    std::to_string(limits.max_steps) + " steps; make the grammar or schema smaller");
    valid = k;
    prev = &t;
    if (k < t.size()) {
      // The prefix t[0, k) leaves no stack: every token that starts with it fares the same.
      const bool uncertain = popped_by[k];
      const std::string_view prefix(t.data(), k);
      size_t j = i;
      while (j < sorted_.size() && std::string_view(tokens[static_cast<size_t>(sorted_[j])]).substr(0, k) == prefix) {
        if (uncertain) table.uncertain.push_back(sorted_[j]);
        ++j;
      }
      i = j;
      continue;
    }
    const StackSet& end = level[k];
    if (!end.nodes.empty() || end.accepting || end.context)
      accepted.push_back(id);
    else if (k > 0 && popped_by[k - 1])
      table.uncertain.push_back(id);
    ++i;
  }
  if (accepted.size() * 32 < tokens.size()) {
    table.accepted_ids = std::move(accepted);
  } else {
    table.accepted_bits.assign(n_words(), 0);
    for (int32_t id : accepted) set_bit(table.accepted_bits, id);
  }
}

bool CompiledGrammar::cached(const std::vector<int32_t>& key, std::vector<uint64_t>& bits) const {
  std::lock_guard lk(mu_);
  const auto it = cache_.find(key);
  if (it == cache_.end()) return false;
  bits = it->second;
  return true;
}

void CompiledGrammar::remember(std::vector<int32_t> key, const std::vector<uint64_t>& bits) const {
  std::lock_guard lk(mu_);
  const size_t cost = bits.size() * 8 + key.size() * 4 + 64;
  if (cache_bytes_ + cost > max_cache_bytes_) {
    cache_.clear();
    cache_bytes_ = 0;
  }
  if (cache_.emplace(std::move(key), bits).second) cache_bytes_ += cost;
}

Matcher::Matcher(std::shared_ptr<const CompiledGrammar> compiled)
    : compiled_(std::move(compiled)), stacks_(compiled_->grammar_) {
  stacks_.start(state_);
}

void Matcher::fill_allowed(std::vector<uint64_t>& bits) {
  const CompiledGrammar& c = *compiled_;
  // The state's key: each stack's positions from the top down, then whether it may end.
  key_.clear();
  for (int32_t n : state_.nodes) {
    for (int32_t x = n; x >= 0; x = stacks_.parent(x)) key_.push_back(stacks_.pos(x));
    key_.push_back(-1);
  }
  key_.push_back(state_.accepting ? 1 : 0);
  if (c.cached(key_, bits)) return;

  bits.assign(c.n_words(), 0);
  const auto& tokens = c.vocab_->tokens;
  for (int32_t n : state_.nodes) {
    const CompiledGrammar::Table& t = c.tables_[static_cast<size_t>(stacks_.pos(n))];
    if (!t.accepted_bits.empty()) {
      for (size_t w = 0; w < bits.size(); ++w) bits[w] |= t.accepted_bits[w];
    } else {
      for (int32_t id : t.accepted_ids) set_bit(bits, id);
    }
    for (int32_t id : t.uncertain) {
      if (get_bit(bits, id)) continue;
      const std::string& b = tokens[static_cast<size_t>(id)];
      if (stacks_.accepts(n, reinterpret_cast<const uint8_t*>(b.data()), b.size())) set_bit(bits, id);
    }
  }
  if (state_.accepting)
    for (int32_t id : c.vocab_->end_ids)
      if (id >= 0 && static_cast<size_t>(id) < tokens.size()) set_bit(bits, id);
  c.remember(key_, bits);
}

void Matcher::mask(std::span<float> logits) {
  fill_allowed(bits_);
  const size_t n_tokens = compiled_->vocab_->tokens.size();
  bool any = false;
  for (uint64_t w : bits_) any = any || w != 0;
  if (!any)
    for (int32_t id : compiled_->vocab_->end_ids)
      if (id >= 0 && static_cast<size_t>(id) < n_tokens) set_bit(bits_, id);
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const size_t n = std::min(logits.size(), n_tokens);
  for (size_t w = 0; w * 64 < n; ++w) {
    const uint64_t word = bits_[w];
    if (word == ~uint64_t{0}) continue;
    const size_t end = std::min(n, w * 64 + 64);
    for (size_t i = w * 64; i < end; ++i)
      if (!((word >> (i & 63)) & 1)) logits[i] = kNegInf;
  }
  for (size_t i = n; i < logits.size(); ++i) logits[i] = kNegInf;
}

bool Matcher::accept_bytes(std::string_view bytes) {
  StackSet cur = state_;
  for (unsigned char b : bytes) {
    if (cur.nodes.empty()) return false;
    stacks_.advance(cur, b, next_);
    std::swap(cur, next_);
  }
  if (cur.nodes.empty() && !cur.accepting) return false;
  state_ = std::move(cur);
  return true;
}

bool Matcher::accept(int32_t id) {
  const auto& v = *compiled_->vocab_;
  if (std::find(v.end_ids.begin(), v.end_ids.end(), id) != v.end_ids.end()) {
    if (!state_.accepting) return false;
    state_.nodes.clear();
    return true;
  }
  if (id < 0 || static_cast<size_t>(id) >= v.tokens.size() || v.tokens[static_cast<size_t>(id)].empty()) return false;
  return accept_bytes(v.tokens[static_cast<size_t>(id)]);
}

}  // namespace hayate::grammar
