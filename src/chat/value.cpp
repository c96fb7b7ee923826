#include "chat/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "chat/text.h"
#include "core/error.h"
#include "core/json_escape.h"

namespace hayate::chat {
namespace {

void check_depth(int depth) {
  if (depth > kMaxDepth) {
    fail(ErrorKind::BadInput, "chat template: lists and dicts nested more than " + std::to_string(kMaxDepth) + " deep");
  }
}

// What the innermost ValueBudget allows: nodes visited, bytes of text built.
thread_local uint64_t t_nodes_left = UINT64_MAX;
thread_local size_t t_max_text = SIZE_MAX;

// Containers whose depth field went stale (a nested list appended to after it was wrapped) can be
// deeper than kMaxDepth; the recursive operations stop at twice that. Each call is one node.
void check_recursion(int level) {
  if (level > 2 * kMaxDepth) fail(ErrorKind::BadInput, "chat template: value nested too deeply to print");
  if (t_nodes_left == 0) {
    fail(ErrorKind::BadInput, "chat template: printing or comparing values ran past the template's step limit");
  }
  --t_nodes_left;
}

void check_text(const std::string& out) {
  if (out.size() > t_max_text) {
    fail(ErrorKind::BadInput,
         "chat template: a value printed as text grew past " + std::to_string(t_max_text) + " bytes");
  }
}

bool holds_containers(const std::vector<Value>& items) {
  return std::any_of(items.begin(), items.end(), [](const Value& v) { return v.is_list() || v.is_dict(); });
}

void release_all(std::vector<Value>& items) noexcept {
  if (!holds_containers(items)) return;  // scalars only: the vector's own destructor is enough
  try {
    std::vector<Value> pending = std::move(items);
    while (!pending.empty()) {
      Value v = std::move(pending.back());
      pending.pop_back();
      v.release_children(pending);
    }
  } catch (...) {
    // Out of memory while growing `pending`: what is left is freed by ordinary recursion.
  }
}

void repr_into(const Value& v, std::string& out, int level);

void repr_sequence(const ListData& list, std::string& out, int level) {
  if (list.lazy) {
    out += "<generator object>";
    return;
  }
  out += list.tuple ? '(' : '[';
  for (size_t i = 0; i < list.items.size(); ++i) {
    if (i > 0) out += ", ";
    repr_into(list.items[i], out, level + 1);
  }
  if (list.tuple && list.items.size() == 1) out += ',';
  out += list.tuple ? ')' : ']';
}

void repr_into(const Value& v, std::string& out, int level) {
  check_recursion(level);
  check_text(out);
  switch (v.kind()) {
    case Value::Kind::String:
      out += repr_string(v.as_string());
      return;
    case Value::Kind::Undefined:
      out += "Undefined";
      return;
    case Value::Kind::List:
      repr_sequence(v.as_list(), out, level);
      return;
    case Value::Kind::Dict: {
      const DictData& d = v.as_dict();
      if (d.is_namespace) out += "<Namespace ";
      out += '{';
      for (size_t i = 0; i < d.items.size(); ++i) {
        if (i > 0) out += ", ";
        repr_into(d.items[i].first, out, level + 1);
        out += ": ";
        repr_into(d.items[i].second, out, level + 1);
      }
      out += '}';
      if (d.is_namespace) out += '>';
      return;
    }
    default:
      out += v.str();
      return;
  }
}

bool equal_at(const Value& a, const Value& b, int level) {
  check_recursion(level);
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Value::Kind::Float || b.kind() == Value::Kind::Float) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::Undefined:
    case Value::Kind::None:
      return true;
    case Value::Kind::String:
      return a.as_string() == b.as_string();
    case Value::Kind::List: {
      const ListData& x = a.as_list();
      const ListData& y = b.as_list();
      if (x.lazy || y.lazy) return &x == &y;
      if (x.tuple != y.tuple || x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); ++i) {
        if (!equal_at(x.items[i], y.items[i], level + 1)) return false;
      }
      return true;
    }
    case Value::Kind::Dict: {
      const DictData& x = a.as_dict();
      const DictData& y = b.as_dict();
      if (x.is_namespace || y.is_namespace) return &x == &y;
      if (x.items.size() != y.items.size()) return false;
      for (const auto& [key, value] : x.items) {
        const Value* other = b.find(key);
        if (other == nullptr || !equal_at(value, *other, level + 1)) return false;
      }
      return true;
    }
    default:
      return a.identity() == b.identity();
  }
}

std::string json_key(const Value& key) {
  switch (key.kind()) {
    case Value::Kind::String:
      return key.as_string();
    case Value::Kind::Bool:
      return key.as_bool() ? "true" : "false";
    case Value::Kind::None:
      return "null";
    case Value::Kind::Int:
      return std::to_string(key.as_int());
    case Value::Kind::Float:
      return format_float(key.as_double());
    default:
      fail(ErrorKind::BadInput,
           std::string("chat template: tojson: keys must be str, int, float, bool or None, not ") + key.type_name());
  }
}

void json_into(const Value& v, const JsonStyle& style, int level, std::string& out) {
  check_recursion(level);
  check_text(out);
  auto newline = [&](int at) {
    if (!style.indent) return;
    out += '\n';
    for (int i = 0; i < at; ++i) out += *style.indent;
  };
  switch (v.kind()) {
    case Value::Kind::None:
      out += "null";
      return;
    case Value::Kind::Bool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Value::Kind::Int:
      out += std::to_string(v.as_int());
      return;
    case Value::Kind::Float: {
      const double d = v.as_double();
      out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity") : format_float(d);
      return;
    }
    case Value::Kind::String:
      append_json_string(out, v.as_string(), style.ensure_ascii);
      return;
    case Value::Kind::List: {
      if (v.is_generator()) break;
      const auto& items = v.as_list().items;
      if (items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += style.item_separator;
        newline(level + 1);
        json_into(items[i], style, level + 1, out);
      }
      newline(level);
      out += ']';
      return;
    }
    case Value::Kind::Dict: {
      if (v.is_namespace()) break;
      std::vector<std::pair<std::string, const Value*>> items;
      for (const auto& [key, value] : v.as_dict().items) items.emplace_back(json_key(key), &value);
      if (style.sort_keys) {
        std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      }
      if (items.empty()) {
        out += "{}";
        return;
      }
      out += '{';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += style.item_separator;
        newline(level + 1);
        append_json_string(out, items[i].first, style.ensure_ascii);
        out += style.key_separator;
        json_into(*items[i].second, style, level + 1, out);
      }
      newline(level);
      out += '}';
      return;
    }
    default:
      break;
  }
  fail(ErrorKind::BadInput,
       std::string("chat template: tojson: object of type ") + v.type_name() + " is not JSON serializable");
}

template <typename Json>
Value convert_json(const Json& j, int level) {
  check_depth(level);
  switch (j.type()) {
    case Json::value_t::null:
      return Value::none();
    case Json::value_t::boolean:
      return Value(j.template get<bool>());
    case Json::value_t::number_integer:
      return Value(j.template get<int64_t>());
    case Json::value_t::number_unsigned: {
      const auto u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
      return Value(static_cast<int64_t>(u));
    }
    case Json::value_t::number_float:
      return Value(j.template get<double>());
    case Json::value_t::string:
      return Value(j.template get<std::string>());
    case Json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& item : j) items.push_back(convert_json(item, level + 1));
      return Value::list(std::move(items));
    }
    case Json::value_t::object: {
      std::vector<std::pair<Value, Value>> items;
      items.reserve(j.size());
      for (const auto& [key, item] : j.items()) items.emplace_back(Value(key), convert_json(item, level + 1));
      return Value::dict(std::move(items));
    }
    default:
      fail(ErrorKind::BadInput, "chat template: binary JSON values cannot be passed to a template");
  }
}

}  // namespace

ListData::~ListData() { release_all(items); }

DictData::~DictData() {
  const bool nested = std::any_of(items.begin(), items.end(), [](const auto& kv) {
    return kv.first.is_list() || kv.first.is_dict() || kv.second.is_list() || kv.second.is_dict();
  });
  if (!nested) return;
  try {
    std::vector<Value> values;
    values.reserve(items.size() * 2);
    for (auto& [key, value] : items) {
      values.push_back(std::move(key));
      values.push_back(std::move(value));
    }
    items.clear();
    release_all(values);
  } catch (...) {
    // Out of memory: the items are freed by ordinary recursion.
  }
}

Value Value::undefined(std::string hint) {
  Value v;
  v.data_ = std::move(hint);
  return v;
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}

Value::Value(bool b) : kind_(Kind::Bool), data_(int64_t{b ? 1 : 0}) {}
Value::Value(int64_t i) : kind_(Kind::Int), data_(i) {}
Value::Value(double d) : kind_(Kind::Float), data_(d) {}
Value::Value(std::string s) : kind_(Kind::String), data_(std::move(s)) {}

Value Value::list(std::vector<Value> items, bool tuple) {
  int depth = 0;
  for (const Value& item : items) depth = std::max(depth, item.depth());
  check_depth(depth + 1);
  Value v;
  v.kind_ = Kind::List;
  v.data_ = std::make_shared<ListData>(ListData{std::move(items), tuple, false, depth + 1});
  return v;
}

Value Value::generator(std::vector<Value> items) {
  Value v = list(std::move(items));
  v.as_list().lazy = true;
  return v;
}

Value Value::dict(std::vector<std::pair<Value, Value>> items, bool is_namespace) {
  int depth = 0;
  for (const auto& item : items) depth = std::max(depth, item.second.depth());
  check_depth(depth + 1);
  Value v;
  v.kind_ = Kind::Dict;
  v.data_ = std::make_shared<DictData>(DictData{std::move(items), is_namespace, depth + 1});
  return v;
}

Value Value::function(std::string name, NativeFn fn) {
  Value v;
  v.kind_ = Kind::Callable;
  v.data_ = std::make_shared<Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}

double Value::as_double() const {
  return kind_ == Kind::Float ? std::get<double>(data_) : static_cast<double>(std::get<int64_t>(data_));
}

const void* Value::identity() const {
  switch (kind_) {
    case Kind::List:
      return &as_list();
    case Kind::Dict:
      return &as_dict();
    case Kind::Callable:
      return &as_callable();
    default:
      return nullptr;
  }
}

int Value::depth() const {
  if (kind_ == Kind::List) return as_list().depth;
  if (kind_ == Kind::Dict) return as_dict().depth;
  return 0;
}

void Value::release_children(std::vector<Value>& out) {
  if (kind_ == Kind::List) {
    auto& ptr = std::get<std::shared_ptr<ListData>>(data_);
    if (ptr.use_count() != 1) return;
    for (Value& item : ptr->items) out.push_back(std::move(item));
    ptr->items.clear();
  } else if (kind_ == Kind::Dict) {
    auto& ptr = std::get<std::shared_ptr<DictData>>(data_);
    if (ptr.use_count() != 1) return;
    for (auto& item : ptr->items) {
      out.push_back(std::move(item.first));
      out.push_back(std::move(item.second));
    }
    ptr->items.clear();
  }
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None:
      return false;
    case Kind::Bool:
    case Kind::Int:
      return as_int() != 0;
    case Kind::Float:
      return as_double() != 0.0;
    case Kind::String:
      return !as_string().empty();
    case Kind::List:
      return as_list().lazy || !as_list().items.empty();
    case Kind::Dict:
      return is_namespace() || !as_dict().items.empty();
    case Kind::Callable:
      return true;
  }
  return false;
}

std::string Value::str() const {
  switch (kind_) {
    case Kind::Undefined:
      return "";
    case Kind::None:
      return "None";
    case Kind::Bool:
      return as_bool() ? "True" : "False";
    case Kind::Int:
      return std::to_string(as_int());
    case Kind::Float:
      return format_float(as_double());
    case Kind::String:
      return as_string();
    case Kind::List:
    case Kind::Dict: {
      std::string out;
      repr_into(*this, out, 0);
      return out;
    }
    case Kind::Callable:
      return "<function " + as_callable().name + ">";
  }
  return "";
}

std::string Value::repr() const {
  std::string out;
  repr_into(*this, out, 0);
  return out;
}

const char* Value::type_name() const {
  switch (kind_) {
    case Kind::Undefined:
      return "Undefined";
    case Kind::None:
      return "NoneType";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::String:
      return "str";
    case Kind::List:
      return is_generator() ? "generator" : is_tuple() ? "tuple" : "list";
    case Kind::Dict:
      return is_namespace() ? "Namespace" : "dict";
    case Kind::Callable:
      return "function";
  }
  return "object";
}

const Value* Value::find(const Value& key) const {
  for (const auto& [k, v] : as_dict().items) {
    if (equal(k, key)) return &v;
  }
  return nullptr;
}

const Value* Value::find_name(std::string_view key) const {
  for (const auto& [k, v] : as_dict().items) {
    if (k.is_string() && k.as_string() == key) return &v;
  }
  return nullptr;
}

ValueBudget::ValueBudget(uint64_t max_nodes, size_t max_text) : saved_nodes_(t_nodes_left), saved_text_(t_max_text) {
  t_nodes_left = max_nodes;
  t_max_text = max_text;
}

ValueBudget::~ValueBudget() {
  t_nodes_left = saved_nodes_;
  t_max_text = saved_text_;
}

bool equal(const Value& a, const Value& b) { return equal_at(a, b, 0); }

namespace {

bool less_at(const Value& a, const Value& b, int level) {
  check_recursion(level);
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Value::Kind::Float || b.kind() == Value::Kind::Float) return a.as_double() < b.as_double();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple() && !a.is_generator() && !b.is_generator()) {
    const auto& x = a.as_list().items;
    const auto& y = b.as_list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equal_at(x[i], y[i], level + 1)) return less_at(x[i], y[i], level + 1);
    }
    return x.size() < y.size();
  }
  if (a.is_undefined() || b.is_undefined()) {
    const Value& u = a.is_undefined() ? a : b;
    fail(ErrorKind::BadInput,
         "chat template: " + (u.as_string().empty() ? "an undefined value" : u.as_string()) + " (cannot be compared)");
  }
  fail(ErrorKind::BadInput, std::string("chat template: '<' not supported between instances of '") + a.type_name() +
                                "' and '" + b.type_name() + "'");
}

}  // namespace

bool less(const Value& a, const Value& b) { return less_at(a, b, 0); }

std::string format_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  const std::string sci(buf, res.ptr);  // "-1.2345e+17": shortest digits that read back the same
  const size_t e = sci.find('e');
  const bool negative = sci[0] == '-';
  std::string digits;
  for (size_t i = negative ? 1 : 0; i < e; ++i) {
    if (sci[i] != '.') digits += sci[i];
  }
  const int exponent = std::stoi(sci.substr(e + 1));
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    // Python writes these without an exponent
    if (exponent < 0) {
      out.append("0.");
      out.append(static_cast<size_t>(-exponent - 1), '0');
      out.append(digits);
    } else if (static_cast<size_t>(exponent) + 1 >= digits.size()) {
      out.append(digits);
      out.append(static_cast<size_t>(exponent) + 1 - digits.size(), '0');
      out.append(".0");
    } else {
      const size_t point = static_cast<size_t>(exponent) + 1;
      out.append(digits, 0, point);
      out.push_back('.');
      out.append(digits, point, std::string::npos);
    }
    return out;
  }
  out.push_back(digits[0]);
  if (digits.size() > 1) {
    out.push_back('.');
    out.append(digits, 1, std::string::npos);
  }
  char exp[16];
  std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  out.append(exp);
  return out;
}

std::string repr_string(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  const std::vector<size_t> at = text::code_point_offsets(s);
  for (size_t i = 0; i + 1 < at.size(); ++i) {
    const std::string_view bytes = s.substr(at[i], at[i + 1] - at[i]);
    const char32_t cp = text::decode_at(s, at[i]);
    char buf[16];
    if (cp == static_cast<char32_t>(quote) || cp == U'\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == U'\n') {
      out += "\\n";
    } else if (cp == U'\r') {
      out += "\\r";
    } else if (cp == U'\t') {
      out += "\\t";
    } else if (cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD) {
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(cp));
      out += buf;
    } else if ((cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) || (cp >= 0x205F && cp <= 0x206F) ||
               cp == 0x3000 || cp == 0xFEFF) {
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
      out += buf;
    } else {
      out += bytes;
    }
  }
  out += quote;
  return out;
}

std::string to_json_text(const Value& v, const JsonStyle& style) {
  std::string out;
  json_into(v, style, 0, out);
  return out;
}

Value from_json(const nlohmann::ordered_json& j) { return convert_json(j, 0); }
Value from_json(const nlohmann::json& j) { return convert_json(j, 0); }

}  // namespace hayate::chat
