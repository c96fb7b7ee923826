#include "grammar/stacks.h"

#include <algorithm>

namespace hayate::grammar {
namespace {

uint64_t mix(int32_t pos, int32_t parent) {
  uint64_t h = (uint64_t(uint32_t(pos)) << 32) | uint32_t(parent);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

}  // namespace

Stacks::Stacks(const Grammar& g) : g_(g), table_(1024, 0) {}

void Stacks::rehash() {
  std::vector<int32_t> table(table_.size() * 2, 0);
  const size_t mask = table.size() - 1;
  for (size_t id = 0; id < nodes_.size(); ++id) {
    size_t h = mix(nodes_[id].pos, nodes_[id].parent) & mask;
    while (table[h]) h = (h + 1) & mask;
    table[h] = static_cast<int32_t>(id + 1);
  }
  table_.swap(table);
}

int32_t Stacks::intern(int32_t pos, int32_t parent) {
  const size_t mask = table_.size() - 1;
  size_t h = mix(pos, parent) & mask;
  while (const int32_t slot = table_[h]) {
    const Node& n = nodes_[static_cast<size_t>(slot - 1)];
    if (n.pos == pos && n.parent == parent) return slot - 1;
    h = (h + 1) & mask;
  }
  const auto id = static_cast<int32_t>(nodes_.size());
  nodes_.push_back({pos, parent});
  seen_.push_back(0);
  table_[h] = id + 1;
  if (nodes_.size() * 2 > table_.size()) rehash();
  return id;
}

void Stacks::begin() {
  if (++round_ == 0) {  // wrapped: forget every old mark
    std::fill(seen_.begin(), seen_.end(), 0);
    round_ = 1;
  }
}

void Stacks::expand_one(int32_t node, StackSet& out) {
  work_.clear();
  work_.push_back(node);
  while (!work_.empty()) {
    const int32_t n = work_.back();
    work_.pop_back();
    if (n < 0) {
      (n == kBottom ? out.accepting : out.context) = true;
      continue;
    }
    if (seen_[static_cast<size_t>(n)] == round_) continue;
    seen_[static_cast<size_t>(n)] = round_;
    const Node node_n = nodes_[static_cast<size_t>(n)];
    const Element& e = g_.elements[static_cast<size_t>(node_n.pos)];
    if (e.kind == Element::Bytes) {
      out.nodes.push_back(n);
    } else if (e.kind == Element::End) {
      work_.push_back(node_n.parent);
    } else {
      const bool tail = g_.elements[static_cast<size_t>(node_n.pos) + 1].kind == Element::End;
      const int32_t ret = tail ? node_n.parent : intern(node_n.pos + 1, node_n.parent);
      for (int32_t alt : g_.rules[static_cast<size_t>(e.index)].alts) work_.push_back(intern(alt, ret));
    }
  }
}

void Stacks::start(StackSet& out) {
  out.clear();
  begin();
  for (int32_t alt : g_.rules[static_cast<size_t>(g_.root)].alts) expand_one(intern(alt, kBottom), out);
  std::sort(out.nodes.begin(), out.nodes.end());
}

void Stacks::expand(int32_t node, StackSet& out) {
  out.clear();
  begin();
  expand_one(node, out);
  std::sort(out.nodes.begin(), out.nodes.end());
}

void Stacks::advance(const StackSet& in, uint8_t byte, StackSet& out) {
  out.clear();
  begin();
  ++steps_;
  for (int32_t n : in.nodes) {
    const Node node_n = nodes_[static_cast<size_t>(n)];
    const Element& e = g_.elements[static_cast<size_t>(node_n.pos)];
    if (g_.sets[static_cast<size_t>(e.index)].has(byte)) expand_one(intern(node_n.pos + 1, node_n.parent), out);
  }
  std::sort(out.nodes.begin(), out.nodes.end());
}

bool Stacks::accepts(int32_t node, const uint8_t* bytes, size_t n) {
  StackSet* cur = &scratch_[0];
  StackSet* next = &scratch_[1];
  cur->clear();
  cur->nodes.push_back(node);
  for (size_t i = 0; i < n; ++i) {
    if (cur->nodes.empty()) return false;
    advance(*cur, bytes[i], *next);
    std::swap(cur, next);
  }
  return !cur->nodes.empty() || cur->accepting;
}

}  // namespace hayate::grammar
