// The parsed form of a chat template: statements holding expressions. One node struct per
// family, with a kind, keeps the interpreter a switch over kinds.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/value.h"

namespace hayate::chat {

using FilterFn = Value (*)(Interpreter&, const Value& input, Args& args);
using TestFn = bool (*)(Interpreter&, const Value& input, Args& args);

enum class ExprKind {
  Literal,  // value
  Name,     // name
  Attr,     // kids[0].name
  Item,     // kids[0][kids[1]]
  Slice,    // kids[0][kids[1]:kids[2]:kids[3]], absent parts null
  Call,     // kids[0](kids[1..], kwargs)
  Filter,   // kids[0] | name(kids[1..], kwargs); kids[0] null inside {% filter %} and {% set x | f %}
  Test,     // kids[0] is [not] name(kids[1..], kwargs)
  Unary,    // op kids[0]: Neg, Pos, Not
  Binary,   // kids[0] op kids[1]: arithmetic, Concat, And, Or
  Compare,  // kids[0] ops[0] kids[1] ops[1] kids[2] ... (chained, as in Python)
  Cond,     // kids[1] if kids[0] else kids[2] (null: undefined)
  List,     // [kids...]
  Tuple,    // (kids...)
  Dict,     // {kids[0]: kids[1], kids[2]: kids[3], ...}
};

enum class Op {
  Add,
  Sub,
  Mul,
  Div,
  FloorDiv,
  Mod,
  Pow,
  Concat,
  And,
  Or,
  Neg,
  Pos,
  Not,
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,
  In,
  NotIn
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  ExprKind kind = ExprKind::Literal;
  size_t offset = 0;  // into the normalized source, for messages
  Value value;
  std::string name;
  Op op = Op::Add;
  std::vector<ExprPtr> kids;
  std::vector<Op> ops;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  FilterFn filter = nullptr;
  TestFn test = nullptr;
  bool negated = false;
  int height = 1;  // of the tree below, bounded by the parser
};

enum class StmtKind {
  Text,      // text
  Print,     // {{ expr }}
  If,        // branches (cond, body) ..., else_body
  For,       // for names in expr [if cond]: body, else_body
  Set,       // set names = expr
  SetAttr,   // set names[0].names[1] = expr
  SetBlock,  // set names[0] [| filters]: body
  Macro,     // macro names[0](params): body
  Break,
  Continue,
  FilterBlock,  // filter filters: body
  With,         // with params: body
  Generation,   // transformers' {% generation %}: body, rendered as is
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  StmtKind kind = StmtKind::Text;
  size_t offset = 0;
  std::string text;
  ExprPtr expr;
  ExprPtr cond;
  std::vector<std::string> names;
  bool unpack = false;  // names were written as a tuple: unpack the value
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body, else_body;
  std::vector<std::pair<std::string, ExprPtr>> params;  // macro parameters (default or null), with assignments
  std::vector<ExprPtr> filters;                         // Filter exprs whose input is the rendered body
};

}  // namespace hayate::chat
