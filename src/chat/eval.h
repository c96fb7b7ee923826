// Renders a parsed chat template. Scopes follow Jinja: a for loop gives each iteration a fresh
// scope (a `set` inside does not outlive the iteration; namespace() objects carry state out),
// macros see the scope they were defined in, `if` adds no scope. Every run is bounded by Limits,
// so a hostile template ends in an Error(BadInput), never a hang or a crash.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/ast.h"
#include "chat/lexer.h"
#include "chat/limits.h"
#include "chat/value.h"

namespace hayate::chat {

struct Scope : std::enable_shared_from_this<Scope> {
  std::shared_ptr<Scope> parent;
  std::vector<std::pair<std::string, Value>> vars;

  Value* find(std::string_view name);
  void set(const std::string& name, Value value);
};

class Interpreter {
 public:
  Interpreter(const Source& source, const Limits& limits) : src_(source), limits_(limits) {}

  std::string render(const Body& body, const std::shared_ptr<Scope>& context);

  // For the built-in filters, tests and functions.
  void charge(uint64_t units);
  void check_size(size_t bytes) const;  // a string of this many bytes is about to be built
  void check_items(size_t n) const;     // a list of this many elements is about to be built
  // Error(BadInput) "chat template line L, column C: what" at the expression being evaluated.
  [[noreturn]] void fail(const std::string& what) const;
  Value call(const Value& callee, Args& args);
  // Before `item` goes into `container` (list.append, set ns.x = item): refuses what would make a
  // reference cycle or nest too deeply, and updates the container's depth.
  void check_insert(const Value& container, const Value& item);
  const Limits& limits() const { return limits_; }

 private:
  enum class Flow { Normal, Break, Continue };
  struct DepthGuard {
    explicit DepthGuard(Interpreter& in);
    ~DepthGuard() { --interp.depth_; }
    Interpreter& interp;
  };

  Flow exec(const Body& body, const std::shared_ptr<Scope>& scope, std::string& out);
  Flow exec_stmt(const Stmt& s, const std::shared_ptr<Scope>& scope, std::string& out);
  Flow exec_for(const Stmt& s, const std::shared_ptr<Scope>& scope, std::string& out);
  void exec_set(const Stmt& s, Scope& scope);
  void define_macro(const Stmt& s, const std::shared_ptr<Scope>& scope);
  Value call_macro(const Stmt& def, Scope& defining, Args& args);
  std::string render_block(const Body& body, const std::shared_ptr<Scope>& scope, const std::vector<ExprPtr>& filters);
  void append(std::string& out, std::string_view text) const;

  Value eval(const Expr& e, Scope& scope);
  Value eval_node(const Expr& e, Scope& scope);
  Args eval_args(const Expr& e, Scope& scope, size_t first);
  Value binary(Op op, const Value& a, const Value& b);
  bool compare(Op op, const Value& a, const Value& b);

  const Source& src_;
  Limits limits_;
  uint64_t steps_ = 0;
  int depth_ = 0;
  size_t offset_ = 0;                                 // of the statement or expression being run, for messages
  std::vector<std::shared_ptr<Scope>> macro_scopes_;  // scopes macros were defined in, alive until the end
};

}  // namespace hayate::chat
