#include "chat/parser.h"

#include <algorithm>
#include <initializer_list>

#include "chat/builtins.h"

namespace hayate::chat {
namespace {

// Sets a parser flag for a scope and restores it after.
class Flag {
 public:
  Flag(bool& flag, bool value) : flag_(flag), saved_(flag) { flag_ = value; }
  ~Flag() { flag_ = saved_; }

 private:
  bool& flag_;
  bool saved_;
};

class Parser {
 public:
  Parser(const Source& source, const std::vector<Token>& tokens) : src_(source), toks_(tokens) {}

  Body parse_template() {
    Body body = parse_body({});
    if (cur().type != Tok::Eof) fail_here("unexpected tag");
    return body;
  }

 private:
  // ---- tokens ----
  const Token& cur() const { return toks_[pos_]; }
  const Token& peek(size_t n = 1) const { return toks_[std::min(pos_ + n, toks_.size() - 1)]; }
  void advance() {
    if (pos_ + 1 < toks_.size()) ++pos_;
  }
  bool is_op(const char* op) const { return cur().type == Tok::Op && cur().text == op; }
  bool is_name(const char* name) const { return cur().type == Tok::Name && cur().text == name; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(const char* name) {
    if (!is_name(name)) return false;
    advance();
    return true;
  }

  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::Text:
        return "text";
      case Tok::VarBegin:
        return "'{{'";
      case Tok::VarEnd:
        return "end of print statement '}}'";
      case Tok::BlockBegin:
        return "'{%'";
      case Tok::BlockEnd:
        return "end of statement block '%}'";
      case Tok::Name:
        return "name '" + t.text + "'";
      case Tok::String:
        return "string";
      case Tok::Int:
        return "integer";
      case Tok::Float:
        return "float";
      case Tok::Op:
        return "'" + t.text + "'";
      case Tok::Eof:
        return "end of template";
    }
    return "token";
  }

  [[noreturn]] void fail_here(const std::string& what) const { src_.fail_at(cur().offset, what); }
  [[noreturn]] void unexpected(const std::string& expected) const {
    fail_here("expected " + expected + ", got " + describe(cur()));
  }

  void expect_op(const char* op) {
    if (!skip_op(op)) unexpected(std::string("'") + op + "'");
  }
  std::string expect_name() {
    if (cur().type != Tok::Name) unexpected("a name");
    std::string name = cur().text;
    advance();
    return name;
  }
  // Filter and test names may be dotted ("a.b"); none of the known ones is.
  std::string dotted_name() {
    std::string name = expect_name();
    while (is_op(".") && peek().type == Tok::Name) {
      advance();
      name.push_back('.');
      name.append(expect_name());
    }
    return name;
  }
  void expect_block_end() {
    if (cur().type != Tok::BlockEnd) unexpected("end of statement block '%}'");
    advance();
  }

  struct Depth {
    explicit Depth(Parser& p) : parser(p) {
      if (++parser.depth_ > kMaxNesting) {
        parser.fail_here("template nests blocks or brackets more than " + std::to_string(kMaxNesting) + " deep");
      }
    }
    ~Depth() { --parser.depth_; }
    Parser& parser;
  };

  // ---- nodes ----
  ExprPtr node(ExprKind kind, size_t offset) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->offset = offset;
    return e;
  }
  // Children are attached; checks the height of the tree so that long operator chains
  // (a + b + c + ...), which build deep trees without brackets, stay within the guard.
  ExprPtr done(ExprPtr e) {
    int height = 0;
    for (const auto& kid : e->kids) height = std::max(height, kid ? kid->height : 0);
    for (const auto& kw : e->kwargs) height = std::max(height, kw.second->height);
    e->height = height + 1;
    if (e->height > kMaxExprHeight) {
      src_.fail_at(e->offset, "expression nests more than " + std::to_string(kMaxExprHeight) + " operations deep");
    }
    return e;
  }
  ExprPtr binary(ExprKind kind, Op op, ExprPtr left, ExprPtr right, size_t offset) {
    auto e = node(kind, offset);
    e->op = op;
    e->kids.push_back(std::move(left));
    e->kids.push_back(std::move(right));
    return done(std::move(e));
  }

  // ---- statements ----

  // Statements up to a {% tag %} named in `ends` (left unconsumed: pos_ is at its name) or the end.
  Body parse_body(std::initializer_list<const char*> ends) {
    Depth depth(*this);
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.type == Tok::Eof) {
        if (ends.size() == 0) return body;
        std::string names;
        for (const char* end : ends) names += std::string(names.empty() ? "'" : " or '") + end + "'";
        src_.fail_at(t.offset, "unexpected end of template; looking for " + names);
      }
      if (t.type == Tok::Text) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Text;
        s->offset = t.offset;
        s->text = t.text;
        body.push_back(std::move(s));
        advance();
      } else if (t.type == Tok::VarBegin) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Print;
        s->offset = t.offset;
        advance();
        s->expr = parse_tuple(true);
        if (cur().type != Tok::VarEnd) unexpected("end of print statement '}}'");
        advance();
        body.push_back(std::move(s));
      } else if (t.type == Tok::BlockBegin) {
        const Token& tag = peek();
        if (tag.type == Tok::Name) {
          for (const char* end : ends) {
            if (tag.text == end) {
              advance();
              return body;
            }
          }
        }
        advance();
        body.push_back(parse_statement());
      } else {
        unexpected("text or a tag");
      }
    }
  }

  // After the end tag's name: the rest of the tag.
  void end_tag() { expect_block_end(); }

  StmtPtr parse_statement() {
    auto s = std::make_unique<Stmt>();
    s->offset = cur().offset;
    if (cur().type != Tok::Name) unexpected("a tag name");
    const std::string tag = cur().text;
    advance();
    if (tag == "if") return parse_if(std::move(s));
    if (tag == "set") return parse_set(std::move(s));
    Flag hard(soft_, false);  // the other blocks are frames of their own
    if (tag == "for") return parse_for(std::move(s));
    if (tag == "macro") return parse_macro(std::move(s));
    if (tag == "break" || tag == "continue") {
      if (loops_ == 0) src_.fail_at(s->offset, "'" + tag + "' outside a for loop");
      s->kind = tag == "break" ? StmtKind::Break : StmtKind::Continue;
      expect_block_end();
      return s;
    }
    if (tag == "filter") {
      s->kind = StmtKind::FilterBlock;
      parse_filter_chain(s->filters);
      expect_block_end();
      s->body = parse_body({"endfilter"});
      advance();
      end_tag();
      return s;
    }
    if (tag == "with") {
      s->kind = StmtKind::With;
      while (cur().type != Tok::BlockEnd) {
        if (!s->params.empty()) expect_op(",");
        std::string name = expect_name();
        expect_op("=");
        s->params.emplace_back(std::move(name), parse_expression(true));
      }
      advance();
      s->body = parse_body({"endwith"});
      advance();
      end_tag();
      return s;
    }
    if (tag == "generation") {
      s->kind = StmtKind::Generation;
      expect_block_end();
      s->body = parse_body({"endgeneration"});
      advance();
      end_tag();
      return s;
    }
    static const char* const kUnsupported[] = {"call", "block",      "extends", "include", "import",
                                               "from", "autoescape", "do",      "trans"};
    for (const char* name : kUnsupported) {
      if (tag == name) src_.fail_at(s->offset, "the '" + tag + "' tag is not supported in chat templates");
    }
    src_.fail_at(s->offset, "unknown tag '" + tag + "'");
  }

  StmtPtr parse_if(StmtPtr s) {
    Flag soft(soft_, true);
    s->kind = StmtKind::If;
    while (true) {
      ExprPtr cond = parse_tuple(true);
      expect_block_end();
      Body body = parse_body({"elif", "else", "endif"});
      s->branches.emplace_back(std::move(cond), std::move(body));
      const std::string which = cur().text;
      advance();
      if (which == "elif") continue;
      if (which == "else") {
        expect_block_end();
        s->else_body = parse_body({"endif"});
        advance();
      }
      end_tag();
      return s;
    }
  }

  // Names for `for` and `set`: `a`, `a, b` or `(a, b)`.
  void parse_target_names(Stmt& s) {
    const bool parens = skip_op("(");
    while (true) {
      s.names.push_back(expect_name());
      if (!skip_op(",")) break;
      s.unpack = true;
      if (cur().type != Tok::Name) break;  // trailing comma
    }
    if (parens) {
      s.unpack = true;
      expect_op(")");
    }
  }

  StmtPtr parse_for(StmtPtr s) {
    s->kind = StmtKind::For;
    parse_target_names(*s);
    if (!skip_name("in")) unexpected("'in'");
    s->expr = parse_tuple(false);
    if (skip_name("if")) s->cond = parse_expression(true);
    if (is_name("recursive")) fail_here("recursive for loops are not supported in chat templates");
    expect_block_end();
    ++loops_;
    s->body = parse_body({"endfor", "else"});
    --loops_;
    const std::string which = cur().text;
    advance();
    if (which == "else") {
      expect_block_end();
      s->else_body = parse_body({"endfor"});
      advance();
    }
    end_tag();
    return s;
  }

  StmtPtr parse_set(StmtPtr s) {
    if (cur().type == Tok::Name && peek().type == Tok::Op && peek().text == ".") {
      s->kind = StmtKind::SetAttr;
      s->names.push_back(expect_name());
      advance();
      s->names.push_back(expect_name());
      expect_op("=");
      s->expr = parse_tuple(true);
      expect_block_end();
      return s;
    }
    parse_target_names(*s);
    if (skip_op("=")) {
      s->kind = StmtKind::Set;
      s->expr = parse_tuple(true);
      expect_block_end();
      return s;
    }
    if (s->unpack) unexpected("'='");
    Flag hard(soft_, false);
    s->kind = StmtKind::SetBlock;
    if (is_op("|")) parse_filter_chain(s->filters, true);
    expect_block_end();
    s->body = parse_body({"endset"});
    advance();
    end_tag();
    return s;
  }

  StmtPtr parse_macro(StmtPtr s) {
    s->kind = StmtKind::Macro;
    s->names.push_back(expect_name());
    expect_op("(");
    while (!is_op(")")) {
      if (!s->params.empty()) expect_op(",");
      if (is_op(")")) break;
      std::string name = expect_name();
      ExprPtr fallback;
      if (skip_op("=")) {
        fallback = parse_expression(true);
      } else if (!s->params.empty() && s->params.back().second) {
        fail_here("macro parameter '" + name + "' without a default follows one with a default");
      }
      s->params.emplace_back(std::move(name), std::move(fallback));
    }
    advance();
    expect_block_end();
    const int loops = loops_;
    loops_ = 0;  // a break in a macro body cannot leave the caller's loop
    s->body = parse_body({"endmacro"});
    loops_ = loops;
    advance();
    if (cur().type == Tok::Name) advance();  // {% endmacro name %}
    end_tag();
    return s;
  }

  // ---- expressions, loosest binding first (Jinja's precedence) ----

  // Comma-separated expressions make a tuple; `with_cond` allows `a if b else c` in each.
  ExprPtr parse_tuple(bool with_cond) {
    const size_t offset = cur().offset;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (tuple_end()) break;
      items.push_back(parse_expression(with_cond));
      if (!is_op(",")) break;
      is_tuple = true;
    }
    if (!is_tuple && items.size() == 1) return std::move(items[0]);
    if (items.empty()) unexpected("an expression");
    auto e = node(ExprKind::Tuple, offset);
    e->kids = std::move(items);
    return done(std::move(e));
  }

  bool tuple_end() const {
    const Token& t = cur();
    return t.type == Tok::VarEnd || t.type == Tok::BlockEnd || (t.type == Tok::Op && t.text == ")") ||
           (t.type == Tok::Name && (t.text == "if" || t.text == "recursive"));
  }

  ExprPtr parse_expression(bool with_cond) {
    Depth depth(*this);
    if (!with_cond) return parse_or();
    ExprPtr expr;
    {
      Flag soft(soft_, true);  // a conditional expression is soft as a whole, the part before `if` too
      expr = parse_or();
    }
    if (!is_name("if") && !soft_) check_known(*expr);
    Flag soft(soft_, true);
    while (is_name("if")) {
      const size_t offset = cur().offset;
      advance();
      auto e = node(ExprKind::Cond, offset);
      e->kids.push_back(parse_or());
      e->kids.push_back(std::move(expr));
      e->kids.push_back(skip_name("else") ? parse_expression(true) : nullptr);
      expr = done(std::move(e));
    }
    return expr;
  }

  // Unknown filters and tests outside conditional expressions are syntax errors.
  void check_known(const Expr& e) const {
    if (e.kind == ExprKind::Cond) return;
    if (e.kind == ExprKind::Filter && e.filter == nullptr) src_.fail_at(e.offset, "no filter named '" + e.name + "'");
    if (e.kind == ExprKind::Test && e.test == nullptr) src_.fail_at(e.offset, "no test named '" + e.name + "'");
    for (const auto& kid : e.kids) {
      if (kid) check_known(*kid);
    }
    for (const auto& kw : e.kwargs) check_known(*kw.second);
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      const size_t offset = cur().offset;
      advance();
      left = binary(ExprKind::Binary, Op::Or, std::move(left), parse_and(), offset);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      const size_t offset = cur().offset;
      advance();
      left = binary(ExprKind::Binary, Op::And, std::move(left), parse_not(), offset);
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      Depth depth(*this);
      auto e = node(ExprKind::Unary, cur().offset);
      advance();
      e->op = Op::Not;
      e->kids.push_back(parse_not());
      return done(std::move(e));
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const size_t offset = cur().offset;
    ExprPtr first = parse_math1();
    std::vector<ExprPtr> rest;
    std::vector<Op> ops;
    while (true) {
      static const std::pair<const char*, Op> kCompare[] = {{"==", Op::Eq}, {"!=", Op::Ne}, {"<", Op::Lt},
                                                            {"<=", Op::Le}, {">", Op::Gt},  {">=", Op::Ge}};
      bool matched = false;
      for (const auto& [text, op] : kCompare) {
        if (is_op(text)) {
          advance();
          ops.push_back(op);
          matched = true;
          break;
        }
      }
      if (!matched && skip_name("in")) {
        ops.push_back(Op::In);
        matched = true;
      } else if (!matched && is_name("not") && peek().type == Tok::Name && peek().text == "in") {
        advance();
        advance();
        ops.push_back(Op::NotIn);
        matched = true;
      }
      if (!matched) break;
      rest.push_back(parse_math1());
    }
    if (ops.empty()) return first;
    auto e = node(ExprKind::Compare, offset);
    e->kids.push_back(std::move(first));
    for (auto& r : rest) e->kids.push_back(std::move(r));
    e->ops = std::move(ops);
    return done(std::move(e));
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Op op = cur().text == "+" ? Op::Add : Op::Sub;
      const size_t offset = cur().offset;
      advance();
      left = binary(ExprKind::Binary, op, std::move(left), parse_concat(), offset);
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (is_op("~")) {
      const size_t offset = cur().offset;
      advance();
      left = binary(ExprKind::Binary, Op::Concat, std::move(left), parse_math2(), offset);
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (true) {
      Op op;
      if (is_op("*")) {
        op = Op::Mul;
      } else if (is_op("/")) {
        op = Op::Div;
      } else if (is_op("//")) {
        op = Op::FloorDiv;
      } else if (is_op("%")) {
        op = Op::Mod;
      } else {
        return left;
      }
      const size_t offset = cur().offset;
      advance();
      left = binary(ExprKind::Binary, op, std::move(left), parse_pow(), offset);
    }
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {  // left-associative in Jinja: 2**3**2 is 64
      const size_t offset = cur().offset;
      advance();
      left = binary(ExprKind::Binary, Op::Pow, std::move(left), parse_unary(true), offset);
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    Depth depth(*this);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      e = node(ExprKind::Unary, cur().offset);
      e->op = cur().text == "-" ? Op::Neg : Op::Pos;
      advance();
      e->kids.push_back(parse_unary(false));
      e = done(std::move(e));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    Depth depth(*this);
    const Token& t = cur();
    const size_t offset = t.offset;
    if (t.type == Tok::Name) {
      auto e = node(ExprKind::Literal, offset);
      if (t.text == "true" || t.text == "True") {
        e->value = Value(true);
      } else if (t.text == "false" || t.text == "False") {
        e->value = Value(false);
      } else if (t.text == "none" || t.text == "None") {
        e->value = Value::none();
      } else {
        e->kind = ExprKind::Name;
        e->name = t.text;
      }
      advance();
      return done(std::move(e));
    }
    if (t.type == Tok::String) {
      std::string s;
      while (cur().type == Tok::String) {  // adjacent literals join, as in Python
        s += cur().text;
        advance();
      }
      auto e = node(ExprKind::Literal, offset);
      e->value = Value(std::move(s));
      return done(std::move(e));
    }
    if (t.type == Tok::Int || t.type == Tok::Float) {
      auto e = node(ExprKind::Literal, offset);
      e->value = t.type == Tok::Int ? Value(t.int_value) : Value(t.float_value);
      advance();
      return done(std::move(e));
    }
    if (skip_op("(")) {
      const size_t inner = cur().offset;
      if (skip_op(")")) return done(node(ExprKind::Tuple, inner));
      ExprPtr e = parse_tuple(true);
      expect_op(")");
      return e;
    }
    if (skip_op("[")) {
      auto e = node(ExprKind::List, offset);
      while (!is_op("]")) {
        if (!e->kids.empty()) expect_op(",");
        if (is_op("]")) break;
        e->kids.push_back(parse_expression(true));
      }
      advance();
      return done(std::move(e));
    }
    if (skip_op("{")) {
      auto e = node(ExprKind::Dict, offset);
      while (!is_op("}")) {
        if (!e->kids.empty()) expect_op(",");
        if (is_op("}")) break;
        e->kids.push_back(parse_expression(true));
        expect_op(":");
        e->kids.push_back(parse_expression(true));
      }
      advance();
      return done(std::move(e));
    }
    unexpected("an expression");
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      const size_t offset = cur().offset;
      if (skip_op(".")) {
        if (cur().type == Tok::Name) {
          auto a = node(ExprKind::Attr, offset);
          a->name = cur().text;
          advance();
          a->kids.push_back(std::move(e));
          e = done(std::move(a));
        } else if (cur().type == Tok::Int) {
          auto index = node(ExprKind::Literal, cur().offset);
          index->value = Value(cur().int_value);
          advance();
          auto a = node(ExprKind::Item, offset);
          a->kids.push_back(std::move(e));
          a->kids.push_back(done(std::move(index)));
          e = done(std::move(a));
        } else {
          unexpected("a name or number after '.'");
        }
      } else if (skip_op("[")) {
        e = parse_subscript(std::move(e), offset);
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr object, size_t offset) {
    Depth depth(*this);
    // [a], [a:b], [a:b:c] with any part left out
    ExprPtr parts[3];
    int colons = 0;
    if (!is_op(":")) parts[0] = parse_expression(true);
    while (colons < 2 && skip_op(":")) {
      ++colons;
      if (!is_op(":") && !is_op("]")) parts[colons] = parse_expression(true);
    }
    if (colons == 0 && is_op(",")) {  // x[a, b]: the key is a tuple
      auto key = node(ExprKind::Tuple, parts[0]->offset);
      key->kids.push_back(std::move(parts[0]));
      while (skip_op(",") && !is_op("]")) key->kids.push_back(parse_expression(true));
      parts[0] = done(std::move(key));
    }
    expect_op("]");
    auto e = node(colons == 0 ? ExprKind::Item : ExprKind::Slice, offset);
    e->kids.push_back(std::move(object));
    if (colons == 0) {
      e->kids.push_back(std::move(parts[0]));
    } else {
      for (auto& part : parts) e->kids.push_back(std::move(part));
    }
    return done(std::move(e));
  }

  // `(args, name=value)` into e->kids (after what is already there) and e->kwargs.
  void parse_call_args(Expr& e) {
    Depth depth(*this);
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (is_op(")")) break;
      if (is_op("*") || is_op("**")) fail_here("*args and **kwargs in calls are not supported");
      if (cur().type == Tok::Name && peek().type == Tok::Op && peek().text == "=") {
        std::string name = cur().text;
        advance();
        advance();
        e.kwargs.emplace_back(std::move(name), parse_expression(true));
      } else {
        if (!e.kwargs.empty()) fail_here("a positional argument follows a keyword argument");
        e.kids.push_back(parse_expression(true));
      }
    }
    advance();
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto e = node(ExprKind::Call, cur().offset);
    e->kids.push_back(std::move(callee));
    parse_call_args(*e);
    return done(std::move(e));
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        advance();
        e = parse_filter(std::move(e));
      } else if (is_name("is")) {
        e = parse_test(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  // After the `|`: name and optional arguments. `input` may be null (filter blocks).
  ExprPtr parse_filter(ExprPtr input) {
    auto e = node(ExprKind::Filter, cur().offset);
    e->name = dotted_name();
    e->filter = find_filter(e->name);
    if (e->filter == nullptr && !soft_) src_.fail_at(e->offset, "no filter named '" + e->name + "'");
    e->kids.push_back(std::move(input));
    if (is_op("(")) parse_call_args(*e);
    return done(std::move(e));
  }

  // `| f(x) | g` for {% filter %} and {% set x | f %}; the first `|` is optional for {% filter %}.
  void parse_filter_chain(std::vector<ExprPtr>& filters, bool leading_bar = false) {
    if (leading_bar) expect_op("|");
    filters.push_back(parse_filter(nullptr));
    while (skip_op("|")) filters.push_back(parse_filter(nullptr));
  }

  ExprPtr parse_test(ExprPtr input) {
    auto e = node(ExprKind::Test, cur().offset);
    advance();  // is
    e->negated = skip_name("not");
    e->name = dotted_name();
    e->test = find_test(e->name);
    if (e->test == nullptr && !soft_) src_.fail_at(e->offset, "no test named '" + e->name + "'");
    e->kids.push_back(std::move(input));
    if (is_op("(")) {
      parse_call_args(*e);
    } else {
      const Token& t = cur();
      const bool argument_start = t.type == Tok::Name || t.type == Tok::String || t.type == Tok::Int ||
                                  t.type == Tok::Float || (t.type == Tok::Op && (t.text == "[" || t.text == "{"));
      const bool keyword = t.type == Tok::Name && (t.text == "else" || t.text == "or" || t.text == "and");
      if (argument_start && !keyword) {  // `x is divisibleby 3`
        if (t.type == Tok::Name && t.text == "is") fail_here("tests cannot be chained with 'is'");
        e->kids.push_back(parse_postfix(parse_primary()));
      }
    }
    return done(std::move(e));
  }

  const Source& src_;
  const std::vector<Token>& toks_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loops_ = 0;
  // Inside an if statement (not in blocks nested in it) or a conditional expression, an unknown
  // filter or test is an error only when evaluated, as Jinja compiles these "soft" frames.
  bool soft_ = false;
};

}  // namespace

Body parse(const Source& source, const std::vector<Token>& tokens) { return Parser(source, tokens).parse_template(); }

}  // namespace hayate::chat
