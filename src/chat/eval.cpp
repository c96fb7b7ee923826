#include "chat/eval.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "chat/builtins.h"
#include "core/error.h"

namespace hayate::chat {
namespace {

constexpr std::string_view kUnlocated = "chat template: ";

const char* op_text(Op op) {
  switch (op) {
    case Op::Add:
      return "+";
    case Op::Sub:
      return "-";
    case Op::Mul:
      return "*";
    case Op::Div:
      return "/";
    case Op::FloorDiv:
      return "//";
    case Op::Mod:
      return "%";
    case Op::Pow:
      return "**";
    case Op::Lt:
      return "<";
    case Op::Le:
      return "<=";
    case Op::Gt:
      return ">";
    case Op::Ge:
      return ">=";
    default:
      return "?";
  }
}

int64_t floor_mod(int64_t a, int64_t b) {
  const int64_t r = a % b;
  return r != 0 && ((r < 0) != (b < 0)) ? r + b : r;
}

// Python's dict keys: scalars and tuples of them (so no key can lead back to a mutable container).
bool hashable(Interpreter& in, const Value& v) {
  in.charge(1);                                      // tuples of tuples sharing parts could be exponentially many paths
  if (v.is_dict() || v.is_callable()) return false;  // a bound method holds its list
  if (!v.is_list()) return true;
  if (!v.is_tuple() || v.is_generator()) return false;
  return std::all_of(v.as_list().items.begin(), v.as_list().items.end(),
                     [&](const Value& item) { return hashable(in, item); });
}

// Depth of the containers reachable from v (memoized, so shared sub-lists are visited once), and
// whether `target` is among them.
int reach_depth(const Value& v, const void* target, std::unordered_set<const void*>& seen, bool& hits, int level) {
  if (!v.is_list() && !v.is_dict()) return 0;
  if (v.identity() == target) hits = true;
  if (level > 2 * kMaxDepth) return level;
  if (!seen.insert(v.identity()).second) return v.depth();
  int deepest = 0;
  if (v.is_list()) {
    for (const Value& item : v.as_list().items)
      deepest = std::max(deepest, reach_depth(item, target, seen, hits, level + 1));
    v.as_list().depth = std::max(v.as_list().depth, deepest + 1);
  } else {
    for (const auto& item : v.as_dict().items) {
      deepest = std::max(deepest, reach_depth(item.second, target, seen, hits, level + 1));
    }
    v.as_dict().depth = std::max(v.as_dict().depth, deepest + 1);
  }
  return deepest + 1;
}

}  // namespace

Value* Scope::find(std::string_view name) {
  for (Scope* s = this; s != nullptr; s = s->parent.get()) {
    for (auto& [key, value] : s->vars) {
      if (key == name) return &value;
    }
  }
  return nullptr;
}

void Scope::set(const std::string& name, Value value) {
  for (auto& [key, existing] : vars) {
    if (key == name) {
      existing = std::move(value);
      return;
    }
  }
  vars.emplace_back(name, std::move(value));
}

Interpreter::DepthGuard::DepthGuard(Interpreter& in) : interp(in) {
  if (++interp.depth_ > interp.limits_.max_depth) {
    --interp.depth_;
    interp.fail("template nests expressions, blocks or macro calls more than " +
                std::to_string(interp.limits_.max_depth) + " deep");
  }
}

std::string Interpreter::render(const Body& body, const std::shared_ptr<Scope>& context) {
  std::string out;
  const ValueBudget budget(limits_.max_steps, limits_.max_output_bytes);
  try {
    exec(body, context, out);
  } catch (const Error& err) {
    // Messages from value.cpp know no location: they get the node that was running (offset_ is
    // the innermost one, and unwinding leaves it alone). Catching once here, not at every level,
    // keeps a failure deep in a recursion cheap.
    const std::string_view what = err.what();
    if (what.substr(0, kUnlocated.size()) != kUnlocated) throw;
    src_.fail_at(offset_, std::string(what.substr(kUnlocated.size())));
  }
  macro_scopes_.clear();
  return out;
}

void Interpreter::charge(uint64_t units) {
  steps_ += units;
  if (steps_ > limits_.max_steps) {
    fail("template ran past its limit of " + std::to_string(limits_.max_steps) + " steps (a runaway loop?)");
  }
}

void Interpreter::check_size(size_t bytes) const {
  if (bytes > limits_.max_output_bytes) {
    fail("template output or a string in it grew past " + std::to_string(limits_.max_output_bytes) + " bytes");
  }
}

void Interpreter::check_items(size_t n) const {
  if (n > limits_.max_items) fail("a list would hold more than " + std::to_string(limits_.max_items) + " items");
}

void Interpreter::fail(const std::string& what) const { src_.fail_at(offset_, what); }

void Interpreter::check_insert(const Value& container, const Value& item) {
  std::unordered_set<const void*> seen;
  bool cycle = false;
  const int depth = reach_depth(item, container.identity(), seen, cycle, 0);
  charge(seen.size());
  if (cycle) fail("a list or namespace cannot contain itself");
  if (depth + 1 > kMaxDepth) fail("lists and dicts nested more than " + std::to_string(kMaxDepth) + " deep");
  int& own = container.is_list() ? container.as_list().depth : container.as_dict().depth;
  own = std::max(own, depth + 1);
}

Value Interpreter::call(const Value& callee, Args& args) {
  if (!callee.is_callable()) {
    if (callee.is_undefined())
      fail(callee.as_string().empty() ? "an undefined value is not callable" : callee.as_string());
    fail(std::string("'") + callee.type_name() + "' object is not callable");
  }
  return callee.as_callable().fn(*this, args);
}

void Interpreter::append(std::string& out, std::string_view text) const {
  check_size(out.size() + text.size());
  out += text;
}

// ---- statements ----

Interpreter::Flow Interpreter::exec(const Body& body, const std::shared_ptr<Scope>& scope, std::string& out) {
  DepthGuard guard(*this);
  for (const StmtPtr& s : body) {
    const Flow flow = exec_stmt(*s, scope, out);
    if (flow != Flow::Normal) return flow;
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_stmt(const Stmt& s, const std::shared_ptr<Scope>& scope, std::string& out) {
  offset_ = s.offset;
  charge(1 + s.text.size() / 64);
  switch (s.kind) {
    case StmtKind::Text:
      append(out, s.text);
      return Flow::Normal;
    case StmtKind::Print:
      append(out, eval(*s.expr, *scope).str());
      return Flow::Normal;
    case StmtKind::If:
      for (const auto& [cond, body] : s.branches) {
        if (eval(*cond, *scope).truthy()) return exec(body, scope, out);
      }
      return exec(s.else_body, scope, out);
    case StmtKind::For:
      return exec_for(s, scope, out);
    case StmtKind::Set:
    case StmtKind::SetAttr:
      exec_set(s, *scope);
      return Flow::Normal;
    case StmtKind::SetBlock:
      scope->set(s.names[0], Value(render_block(s.body, scope, s.filters)));
      return Flow::Normal;
    case StmtKind::Macro:
      define_macro(s, scope);
      return Flow::Normal;
    case StmtKind::Break:
      return Flow::Break;
    case StmtKind::Continue:
      return Flow::Continue;
    case StmtKind::FilterBlock:
      append(out, render_block(s.body, scope, s.filters));
      return Flow::Normal;
    case StmtKind::With: {
      auto inner = std::make_shared<Scope>();
      inner->parent = scope;
      for (const auto& [name, expr] : s.params) inner->set(name, eval(*expr, *scope));
      return exec(s.body, inner, out);
    }
    case StmtKind::Generation: {
      auto inner = std::make_shared<Scope>();
      inner->parent = scope;
      return exec(s.body, inner, out);
    }
  }
  return Flow::Normal;
}

// Binds loop targets: one name takes the item, several unpack it.
static void bind_targets(Interpreter& in, const Stmt& s, Scope& scope, const Value& item) {
  if (!s.unpack) {
    scope.set(s.names[0], item);
    return;
  }
  std::vector<Value> parts = iterate(in, item);
  if (parts.size() != s.names.size()) {
    in.fail("cannot unpack " + std::to_string(parts.size()) + " values into " + std::to_string(s.names.size()) +
            " names");
  }
  for (size_t i = 0; i < parts.size(); ++i) scope.set(s.names[i], parts[i]);
}

Interpreter::Flow Interpreter::exec_for(const Stmt& s, const std::shared_ptr<Scope>& scope, std::string& out) {
  std::vector<Value> items = iterate(*this, eval(*s.expr, *scope));
  if (s.cond) {  // the loop's `if` filters first, so loop.length and loop.last count what is kept
    std::vector<Value> kept;
    for (Value& item : items) {
      charge(1);
      auto probe = std::make_shared<Scope>();
      probe->parent = scope;
      bind_targets(*this, s, *probe, item);
      if (eval(*s.cond, *probe).truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }

  auto index = std::make_shared<size_t>(0);
  const Value cycle = Value::function("loop.cycle", [index](Interpreter& in, Args& args) {
    if (args.positional.empty()) in.fail("loop.cycle() needs at least one value");
    return args.positional[*index % args.positional.size()];
  });
  const int64_t n = static_cast<int64_t>(items.size());
  bool completed = false;
  for (int64_t i = 0; i < n; ++i) {
    charge(1);
    *index = static_cast<size_t>(i);
    std::vector<std::pair<Value, Value>> loop;
    loop.reserve(12);
    loop.emplace_back("index", i + 1);
    loop.emplace_back("index0", i);
    loop.emplace_back("revindex", n - i);
    loop.emplace_back("revindex0", n - i - 1);
    loop.emplace_back("first", i == 0);
    loop.emplace_back("last", i == n - 1);
    loop.emplace_back("length", n);
    loop.emplace_back("depth", int64_t{1});
    loop.emplace_back("depth0", int64_t{0});
    loop.emplace_back("cycle", cycle);
    if (i > 0) loop.emplace_back("previtem", items[static_cast<size_t>(i - 1)]);
    if (i + 1 < n) loop.emplace_back("nextitem", items[static_cast<size_t>(i + 1)]);
    auto inner = std::make_shared<Scope>();
    inner->parent = scope;
    bind_targets(*this, s, *inner, items[static_cast<size_t>(i)]);
    inner->set("loop", Value::dict(std::move(loop)));
    const Flow flow = exec(s.body, inner, out);
    if (flow == Flow::Break) break;
    if (flow == Flow::Normal) completed = true;
  }
  // As Jinja compiles it, the else block runs unless some iteration reached the end of the body:
  // an empty loop, but also one whose every iteration ended in break or continue.
  if (!completed && !s.else_body.empty()) {
    auto inner = std::make_shared<Scope>();
    inner->parent = scope;
    exec(s.else_body, inner, out);
  }
  return Flow::Normal;
}

void Interpreter::exec_set(const Stmt& s, Scope& scope) {
  Value value = eval(*s.expr, scope);
  offset_ = s.offset;
  if (s.kind == StmtKind::SetAttr) {
    Value* target = scope.find(s.names[0]);
    if (target == nullptr || !target->is_namespace()) {
      fail("cannot set attribute '" + s.names[1] + "' of '" + s.names[0] + "': it is not a namespace()");
    }
    check_insert(*target, value);
    auto& items = target->as_dict().items;
    for (auto& [key, existing] : items) {
      if (key.is_string() && key.as_string() == s.names[1]) {
        existing = std::move(value);
        return;
      }
    }
    items.emplace_back(Value(s.names[1]), std::move(value));
    return;
  }
  if (!s.unpack) {
    scope.set(s.names[0], std::move(value));
    return;
  }
  std::vector<Value> parts = iterate(*this, value);
  if (parts.size() != s.names.size()) {
    fail("cannot unpack " + std::to_string(parts.size()) + " values into " + std::to_string(s.names.size()) + " names");
  }
  for (size_t i = 0; i < parts.size(); ++i) scope.set(s.names[i], parts[i]);
}

std::string Interpreter::render_block(const Body& body, const std::shared_ptr<Scope>& scope,
                                      const std::vector<ExprPtr>& filters) {
  auto inner = std::make_shared<Scope>();
  inner->parent = scope;
  std::string text;
  exec(body, inner, text);
  Value v(std::move(text));
  for (const ExprPtr& f : filters) {
    Args args = eval_args(*f, *scope, 1);
    offset_ = f->offset;
    v = f->filter(*this, v, args);
  }
  return v.str();
}

void Interpreter::define_macro(const Stmt& s, const std::shared_ptr<Scope>& scope) {
  if (macro_scopes_.empty() || macro_scopes_.back() != scope) macro_scopes_.push_back(scope);
  check_items(macro_scopes_.size());
  Scope* defining = scope.get();  // kept alive by macro_scopes_; a strong reference here would be a cycle
  const Stmt* def = &s;
  scope->set(s.names[0], Value::function(s.names[0], [def, defining](Interpreter& in, Args& args) {
               return in.call_macro(*def, *defining, args);
             }));
}

Value Interpreter::call_macro(const Stmt& def, Scope& defining, Args& args) {
  DepthGuard guard(*this);
  const std::string& name = def.names[0];
  if (args.positional.size() > def.params.size()) {
    fail("macro '" + name + "' takes at most " + std::to_string(def.params.size()) + " arguments, got " +
         std::to_string(args.positional.size()));
  }
  for (const auto& keyword : args.keyword) {
    const bool known =
        std::any_of(def.params.begin(), def.params.end(), [&](const auto& p) { return p.first == keyword.first; });
    if (!known) fail("macro '" + name + "' has no parameter '" + keyword.first + "'");
  }
  auto local = std::make_shared<Scope>();
  local->parent = defining.shared_from_this();
  for (size_t i = 0; i < def.params.size(); ++i) {
    const auto& [param, fallback] = def.params[i];
    const Value* given = find_arg(args, i, param);
    if (given != nullptr) {
      local->set(param, *given);
    } else if (fallback) {
      local->set(param, eval(*fallback, *local));
    } else {
      std::string hint = "parameter '";
      hint.append(param).append("' of macro '").append(name).append("' is undefined");
      local->set(param, Value::undefined(std::move(hint)));
    }
  }
  std::string out;
  const size_t offset = offset_;
  exec(def.body, local, out);
  offset_ = offset;
  return Value(std::move(out));
}

// ---- expressions ----

Value Interpreter::eval(const Expr& e, Scope& scope) {
  DepthGuard guard(*this);
  charge(1);
  offset_ = e.offset;
  return eval_node(e, scope);
}

Args Interpreter::eval_args(const Expr& e, Scope& scope, size_t first) {
  Args args;
  for (size_t i = first; i < e.kids.size(); ++i) args.positional.push_back(eval(*e.kids[i], scope));
  for (const auto& [name, expr] : e.kwargs) args.keyword.emplace_back(name, eval(*expr, scope));
  return args;
}

Value Interpreter::eval_node(const Expr& e, Scope& scope) {
  switch (e.kind) {
    case ExprKind::Literal:
      return e.value;
    case ExprKind::Name: {
      const Value* v = scope.find(e.name);
      return v != nullptr ? *v : Value::undefined("'" + e.name + "' is undefined");
    }
    case ExprKind::Attr: {
      const Value object = eval(*e.kids[0], scope);
      offset_ = e.offset;
      return get_attr(*this, object, e.name);
    }
    case ExprKind::Item: {
      const Value object = eval(*e.kids[0], scope);
      const Value key = eval(*e.kids[1], scope);
      offset_ = e.offset;
      return get_item(*this, object, key);
    }
    case ExprKind::Slice: {
      const Value object = eval(*e.kids[0], scope);
      Value parts[3];
      for (int i = 0; i < 3; ++i) parts[i] = e.kids[i + 1] ? eval(*e.kids[i + 1], scope) : Value::none();
      offset_ = e.offset;
      return slice(*this, object, parts[0], parts[1], parts[2]);
    }
    case ExprKind::Call: {
      const Value callee = eval(*e.kids[0], scope);
      Args args = eval_args(e, scope, 1);
      offset_ = e.offset;
      return call(callee, args);
    }
    case ExprKind::Filter: {
      if (e.filter == nullptr) fail("no filter named '" + e.name + "'");  // allowed in an if until used
      const Value input = eval(*e.kids[0], scope);
      Args args = eval_args(e, scope, 1);
      offset_ = e.offset;
      return e.filter(*this, input, args);
    }
    case ExprKind::Test: {
      if (e.test == nullptr) fail("no test named '" + e.name + "'");
      const Value input = eval(*e.kids[0], scope);
      Args args = eval_args(e, scope, 1);
      offset_ = e.offset;
      return Value(e.test(*this, input, args) != e.negated);
    }
    case ExprKind::Unary: {
      const Value v = eval(*e.kids[0], scope);
      offset_ = e.offset;
      if (e.op == Op::Not) return Value(!v.truthy());
      if (!v.is_number()) {
        fail(std::string("bad operand type for unary ") + (e.op == Op::Neg ? "-" : "+") + ": '" + v.type_name() + "'");
      }
      if (e.op == Op::Pos) return v.kind() == Value::Kind::Float ? v : Value(v.as_int());
      if (v.kind() == Value::Kind::Float) return Value(-v.as_double());
      if (v.as_int() == INT64_MIN) fail("integer overflow");
      return Value(-v.as_int());
    }
    case ExprKind::Binary: {
      Value a = eval(*e.kids[0], scope);
      if (e.op == Op::And) return a.truthy() ? eval(*e.kids[1], scope) : a;
      if (e.op == Op::Or) return a.truthy() ? a : eval(*e.kids[1], scope);
      const Value b = eval(*e.kids[1], scope);
      offset_ = e.offset;
      return binary(e.op, a, b);
    }
    case ExprKind::Compare: {
      Value left = eval(*e.kids[0], scope);
      for (size_t i = 0; i < e.ops.size(); ++i) {
        Value right = eval(*e.kids[i + 1], scope);
        offset_ = e.offset;
        if (!compare(e.ops[i], left, right)) return Value(false);
        left = std::move(right);
      }
      return Value(true);
    }
    case ExprKind::Cond:
      if (eval(*e.kids[0], scope).truthy()) return eval(*e.kids[1], scope);
      return e.kids[2] ? eval(*e.kids[2], scope)
                       : Value::undefined("the missing else branch of a conditional is undefined");
    case ExprKind::List:
    case ExprKind::Tuple: {
      std::vector<Value> items;
      items.reserve(e.kids.size());
      for (const ExprPtr& kid : e.kids) items.push_back(eval(*kid, scope));
      offset_ = e.offset;
      return Value::list(std::move(items), e.kind == ExprKind::Tuple);
    }
    case ExprKind::Dict: {
      std::vector<std::pair<Value, Value>> items;
      for (size_t i = 0; i + 1 < e.kids.size(); i += 2) {
        Value key = eval(*e.kids[i], scope);
        Value value = eval(*e.kids[i + 1], scope);
        if (!hashable(*this, key)) fail(std::string("unhashable dict key of type '") + key.type_name() + "'");
        auto existing = std::find_if(items.begin(), items.end(), [&](const auto& kv) { return equal(kv.first, key); });
        if (existing != items.end()) {
          existing->second = std::move(value);
        } else {
          items.emplace_back(std::move(key), std::move(value));
        }
      }
      offset_ = e.offset;
      return Value::dict(std::move(items));
    }
  }
  fail("unknown expression");
}

bool Interpreter::compare(Op op, const Value& a, const Value& b) {
  switch (op) {
    case Op::Eq:
      return equal(a, b);
    case Op::Ne:
      return !equal(a, b);
    case Op::Lt:
      return less(a, b);
    case Op::Gt:
      return less(b, a);
    case Op::Le:
      return !less(b, a);
    case Op::Ge:
      return !less(a, b);
    case Op::In:
      return contains(*this, b, a);
    case Op::NotIn:
      return !contains(*this, b, a);
    default:
      fail("unknown comparison");
  }
}

Value Interpreter::binary(Op op, const Value& a, const Value& b) {
  if (op == Op::Concat) {
    std::string s = a.str();
    const std::string t = b.str();
    check_size(s.size() + t.size());
    charge((s.size() + t.size()) / 64);
    return Value(s + t);
  }
  if (a.is_undefined() || b.is_undefined()) {
    const Value& u = a.is_undefined() ? a : b;
    fail(u.as_string().empty() ? "an operand is undefined" : u.as_string());
  }
  const std::string mismatch = std::string("unsupported operand types for ") + op_text(op) + ": '" + a.type_name() +
                               "' and '" + b.type_name() + "'";
  if (op == Op::Add && a.is_string() && b.is_string()) {
    check_size(a.as_string().size() + b.as_string().size());
    charge((a.as_string().size() + b.as_string().size()) / 64);
    return Value(a.as_string() + b.as_string());
  }
  if (op == Op::Add && a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple() && !a.is_generator() &&
      !b.is_generator()) {
    const auto& x = a.as_list().items;
    const auto& y = b.as_list().items;
    check_items(x.size() + y.size());
    charge(x.size() + y.size());
    std::vector<Value> items(x);
    items.insert(items.end(), y.begin(), y.end());
    return Value::list(std::move(items), a.is_tuple());
  }
  if (op == Op::Mul && (a.is_string() || a.is_list()) != (b.is_string() || b.is_list()) && !a.is_generator() &&
      !b.is_generator()) {
    const Value& seq = a.is_string() || a.is_list() ? a : b;
    const Value& count = a.is_string() || a.is_list() ? b : a;
    if (!count.is_int()) fail(mismatch);
    const int64_t n = std::max<int64_t>(0, count.as_int());
    if (seq.is_string()) {
      const size_t len = seq.as_string().size();
      if (len != 0 && static_cast<uint64_t>(n) > limits_.max_output_bytes / len)
        check_size(limits_.max_output_bytes + 1);
      charge(len * static_cast<size_t>(n) / 64);
      std::string s;
      for (int64_t i = 0; i < n; ++i) s += seq.as_string();
      return Value(std::move(s));
    }
    const auto& items = seq.as_list().items;
    if (!items.empty() && static_cast<uint64_t>(n) > limits_.max_items / items.size())
      check_items(limits_.max_items + 1);
    charge(items.size() * static_cast<size_t>(n));
    std::vector<Value> out;
    for (int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
    return Value::list(std::move(out), seq.is_tuple());
  }
  if (op == Op::Mod && a.is_string()) fail("printf-style '%' formatting of strings is not supported");
  if (!a.is_number() || !b.is_number()) fail(mismatch);

  const bool ints = a.is_int() && b.is_int();
  if (ints && op != Op::Div) {
    const int64_t x = a.as_int(), y = b.as_int();
    int64_t r = 0;
    switch (op) {
      case Op::Add:
        if (__builtin_add_overflow(x, y, &r)) fail("integer overflow");
        return Value(r);
      case Op::Sub:
        if (__builtin_sub_overflow(x, y, &r)) fail("integer overflow");
        return Value(r);
      case Op::Mul:
        if (__builtin_mul_overflow(x, y, &r)) fail("integer overflow");
        return Value(r);
      case Op::FloorDiv:
      case Op::Mod: {
        if (y == 0) fail("integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) fail("integer overflow");
        if (op == Op::Mod) return Value(floor_mod(x, y));
        // Python rounds the quotient down, C++ toward zero
        return Value(x / y - (x % y != 0 && ((x < 0) != (y < 0)) ? 1 : 0));
      }
      case Op::Pow: {
        if (y < 0) break;  // a float, below
        int64_t result = 1, base = x;
        for (int64_t e = y; e > 0; e >>= 1) {
          if ((e & 1) && __builtin_mul_overflow(result, base, &result)) fail("integer overflow");
          if (e > 1 && __builtin_mul_overflow(base, base, &base)) fail("integer overflow");
        }
        return Value(result);
      }
      default:
        break;
    }
  }
  const double x = a.as_double(), y = b.as_double();
  switch (op) {
    case Op::Add:
      return Value(x + y);
    case Op::Sub:
      return Value(x - y);
    case Op::Mul:
      return Value(x * y);
    case Op::Div:
      if (y == 0) fail("division by zero");
      return Value(x / y);
    case Op::FloorDiv:
    case Op::Mod: {
      if (y == 0) fail("float division or modulo by zero");
      // Python's float floor division and modulo: the remainder takes the divisor's sign
      double mod = std::fmod(x, y);
      double div = (x - mod) / y;
      if (mod != 0) {
        if ((y < 0) != (mod < 0)) {
          mod += y;
          div -= 1.0;
        }
      } else {
        mod = std::copysign(0.0, y);
      }
      if (op == Op::Mod) return Value(mod);
      if (div == 0) return Value(std::copysign(0.0, x / y));
      double floored = std::floor(div);
      if (div - floored > 0.5) floored += 1.0;
      return Value(floored);
    }
    case Op::Pow:
      if (x == 0 && y < 0) fail("0.0 cannot be raised to a negative power");
      return Value(std::pow(x, y));
    default:
      fail(mismatch);
  }
}

}  // namespace hayate::chat
