// Jinja's tests (`x is defined`, `n is divisibleby 3` ...), with the semantics of jinja2 3.1.
#include <cmath>
#include <string_view>

#include "chat/builtins.h"
#include "chat/eval.h"
#include "chat/text.h"

namespace hayate::chat {
namespace {

[[noreturn]] void fail_undefined(Interpreter& in, const Value& u) {
  in.fail(u.as_string().empty() ? "an undefined value was used" : u.as_string());
}

const Value& test_arg(Interpreter& in, const Args& args, std::string_view test) {
  if (args.positional.size() != 1 || !args.keyword.empty())
    in.fail("test '" + std::string(test) + "' takes one argument");
  return args.positional[0];
}

void no_test_args(Interpreter& in, const Args& args, std::string_view test) {
  if (!args.positional.empty() || !args.keyword.empty()) in.fail("test '" + std::string(test) + "' takes no arguments");
}

#define HAYATE_CHAT_TEST(fname, expr)                       \
  bool fname(Interpreter& in, const Value& v, Args& args) { \
    no_test_args(in, args, (#fname) + 2);                   \
    return expr;                                            \
  }
HAYATE_CHAT_TEST(t_defined, !v.is_undefined())
HAYATE_CHAT_TEST(t_undefined, v.is_undefined())
HAYATE_CHAT_TEST(t_none, v.is_none())
HAYATE_CHAT_TEST(t_boolean, v.is_bool())
HAYATE_CHAT_TEST(t_true, v.is_bool() && v.as_bool())
HAYATE_CHAT_TEST(t_false, v.is_bool() && !v.as_bool())
HAYATE_CHAT_TEST(t_integer, v.kind() == Value::Kind::Int)
HAYATE_CHAT_TEST(t_float, v.kind() == Value::Kind::Float)
HAYATE_CHAT_TEST(t_number, v.is_number())
HAYATE_CHAT_TEST(t_string, v.is_string())
HAYATE_CHAT_TEST(t_mapping, v.is_dict() && !v.is_namespace())
HAYATE_CHAT_TEST(t_iterable, v.is_undefined() || v.is_string() || v.is_list() || (v.is_dict() && !v.is_namespace()))
HAYATE_CHAT_TEST(t_sequence, v.is_undefined() || v.is_string() || (v.is_list() && !v.is_generator()) ||
                                 (v.is_dict() && !v.is_namespace()))
HAYATE_CHAT_TEST(t_callable, v.is_callable() || v.is_undefined())  // calling undefined raises, but it has __call__
HAYATE_CHAT_TEST(t_lower, text::lower(v.str()) == v.str() && text::upper(v.str()) != v.str())
HAYATE_CHAT_TEST(t_upper, text::upper(v.str()) == v.str() && text::lower(v.str()) != v.str())
#undef HAYATE_CHAT_TEST

bool parity(Interpreter& in, const Value& v, Args& args, bool odd) {
  no_test_args(in, args, odd ? "odd" : "even");
  if (v.is_undefined()) fail_undefined(in, v);
  if (!v.is_number()) in.fail(std::string("odd/even need a number, not ") + v.type_name());
  if (v.is_int()) return (v.as_int() % 2 != 0) == odd;
  const double m = std::fmod(v.as_double(), 2.0);
  return odd ? (m == 1.0 || m == -1.0) : m == 0.0;
}
bool t_odd(Interpreter& in, const Value& v, Args& args) { return parity(in, v, args, true); }
bool t_even(Interpreter& in, const Value& v, Args& args) { return parity(in, v, args, false); }

bool t_divisibleby(Interpreter& in, const Value& v, Args& args) {
  const Value& n = test_arg(in, args, "divisibleby");
  if (v.is_undefined()) fail_undefined(in, v);
  if (!v.is_number() || !n.is_number()) in.fail("divisibleby needs numbers");
  if (v.is_int() && n.is_int()) {
    if (n.as_int() == 0) in.fail("integer division or modulo by zero");
    if (n.as_int() == -1) return true;
    return v.as_int() % n.as_int() == 0;
  }
  if (n.as_double() == 0) in.fail("float modulo by zero");
  return std::fmod(v.as_double(), n.as_double()) == 0;
}

bool t_eq(Interpreter& in, const Value& v, Args& args) { return equal(v, test_arg(in, args, "eq")); }
bool t_ne(Interpreter& in, const Value& v, Args& args) { return !equal(v, test_arg(in, args, "ne")); }
bool t_lt(Interpreter& in, const Value& v, Args& args) { return less(v, test_arg(in, args, "lt")); }
bool t_gt(Interpreter& in, const Value& v, Args& args) { return less(test_arg(in, args, "gt"), v); }
bool t_le(Interpreter& in, const Value& v, Args& args) { return !less(test_arg(in, args, "le"), v); }
bool t_ge(Interpreter& in, const Value& v, Args& args) { return !less(v, test_arg(in, args, "ge")); }
bool t_in(Interpreter& in, const Value& v, Args& args) { return contains(in, test_arg(in, args, "in"), v); }

bool t_sameas(Interpreter& in, const Value& v, Args& args) {
  const Value& other = test_arg(in, args, "sameas");
  if (v.identity() != nullptr || other.identity() != nullptr) return v.identity() == other.identity();
  return v.kind() == other.kind() && equal(v, other);
}

struct NamedTest {
  std::string_view name;
  TestFn fn;
};
constexpr NamedTest kTests[] = {
    {"boolean", t_boolean},
    {"callable", t_callable},
    {"defined", t_defined},
    {"divisibleby", t_divisibleby},
    {"eq", t_eq},
    {"equalto", t_eq},
    {"==", t_eq},
    {"even", t_even},
    {"false", t_false},
    {"float", t_float},
    {"ge", t_ge},
    {">=", t_ge},
    {"gt", t_gt},
    {">", t_gt},
    {"greaterthan", t_gt},
    {"in", t_in},
    {"integer", t_integer},
    {"iterable", t_iterable},
    {"le", t_le},
    {"<=", t_le},
    {"lower", t_lower},
    {"lt", t_lt},
    {"<", t_lt},
    {"lessthan", t_lt},
    {"mapping", t_mapping},
    {"ne", t_ne},
    {"!=", t_ne},
    {"none", t_none},
    {"number", t_number},
    {"odd", t_odd},
    {"sameas", t_sameas},
    {"sequence", t_sequence},
    {"string", t_string},
    {"true", t_true},
    {"undefined", t_undefined},
    {"upper", t_upper},
};

}  // namespace

TestFn find_test(std::string_view name) {
  for (const auto& t : kTests) {
    if (t.name == name) return t.fn;
  }
  return nullptr;
}

}  // namespace hayate::chat
