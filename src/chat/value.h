// The values a chat template computes with, modelled on the Python objects Jinja hands around:
// undefined, None, bool, int, float, str, list/tuple, dict, namespace and callables. Lists and
// dicts are shared by reference, as in Python, so `ns.x = ...` and `list.append` are seen by
// every holder. Integers are 64-bit (Python's are unbounded: overflow is an Error here).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace hayate::chat {

class Value;
class Interpreter;

// Positional and keyword arguments of a call, a filter or a test.
struct Args {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

using NativeFn = std::function<Value(Interpreter&, Args&)>;

struct Callable {
  std::string name;
  NativeFn fn;
};

struct ListData {
  std::vector<Value> items;
  bool tuple = false;  // prints as (a, b) and cannot be appended to
  bool lazy = false;   // what Python's generators are (select, map, ... results): always true, no len()
  int depth = 1;       // nesting depth, kept below kMaxDepth
  ~ListData();
};

struct DictData {
  std::vector<std::pair<Value, Value>> items;  // insertion order, as Python dicts keep it
  bool is_namespace = false;                   // the object namespace() makes: `set ns.x = ...` works on it
  int depth = 1;
  ~DictData();
};

// Containers nest at most this deep; deeper is an Error(BadInput) (a template building lists
// of lists in a loop must not overflow the stack of the recursive printers).
inline constexpr int kMaxDepth = 200;

class Value {
 public:
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Callable };

  Value() = default;  // undefined
  static Value undefined(std::string hint = {});
  static Value none();
  Value(bool b);
  Value(int64_t i);
  Value(int i) : Value(static_cast<int64_t>(i)) {}
  Value(double d);
  Value(std::string s);
  Value(const char* s) : Value(std::string(s)) {}
  static Value list(std::vector<Value> items = {}, bool tuple = false);
  static Value generator(std::vector<Value> items);
  static Value dict(std::vector<std::pair<Value, Value>> items = {}, bool is_namespace = false);
  static Value function(std::string name, NativeFn fn);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int || kind_ == Kind::Bool; }  // bool is an int, as in Python
  bool is_number() const { return is_int() || kind_ == Kind::Float; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_list() const { return kind_ == Kind::List; }
  bool is_tuple() const { return kind_ == Kind::List && as_list().tuple; }
  bool is_generator() const { return kind_ == Kind::List && as_list().lazy; }
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_namespace() const { return kind_ == Kind::Dict && as_dict().is_namespace; }
  bool is_callable() const { return kind_ == Kind::Callable; }

  bool as_bool() const { return std::get<int64_t>(data_) != 0; }
  int64_t as_int() const { return std::get<int64_t>(data_); }                    // Int or Bool
  double as_double() const;                                                      // Int, Bool or Float
  const std::string& as_string() const { return std::get<std::string>(data_); }  // String; Undefined: hint
  ListData& as_list() const { return *std::get<std::shared_ptr<ListData>>(data_); }
  DictData& as_dict() const { return *std::get<std::shared_ptr<DictData>>(data_); }
  const Callable& as_callable() const { return *std::get<std::shared_ptr<Callable>>(data_); }
  const void* identity() const;  // the shared object of a list, dict or callable, else null
  int depth() const;             // 0 for scalars

  bool truthy() const;
  // Python's str(): what {{ value }} prints. Undefined prints as "".
  std::string str() const;
  // Python's repr(), used for items inside printed lists and dicts.
  std::string repr() const;
  const char* type_name() const;  // "str", "list", "dict object" ... for messages

  // Dict look-up by key (Python equality, so 1 and 1.0 and True find the same key); null when absent.
  const Value* find(const Value& key) const;
  const Value* find_name(std::string_view key) const;  // a str key

  // If this value is the last owner of a list or dict, moves its contents into `out`, so that
  // destroying nested containers needs no recursion (see ListData::~ListData).
  void release_children(std::vector<Value>& out);

 private:
  Kind kind_ = Kind::Undefined;
  // int64_t for Bool and Int, std::string for String and for the Undefined's hint.
  std::variant<int64_t, double, std::string, std::shared_ptr<ListData>, std::shared_ptr<DictData>,
               std::shared_ptr<Callable>>
      data_{int64_t{0}};
};

// Bounds the recursive operations on values below (printing, comparing, JSON) on this thread while
// it lives: lists that share sub-lists form a DAG whose tree form can be exponentially large.
// Past the bounds they fail with Error(BadInput). Without one, they are unbounded.
class ValueBudget {
 public:
  ValueBudget(uint64_t max_nodes, size_t max_text);
  ~ValueBudget();
  ValueBudget(const ValueBudget&) = delete;
  ValueBudget& operator=(const ValueBudget&) = delete;

 private:
  uint64_t saved_nodes_;
  size_t saved_text_;
};

// Python ==, with 1 == 1.0 == True and deep comparison of lists and dicts.
bool equal(const Value& a, const Value& b);
// Python <; Error(BadInput) for types Python cannot order (str < int).
bool less(const Value& a, const Value& b);

// Python's repr of a float: shortest round-trip digits, "1.0", "1e-05", "inf".
std::string format_float(double d);
// Python's repr of a str: quotes chosen as Python chooses them, escapes for control characters.
std::string repr_string(std::string_view s);

// The arguments of json.dumps that transformers' tojson filter passes on.
struct JsonStyle {
  std::optional<std::string> indent;  // None: one line; else a newline and this per level
  std::string item_separator = ", ";  // Python makes it "," when indent is given
  std::string key_separator = ": ";
  bool ensure_ascii = false;
  bool sort_keys = false;
};
// json.dumps(value, ...). Undefined, a namespace or a callable is an Error(BadInput), as the
// TypeError Python raises for them.
std::string to_json_text(const Value& v, const JsonStyle& style);

// Conversions at the API boundary; objects keep their key order (ordered_json) or sorted (json).
Value from_json(const nlohmann::ordered_json& j);
Value from_json(const nlohmann::json& j);

}  // namespace hayate::chat
