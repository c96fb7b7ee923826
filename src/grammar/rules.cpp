#include "grammar/rules.h"

#include <algorithm>
#include <functional>

#include "core/error.h"
#include "core/utf8.h"

namespace hayate::grammar {
namespace {

[[noreturn]] void bad(const std::string& what) { fail(ErrorKind::BadInput, "grammar: " + what); }

Ranges normalized(Ranges r) {
  // Surrogates are not characters: no UTF-8 encodes them.
  Ranges out;
  for (const Range& x : r) {
    if (x.hi > 0x10FFFF) continue;
    if (x.lo <= 0xDFFF && x.hi >= 0xD800) {
      if (x.lo < 0xD800) out.push_back({x.lo, 0xD7FF});
      if (x.hi > 0xDFFF) out.push_back({0xE000, x.hi});
    } else {
      out.push_back(x);
    }
  }
  std::sort(out.begin(), out.end(), [](const Range& a, const Range& b) { return a.lo < b.lo; });
  Ranges merged;
  for (const Range& x : out) {
    if (!merged.empty() && x.lo <= merged.back().hi + 1)
      merged.back().hi = std::max(merged.back().hi, x.hi);
    else
      merged.push_back(x);
  }
  return merged;
}

std::string utf8(uint32_t cp) {
  std::string s;
  append_utf8(s, cp);
  return s;
}

// Splits [lo, hi] (same encoded length, no surrogates) into runs whose UTF-8 forms are
// byte-wise ranges: each run is a list of (low byte, high byte) per position.
void utf8_runs(uint32_t lo, uint32_t hi, std::vector<std::vector<std::pair<uint8_t, uint8_t>>>& out) {
  static constexpr uint32_t kMax[] = {0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
  for (int n = 0; n < 3; ++n) {
    if (lo <= kMax[n] && hi > kMax[n]) {
      utf8_runs(lo, kMax[n], out);
      utf8_runs(kMax[n] + 1, hi, out);
      return;
    }
  }
  const std::string a = utf8(lo), b = utf8(hi);
  for (size_t i = 1; i < a.size(); ++i) {
    const uint32_t m = (uint32_t{1} << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        utf8_runs(lo, lo | m, out);
        utf8_runs((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        utf8_runs(lo, (hi & ~m) - 1, out);
        utf8_runs(hi & ~m, hi, out);
        return;
      }
    }
  }
  std::vector<std::pair<uint8_t, uint8_t>> run;
  for (size_t i = 0; i < a.size(); ++i) run.emplace_back(uint8_t(a[i]), uint8_t(b[i]));
  out.push_back(std::move(run));
}

}  // namespace

bool append_utf8(std::string& out, uint32_t cp) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  utf8::append_codepoint(out, cp);
  return true;
}

Ranges complement(const Ranges& ranges) {
  Ranges in = normalized(ranges), out;
  uint32_t next = 0;
  for (const Range& r : in) {
    if (r.lo > next) out.push_back({next, r.lo - 1});
    next = r.hi + 1;
  }
  if (next <= 0x10FFFF) out.push_back({next, 0x10FFFF});
  return normalized(out);
}

int32_t RuleSet::id(const std::string& name) {
  const auto it = by_name.find(name);
  if (it != by_name.end()) return it->second;
  const auto id = static_cast<int32_t>(names.size());
  names.push_back(name);
  alts.emplace_back();
  defined.push_back(false);
  by_name.emplace(name, id);
  return id;
}

int32_t RuleSet::helper(const std::string& base) {
  const auto id = static_cast<int32_t>(names.size());
  names.push_back(base + "-" + std::to_string(++n_helpers));
  alts.emplace_back();
  defined.push_back(true);
  return id;
}

void RuleSet::define(int32_t rule, std::vector<Seq> alternatives) {
  for (const Seq& s : alternatives) n_items += s.size() + 1;
  alts[rule] = std::move(alternatives);
}

Item RuleSet::byte_item(uint8_t lo, uint8_t hi) {
  ByteSet set;
  set.add(lo, hi);
  const auto [it, fresh] = set_ids.emplace(set.bits, static_cast<int32_t>(sets.size()));
  if (fresh) sets.push_back(set);
  return Item{false, it->second};
}

Item RuleSet::class_item(Ranges ranges, const std::vector<std::pair<uint8_t, uint8_t>>& raw_bytes) {
  ranges = normalized(std::move(ranges));
  std::vector<uint32_t> key;
  for (const Range& r : ranges) key.insert(key.end(), {r.lo, r.hi});
  key.push_back(0xFFFFFFFF);
  for (const auto& [lo, hi] : raw_bytes) key.insert(key.end(), {lo, hi});

  ByteSet single;
  bool any_single = false;
  std::vector<std::vector<std::pair<uint8_t, uint8_t>>> runs;
  for (const Range& r : ranges) {
    if (r.lo < 0x80) {
      single.add(static_cast<uint8_t>(r.lo), static_cast<uint8_t>(std::min<uint32_t>(r.hi, 0x7F)));
      any_single = true;
    }
    if (r.hi >= 0x80) utf8_runs(std::max<uint32_t>(r.lo, 0x80), r.hi, runs);
  }
  for (const auto& [lo, hi] : raw_bytes) {
    single.add(lo, hi);
    any_single = true;
  }
  auto set_item = [&](const ByteSet& set) {
    const auto [it, fresh] = set_ids.emplace(set.bits, static_cast<int32_t>(sets.size()));
    if (fresh) sets.push_back(set);
    return Item{false, it->second};
  };
  if (runs.empty()) return any_single ? set_item(single) : Item{false, -1};
  if (const auto it = class_rules.find(key); it != class_rules.end()) return Item{true, it->second};
  std::vector<Seq> alternatives;
  if (any_single) alternatives.push_back({set_item(single)});
  for (const auto& run : runs) {
    Seq seq;
    for (const auto& [lo, hi] : run) {
      ByteSet b;
      b.add(lo, hi);
      seq.push_back(set_item(b));
    }
    alternatives.push_back(std::move(seq));
  }
  const int32_t rule = helper("char-class");
  define(rule, std::move(alternatives));
  class_rules.emplace(std::move(key), rule);
  return Item{true, rule};
}

Seq RuleSet::repeat(Seq x, int32_t lo, int32_t hi, const std::string& rule) {
  if (x.size() != 1) {
    const int32_t group = helper(rule);
    define(group, {std::move(x)});
    x = {Item{true, group}};
  }
  const Item item = x[0];
  Seq out(static_cast<size_t>(lo), item);
  n_items += static_cast<size_t>(lo);
  if (hi < 0) {
    const int32_t star = helper(rule);
    define(star, {{item, Item{true, star}}, {}});
    out.push_back(Item{true, star});
  } else if (hi > lo) {
    int32_t inner = -1;
    for (int32_t k = lo; k < hi; ++k) {
      const int32_t opt = helper(rule);
      Seq once{item};
      if (inner >= 0) once.push_back(Item{true, inner});
      define(opt, {std::move(once), {}});
      inner = opt;
    }
    out.push_back(Item{true, inner});
  }
  return out;
}

void RuleSet::check_size(const Limits& limits) const {
  if (n_items > limits.max_elements)
    bad("more than " + std::to_string(limits.max_elements) +
        " elements (repetitions count once per copy); make the grammar or schema smaller");
}

// Replaces a reference at the start of an alternative by the referenced rule's alternatives
// when that rule is small and does not refer to itself: x* over a `char` rule becomes a loop over
// the character classes themselves. The language is the same; what changes is that the classes'
// positions now sit in a rule used in one place (the loop), so the matcher's precomputation
// knows where they return to and decides more tokens ahead of time (matcher.h).
void RuleSet::inline_leading_refs() {
  constexpr size_t kSmall = 48, kMaxRule = 4096;
  auto size_of = [&](int32_t r) {
    size_t n = 0;
    for (const Seq& alt : alts[static_cast<size_t>(r)]) n += alt.size() + 1;
    return n;
  };
  auto inlinable = [&](int32_t r) {
    const auto ur = static_cast<size_t>(r);
    if (!defined[ur] || alts[ur].size() > kSmall || size_of(r) > kSmall) return false;
    for (const Seq& alt : alts[ur])
      for (const Item& it : alt)
        if (it.is_ref && it.index == r) return false;
    return true;
  };
  for (int round = 0; round < 3; ++round) {
    bool changed = false;
    for (size_t r = 0; r < alts.size(); ++r) {
      std::vector<Seq> out;
      size_t items = 0;
      bool here = false;
      for (const Seq& alt : alts[r]) {
        if (!alt.empty() && alt[0].is_ref && static_cast<size_t>(alt[0].index) != r && inlinable(alt[0].index)) {
          for (const Seq& sub : alts[static_cast<size_t>(alt[0].index)]) {
            Seq seq = sub;
            seq.insert(seq.end(), alt.begin() + 1, alt.end());
            items += seq.size() + 1;
            out.push_back(std::move(seq));
          }
          here = true;
        } else {
          items += alt.size() + 1;
          out.push_back(alt);
        }
      }
      if (!here || items > kMaxRule) continue;
      n_items += items - size_of(static_cast<int32_t>(r));
      alts[r] = std::move(out);
      changed = true;
    }
    if (!changed) break;
  }
}

Grammar RuleSet::build(const Limits& limits) {
  check_size(limits);
  inline_leading_refs();
  check_size(limits);
  const auto root_it = by_name.find("root");
  if (root_it == by_name.end() || !defined[root_it->second]) bad("there is no 'root' rule; the start rule is 'root'");
  const size_t n = names.size();

  // Reachable from root, each reference to a defined rule.
  std::vector<bool> reach(n, false);
  std::vector<int32_t> todo{root_it->second};
  reach[root_it->second] = true;
  while (!todo.empty()) {
    const int32_t r = todo.back();
    todo.pop_back();
    for (const Seq& alt : alts[r])
      for (const Item& it : alt) {
        if (!it.is_ref && it.index < 0) bad("rule '" + names[r] + "' has a character class that matches nothing");
        if (!it.is_ref || reach[it.index]) continue;
        if (!defined[it.index]) bad("rule '" + names[it.index] + "' is used in '" + names[r] + "' but never defined");
        reach[it.index] = true;
        todo.push_back(it.index);
      }
  }

  // Nullable and productive, by fixpoint.
  std::vector<bool> nullable(n, false), productive(n, false);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < n; ++r) {
      if (!reach[r]) continue;
      for (const Seq& alt : alts[r]) {
        bool all_nullable = true, all_productive = true;
        for (const Item& it : alt) {
          all_nullable = all_nullable && it.is_ref && nullable[it.index];
          all_productive = all_productive && (!it.is_ref || productive[it.index]);
        }
        if (all_nullable && !nullable[r]) nullable[r] = changed = true;
        if (all_productive && !productive[r]) productive[r] = changed = true;
      }
    }
  }
  for (size_t r = 0; r < n; ++r)
    if (reach[r] && !productive[r])
      bad("rule '" + names[r] +
          "' can never finish: every alternative needs the rule again (recursion without a base case)");

  // Left recursion: r -> s when s can come first in r (after rules that match nothing).
  std::vector<std::vector<int32_t>> left(n);
  for (size_t r = 0; r < n; ++r) {
    if (!reach[r]) continue;
    for (const Seq& alt : alts[r])
      for (const Item& it : alt) {
        if (!it.is_ref) break;
        left[r].push_back(it.index);
        if (!nullable[it.index]) break;
      }
  }
  std::vector<uint8_t> color(n, 0);  // 0 new, 1 on the path, 2 done
  std::vector<std::pair<int32_t, size_t>> path;
  for (size_t start = 0; start < n; ++start) {
    if (!reach[start] || color[start]) continue;
    path.emplace_back(static_cast<int32_t>(start), 0);
    color[start] = 1;
    while (!path.empty()) {
      auto& [r, next] = path.back();
      if (next == left[r].size()) {
        color[r] = 2;
        path.pop_back();
        continue;
      }
      const int32_t s = left[r][next++];
      if (color[s] == 1) {
        std::string cycle;
        bool in = false;
        for (const auto& [q, unused] : path) {
          in = in || q == s;
          if (in) cycle += names[q] + " -> ";
        }
        bad("rule '" + names[s] + "' is left-recursive (" + cycle + names[s] +
            "); write it with repetition instead, e.g. expr ::= term (\"+\" term)*");
      }
      if (color[s] == 0) {
        color[s] = 1;
        path.emplace_back(s, 0);
      }
    }
  }

  // Lay out the reachable rules flat, root first.
  std::vector<int32_t> new_id(n, -1);
  std::vector<int32_t> order{root_it->second};
  new_id[root_it->second] = 0;
  for (size_t r = 0; r < n; ++r)
    if (reach[r] && new_id[r] < 0) {
      new_id[r] = static_cast<int32_t>(order.size());
      order.push_back(static_cast<int32_t>(r));
    }
  Grammar g;
  g.sets = sets;
  g.root = 0;
  for (int32_t old : order) {
    Grammar::Rule rule;
    rule.name = names[old];
    const auto rid = static_cast<int32_t>(g.rules.size());
    for (const Seq& alt : alts[old]) {
      rule.alts.push_back(static_cast<int32_t>(g.elements.size()));
      for (const Item& it : alt) {
        g.elements.push_back(it.is_ref ? Element{Element::Rule, new_id[it.index]} : Element{Element::Bytes, it.index});
        g.rule_of.push_back(rid);
      }
      g.elements.push_back(Element{Element::End, rid});
      g.rule_of.push_back(rid);
    }
    g.rules.push_back(std::move(rule));
  }
  if (g.elements.size() > limits.max_elements)
    bad("more than " + std::to_string(limits.max_elements) + " elements; make the grammar or schema smaller");
  return g;
}

}  // namespace hayate::grammar
