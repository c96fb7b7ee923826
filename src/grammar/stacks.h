// The pushdown state of a grammar match: a set of stacks, each stack a chain of nodes
// (position of the next element, parent node). Nodes are interned, so equal stacks are equal
// ids and a set of stacks is a short sorted list. Internal to grammar/.
//
// A node's parent is where matching resumes when the node's rule ends: the position after the
// reference that entered it. A reference followed by End returns straight to its own parent
// (a tail call), so a right-recursive loop (x* is `r ::= x r | `) keeps a constant depth.
#pragma once

#include <cstdint>
#include <vector>

#include "grammar/grammar.h"

namespace hayate::grammar {

struct StackSet {
  std::vector<int32_t> nodes;  // each at a Bytes element, sorted
  bool accepting = false;      // the root rule can end here
  bool context = false;        // a rule popped to the unknown context (precomputation only)
  void clear() {
    nodes.clear();
    accepting = context = false;
  }
};

class Stacks {
 public:
  static constexpr int32_t kBottom = -1;   // below the root: popping it means the match may end
  static constexpr int32_t kContext = -2;  // a context the precomputation does not know

  explicit Stacks(const Grammar& g);

  int32_t intern(int32_t pos, int32_t parent);
  int32_t pos(int32_t node) const { return nodes_[static_cast<size_t>(node)].pos; }
  int32_t parent(int32_t node) const { return nodes_[static_cast<size_t>(node)].parent; }
  size_t size() const { return nodes_.size(); }

  // The root's alternatives, expanded.
  void start(StackSet& out);
  // out = the nodes reachable from `node` (positions at Bytes elements), popping ends of rules
  // and entering referenced rules.
  void expand(int32_t node, StackSet& out);
  // out = in after one byte; out.nodes empty and !accepting means the byte is not allowed.
  void advance(const StackSet& in, uint8_t byte, StackSet& out);
  // Whether bytes can follow from the single node (which sits at a Bytes element).
  bool accepts(int32_t node, const uint8_t* bytes, size_t n);
  // Counts byte steps, so that callers can bound their work.
  uint64_t steps() const { return steps_; }

 private:
  struct Node {
    int32_t pos, parent;
  };
  void begin();  // a new round of de-duplication
  void expand_one(int32_t node, StackSet& out);
  void rehash();

  const Grammar& g_;
  std::vector<Node> nodes_;
  std::vector<int32_t> table_;  // open addressing: node id + 1, 0 empty
  std::vector<uint32_t> seen_;  // per node: the round that last visited it
  uint32_t round_ = 0;
  std::vector<int32_t> work_;
  StackSet scratch_[2];
  uint64_t steps_ = 0;
};

}  // namespace hayate::grammar
