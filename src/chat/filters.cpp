// Jinja's filters, with the semantics of jinja2 3.1 and transformers' tojson.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string_view>

#include "chat/builtins.h"
#include "chat/eval.h"
#include "chat/text.h"

namespace hayate::chat {
namespace {

[[noreturn]] void fail_undefined(Interpreter& in, const Value& u) {
  in.fail(u.as_string().empty() ? "an undefined value was used" : u.as_string());
}

// "a.b.0": attribute/item path, as Jinja's attribute= arguments take it.
Value lookup_path(Interpreter& in, const Value& item, const Value& path) {
  if (path.is_int()) return get_item(in, item, path);
  Value v = item;
  for (const std::string& part : text::split(path.str(), std::string("."), -1)) {
    const bool digits =
        !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    v = digits && part.size() < 18 ? get_item(in, v, Value(static_cast<int64_t>(std::stoll(part))))
                                   : get_item(in, v, Value(part));
  }
  return v;
}

// Sort and compare keys: lower-cased strings unless case_sensitive.
Value fold_case(const Value& v, bool case_sensitive) {
  return !case_sensitive && v.is_string() ? Value(text::lower(v.as_string())) : v;
}

std::vector<std::string> split_lines(std::string_view s) {
  std::vector<std::string> lines;
  size_t begin = 0;
  for (size_t i = 0; i < s.size();) {
    const char32_t cp = text::decode_at(s, i);
    const size_t next = text::next_offset(s, i);
    const bool brk = cp == U'\n' || cp == U'\r' || cp == 0xB || cp == 0xC || (cp >= 0x1C && cp <= 0x1E) || cp == 0x85 ||
                     cp == 0x2028 || cp == 0x2029;
    if (brk) {
      lines.emplace_back(s.substr(begin, i - begin));
      begin = cp == U'\r' && next < s.size() && s[next] == '\n' ? next + 1 : next;
      i = begin;
    } else {
      i = next;
    }
  }
  if (begin < s.size()) lines.emplace_back(s.substr(begin));
  return lines;
}

bool bool_arg(const Args& args, size_t index, std::string_view name, bool fallback) {
  const Value* v = find_arg(args, index, name);
  return v != nullptr ? v->truthy() : fallback;
}

// ---- filters ----

Value f_abs(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "abs", 0, {});
  if (v.kind() == Value::Kind::Float) return Value(std::fabs(v.as_double()));
  if (!v.is_int()) in.fail(std::string("bad operand type for abs(): '") + v.type_name() + "'");
  if (v.as_int() == INT64_MIN) in.fail("integer overflow");
  return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
}

Value f_attr(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "attr", 1, {});
  if (args.positional.empty()) in.fail("attr needs a name");
  return get_attr(in, v, args.positional[0].str());
}

Value f_capitalize(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "capitalize", 0, {});
  return Value(text::capitalize(v.str()));
}

Value f_default(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "default", 2, {"default_value", "boolean"});
  if (v.is_undefined() || (bool_arg(args, 1, "boolean", false) && !v.truthy())) {
    return arg_or(args, 0, "default_value", Value(""));
  }
  return v;
}

Value f_dictsort(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "dictsort", 3, {"case_sensitive", "by", "reverse"});
  if (!v.is_dict() || v.is_namespace()) in.fail("dictsort needs a dict");
  const bool case_sensitive = bool_arg(args, 0, "case_sensitive", false);
  const std::string by = arg_or(args, 1, "by", Value("key")).str();
  if (by != "key" && by != "value") in.fail("dictsort: 'by' must be 'key' or 'value'");
  std::vector<std::pair<Value, Value>> items = v.as_dict().items;
  const bool reverse = bool_arg(args, 2, "reverse", false);
  std::stable_sort(items.begin(), items.end(), [&](const auto& a, const auto& b) {
    const Value x = fold_case(by == "key" ? a.first : a.second, case_sensitive);
    const Value y = fold_case(by == "key" ? b.first : b.second, case_sensitive);
    return reverse ? less(y, x) : less(x, y);
  });
  std::vector<Value> out;
  out.reserve(items.size());
  for (auto& [key, value] : items) out.push_back(Value::list({key, value}, true));
  return Value::list(std::move(out));
}

Value f_escape(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "escape", 0, {});
  std::string out;
  for (char c : v.str()) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  in.check_size(out.size());
  return Value(std::move(out));
}

Value f_first(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "first", 0, {});
  if (v.is_list()) {
    const auto& items = v.as_list().items;
    return items.empty() ? Value::undefined("no first item, the sequence was empty") : items.front();
  }
  std::vector<Value> items = iterate(in, v);
  return items.empty() ? Value::undefined("no first item, the sequence was empty") : items.front();
}

Value f_last(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "last", 0, {});
  if (v.is_generator()) in.fail("'generator' object is not reversible");
  std::vector<Value> items = iterate(in, v);
  return items.empty() ? Value::undefined("no last item, the sequence was empty") : items.back();
}

// Python's float() of a str: surrounding whitespace, underscores between digits, inf and nan.
std::optional<double> parse_float(const std::string& raw) {
  std::string s = text::strip(raw, std::nullopt, true, true);
  std::string clean;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      const bool between = i > 0 && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i - 1])) &&
                           std::isdigit(static_cast<unsigned char>(s[i + 1]));
      if (!between) return std::nullopt;
      continue;
    }
    clean += s[i];
  }
  if (clean.empty()) return std::nullopt;
  const std::string lower = text::lower(clean);
  const std::string body = lower[0] == '+' || lower[0] == '-' ? lower.substr(1) : lower;
  if (body == "inf" || body == "infinity" || body == "nan") {
    const double x = body == "nan" ? NAN : INFINITY;
    return lower[0] == '-' ? -x : x;
  }
  if (body.find_first_not_of("0123456789.e+-") != std::string::npos || body.find("0x") != std::string::npos) {
    return std::nullopt;
  }
  char* end = nullptr;
  const double d = std::strtod(clean.c_str(), &end);
  if (end != clean.c_str() + clean.size()) return std::nullopt;
  return d;
}

// Python's int(str, base): whitespace, sign, underscores, a 0x/0o/0b prefix matching the base.
std::optional<int64_t> parse_int(const std::string& raw, int64_t base) {
  std::string s = text::strip(raw, std::nullopt, true, true);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.erase(0, 1);
  }
  if (s.size() > 1 && s[0] == '0') {
    const char p = static_cast<char>(s[1] | 0x20);
    if ((p == 'x' && base == 16) || (p == 'o' && base == 8) || (p == 'b' && base == 2)) s.erase(0, 2);
  }
  std::string digits;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_' && i > 0 && i + 1 < s.size() && s[i - 1] != '_') continue;
    digits += s[i];
  }
  if (digits.empty() || base < 2 || base > 36) return std::nullopt;
  __int128 value = 0;
  for (char c : digits) {
    const int d = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'z' ? (c | 0x20) - 'a' + 10 : 99;
    if (d >= base) return std::nullopt;
    value = value * base + d;
    if (value > static_cast<__int128>(INT64_MAX) + 1) return std::nullopt;
  }
  if (negative) value = -value;
  if (value > INT64_MAX) return std::nullopt;
  return static_cast<int64_t>(value);
}

std::optional<int64_t> float_to_int(double d) {
  if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return std::nullopt;
  return static_cast<int64_t>(d);
}

Value f_int(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "int", 2, {"default", "base"});
  const Value fallback = arg_or(args, 0, "default", Value(int64_t{0}));
  const Value base = arg_or(args, 1, "base", Value(int64_t{10}));
  std::optional<int64_t> r;
  switch (v.kind()) {
    case Value::Kind::Undefined:
      fail_undefined(in, v);
    case Value::Kind::Bool:
    case Value::Kind::Int:
      return Value(v.as_int());
    case Value::Kind::Float:
      r = float_to_int(v.as_double());
      break;
    case Value::Kind::String:
      r = parse_int(v.as_string(), base.is_int() ? base.as_int() : 10);
      if (!r) {
        const auto d = parse_float(v.as_string());
        if (d) r = float_to_int(*d);
      }
      break;
    default:
      break;
  }
  return r ? Value(*r) : fallback;
}

Value f_float(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "float", 1, {"default"});
  Value fallback = arg_or(args, 0, "default", Value(0.0));
  if (v.is_undefined()) fail_undefined(in, v);
  if (v.is_number()) return Value(v.as_double());
  if (v.is_string()) {
    const auto d = parse_float(v.as_string());
    if (d) return Value(*d);
  }
  return fallback;
}

Value f_indent(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "indent", 3, {"width", "first", "blank"});
  const Value width = arg_or(args, 0, "width", Value(int64_t{4}));
  std::string pad;
  if (width.is_string()) {
    pad = width.as_string();
  } else if (width.is_int()) {
    in.check_size(static_cast<size_t>(std::max<int64_t>(0, std::min<int64_t>(width.as_int(), INT32_MAX))));
    pad.assign(static_cast<size_t>(std::max<int64_t>(0, width.as_int())), ' ');
  } else {
    in.fail("indent: width must be an int or a str");
  }
  const bool first = bool_arg(args, 1, "first", false), blank = bool_arg(args, 2, "blank", false);
  if (v.is_undefined()) fail_undefined(in, v);
  if (!v.is_string()) in.fail(std::string("indent needs a str, not ") + v.type_name());
  const std::vector<std::string> lines = split_lines(v.as_string() + "\n");
  in.check_size(v.str().size() + lines.size() * (pad.size() + 1));
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) {
      out += '\n';
      if (blank || !lines[i].empty()) out += pad;
    }
    out += lines[i];
  }
  if (first) out = pad + out;
  return Value(std::move(out));
}

Value f_items(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "items", 0, {});
  if (v.is_undefined()) return Value::generator({});
  if (!v.is_dict() || v.is_namespace()) in.fail("items: can only get item pairs from a mapping");
  Value pairs = in.call(get_attr(in, v, "items"), args);
  return Value::generator(std::move(pairs.as_list().items));
}

Value f_join(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "join", 2, {"d", "attribute"});
  const std::string sep = arg_or(args, 0, "d", Value("")).str();
  const Value* attribute = find_arg(args, 1, "attribute");
  std::string out;
  bool first = true;
  for (const Value& item : iterate(in, v)) {
    if (!first) out += sep;
    out += (attribute && !attribute->is_none() ? lookup_path(in, item, *attribute) : item).str();
    first = false;
    in.check_size(out.size());
  }
  return Value(std::move(out));
}

Value f_length(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "length", 0, {});
  switch (v.kind()) {
    case Value::Kind::Undefined:
      return Value(int64_t{0});
    case Value::Kind::String:
      return Value(static_cast<int64_t>(text::length(v.as_string())));
    case Value::Kind::List:
      if (v.is_generator()) break;
      return Value(static_cast<int64_t>(v.as_list().items.size()));
    case Value::Kind::Dict:
      if (!v.is_namespace()) return Value(static_cast<int64_t>(v.as_dict().items.size()));
      break;
    default:
      break;
  }
  in.fail(std::string("object of type '") + v.type_name() + "' has no len()");
}

Value f_list(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "list", 0, {});
  return Value::list(iterate(in, v));
}

Value f_lower(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "lower", 0, {});
  return Value(text::lower(v.str()));
}

Value f_upper(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "upper", 0, {});
  return Value(text::upper(v.str()));
}

Value f_title(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "title", 0, {});
  return Value(text::jinja_title(v.str()));
}

Value f_map(Interpreter& in, const Value& v, Args& args) {
  std::vector<Value> out;
  const std::vector<Value> items = iterate(in, v);
  const Value* attribute = find_arg(args, SIZE_MAX, "attribute");
  if (args.positional.empty() && attribute != nullptr) {
    check_args(in, args, "map", 0, {"attribute", "default"});
    const Value* fallback = find_arg(args, SIZE_MAX, "default");
    for (const Value& item : items) {
      Value got = lookup_path(in, item, *attribute);
      out.push_back(got.is_undefined() && fallback != nullptr ? *fallback : got);
    }
    return Value::generator(std::move(out));
  }
  if (args.positional.empty() || !args.positional[0].is_string()) in.fail("map needs a filter name or attribute=");
  const FilterFn filter = find_filter(args.positional[0].as_string());
  if (filter == nullptr) in.fail("map: no filter named '" + args.positional[0].as_string() + "'");
  Args rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const Value& item : items) {
    Args copy = rest;
    out.push_back(filter(in, item, copy));
  }
  return Value::generator(std::move(out));
}

Value min_max(Interpreter& in, const Value& v, Args& args, bool want_max) {
  check_args(in, args, want_max ? "max" : "min", 2, {"case_sensitive", "attribute"});
  const bool case_sensitive = bool_arg(args, 0, "case_sensitive", false);
  const Value* attribute = find_arg(args, 1, "attribute");
  const std::vector<Value> items = iterate(in, v);
  if (items.empty()) return Value::undefined("no aggregated item, the sequence was empty");
  auto key = [&](const Value& item) {
    return fold_case(attribute && !attribute->is_none() ? lookup_path(in, item, *attribute) : item, case_sensitive);
  };
  size_t best = 0;
  Value best_key = key(items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = key(items[i]);
    if (want_max ? less(best_key, k) : less(k, best_key)) {
      best = i;
      best_key = std::move(k);
    }
  }
  return items[best];
}

Value f_max(Interpreter& in, const Value& v, Args& args) { return min_max(in, v, args, true); }
Value f_min(Interpreter& in, const Value& v, Args& args) { return min_max(in, v, args, false); }

Value f_replace(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "replace", 3, {"old", "new", "count"});
  if (args.positional.size() < 2 && find_arg(args, 1, "new") == nullptr) in.fail("replace needs old and new strings");
  const std::string s = v.str();
  const std::string from = arg_or(args, 0, "old", Value("")).str();
  const std::string to = arg_or(args, 1, "new", Value("")).str();
  const Value count = arg_or(args, 2, "count", Value::none());
  if (!count.is_none() && !count.is_int()) in.fail("replace: count must be an int");
  const size_t pieces = from.empty() ? text::length(s) + 1 : s.size() / from.size();
  in.check_size(s.size() + pieces * to.size());
  in.charge(s.size() / 64);
  return Value(text::replace(s, from, to, count.is_none() ? -1 : count.as_int()));
}

Value f_reverse(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "reverse", 0, {});
  if (v.is_string()) {
    const std::vector<size_t> at = text::code_point_offsets(v.as_string());
    std::string out;
    for (size_t i = at.size() - 1; i > 0; --i) out.append(v.as_string(), at[i - 1], at[i] - at[i - 1]);
    return Value(std::move(out));
  }
  if (v.is_generator()) in.fail("'generator' object is not reversible");
  std::vector<Value> items = iterate(in, v);
  std::reverse(items.begin(), items.end());
  return Value::generator(std::move(items));  // a list_reverseiterator in Python
}

Value f_round(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "round", 2, {"precision", "method"});
  const Value precision = arg_or(args, 0, "precision", Value(int64_t{0}));
  const std::string method = arg_or(args, 1, "method", Value("common")).str();
  if (method != "common" && method != "ceil" && method != "floor")
    in.fail("round: method must be common, ceil or floor");
  if (v.is_undefined()) fail_undefined(in, v);
  if (!v.is_number() || !precision.is_int()) in.fail("round needs a number and an int precision");
  const int64_t digits = precision.as_int();
  if (method == "common") {
    if (v.is_int()) return Value(v.as_int());  // Python's round() keeps ints (for precision >= 0)
    const double x = v.as_double();
    if (!std::isfinite(x) || digits > 300) return Value(x);
    if (digits < -300) return Value(0.0 * x);
    char buf[512];
    if (digits >= 0) {
      // printf rounds the exact binary value half-to-even, as Python's round() does
      std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(digits), x);
      return Value(std::strtod(buf, nullptr));
    }
    const double scale = std::pow(10.0, static_cast<double>(-digits));
    return Value(std::nearbyint(x / scale) * scale);
  }
  const double scale = std::pow(10.0, static_cast<double>(digits));
  const double x = v.as_double() * scale;
  return Value((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

Value f_safe(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "safe", 0, {});
  return Value(v.str());
}

Value f_string(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "string", 0, {});
  return Value(v.str());
}

// select/reject and selectattr/rejectattr: keep items whose (attribute's) test result is `keep`.
Value select_items(Interpreter& in, const Value& v, Args& args, bool by_attribute, bool keep) {
  const std::vector<Value> items = iterate(in, v);
  size_t next = 0;
  Value attribute;
  if (by_attribute) {
    if (args.positional.empty()) in.fail("selectattr/rejectattr need an attribute name");
    attribute = args.positional[next++];
  }
  TestFn test = nullptr;
  if (next < args.positional.size()) {
    const Value& name = args.positional[next++];
    if (!name.is_string() || (test = find_test(name.as_string())) == nullptr) {
      in.fail("no test named " + name.repr());
    }
  }
  Args test_args;
  test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(next), args.positional.end());
  test_args.keyword = args.keyword;
  std::vector<Value> out;
  for (const Value& item : items) {
    const Value subject = by_attribute ? lookup_path(in, item, attribute) : item;
    Args copy = test_args;
    const bool passed = test != nullptr ? test(in, subject, copy) : subject.truthy();
    if (passed == keep) out.push_back(item);
  }
  return Value::generator(std::move(out));
}

Value f_select(Interpreter& in, const Value& v, Args& args) { return select_items(in, v, args, false, true); }
Value f_reject(Interpreter& in, const Value& v, Args& args) { return select_items(in, v, args, false, false); }
Value f_selectattr(Interpreter& in, const Value& v, Args& args) { return select_items(in, v, args, true, true); }
Value f_rejectattr(Interpreter& in, const Value& v, Args& args) { return select_items(in, v, args, true, false); }

// Sort keys for sort and unique: an attribute path (comma-separated for sort), case folded.
std::vector<Value> sort_keys(Interpreter& in, const Value& item, const Value* attribute, bool case_sensitive) {
  std::vector<Value> keys;
  if (attribute == nullptr || attribute->is_none()) {
    keys.push_back(fold_case(item, case_sensitive));
  } else if (attribute->is_string()) {
    for (const std::string& part : text::split(attribute->as_string(), std::string(","), -1)) {
      keys.push_back(fold_case(lookup_path(in, item, Value(part)), case_sensitive));
    }
  } else {
    keys.push_back(fold_case(lookup_path(in, item, *attribute), case_sensitive));
  }
  return keys;
}

Value f_sort(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "sort", 3, {"reverse", "case_sensitive", "attribute"});
  const bool reverse = bool_arg(args, 0, "reverse", false);
  const bool case_sensitive = bool_arg(args, 1, "case_sensitive", false);
  const Value* attribute = find_arg(args, 2, "attribute");
  std::vector<std::pair<std::vector<Value>, Value>> keyed;
  for (Value& item : iterate(in, v))
    keyed.emplace_back(sort_keys(in, item, attribute, case_sensitive), std::move(item));
  in.charge(keyed.size() * 8);
  auto key_less = [](const std::vector<Value>& a, const std::vector<Value>& b) {
    for (size_t i = 0; i < a.size(); ++i) {
      if (!equal(a[i], b[i])) return less(a[i], b[i]);
    }
    return false;
  };
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
    return reverse ? key_less(b.first, a.first) : key_less(a.first, b.first);
  });
  std::vector<Value> out;
  for (auto& [key, item] : keyed) out.push_back(std::move(item));
  return Value::list(std::move(out));
}

Value f_sum(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "sum", 2, {"attribute", "start"});
  const Value* attribute = find_arg(args, 0, "attribute");
  Value total = arg_or(args, 1, "start", Value(int64_t{0}));
  for (const Value& item : iterate(in, v)) {
    const Value x = attribute && !attribute->is_none() ? lookup_path(in, item, *attribute) : item;
    if (!x.is_number() || !total.is_number()) in.fail(std::string("sum: cannot add ") + x.type_name());
    if (x.is_int() && total.is_int()) {
      int64_t r;
      if (__builtin_add_overflow(total.as_int(), x.as_int(), &r)) in.fail("integer overflow");
      total = Value(r);
    } else {
      total = Value(total.as_double() + x.as_double());
    }
  }
  return total;
}

Value f_tojson(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "tojson", 4, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonStyle style;
  style.ensure_ascii = bool_arg(args, 0, "ensure_ascii", false);
  const Value indent = arg_or(args, 1, "indent", Value::none());
  if (indent.is_string()) {
    style.indent = indent.as_string();
  } else if (indent.is_int()) {
    style.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(indent.as_int(), 0, 1024)), ' ');
  } else if (!indent.is_none()) {
    in.fail("tojson: indent must be an int, a str or none");
  }
  if (style.indent) style.item_separator = ",";
  const Value separators = arg_or(args, 2, "separators", Value::none());
  if (!separators.is_none()) {
    if (!separators.is_list() || separators.as_list().items.size() != 2) in.fail("tojson: separators must be a pair");
    style.item_separator = separators.as_list().items[0].str();
    style.key_separator = separators.as_list().items[1].str();
  }
  style.sort_keys = bool_arg(args, 3, "sort_keys", false);
  std::string out = to_json_text(v, style);
  in.check_size(out.size());
  in.charge(out.size() / 64);
  return Value(std::move(out));
}

Value f_trim(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "trim", 1, {"chars"});
  const Value chars = arg_or(args, 0, "chars", Value::none());
  return Value(
      text::strip(v.str(), chars.is_none() ? std::nullopt : std::optional<std::string>(chars.str()), true, true));
}

Value f_unique(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "unique", 2, {"case_sensitive", "attribute"});
  const bool case_sensitive = bool_arg(args, 0, "case_sensitive", false);
  const Value* attribute = find_arg(args, 1, "attribute");
  std::vector<Value> seen, out;
  for (const Value& item : iterate(in, v)) {
    Value key = sort_keys(in, item, attribute, case_sensitive)[0];
    in.charge(seen.size());
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equal(s, key); })) {
      seen.push_back(std::move(key));
      out.push_back(item);
    }
  }
  return Value::generator(std::move(out));
}

Value f_wordcount(Interpreter& in, const Value& v, Args& args) {
  check_args(in, args, "wordcount", 0, {});
  const std::string s = v.str();
  int64_t words = 0;
  bool in_word = false;
  for (size_t i = 0; i < s.size(); i = text::next_offset(s, i)) {
    const char32_t c = text::decode_at(s, i);
    const bool word = (c >= U'0' && c <= U'9') || (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z') || c == U'_' ||
                      (c >= 0xC0 && !text::is_space(c));
    if (word && !in_word) ++words;
    in_word = word;
  }
  return Value(words);
}

struct NamedFilter {
  std::string_view name;
  FilterFn fn;
};
constexpr NamedFilter kFilters[] = {
    {"abs", f_abs},           {"attr", f_attr},       {"capitalize", f_capitalize},
    {"count", f_length},      {"d", f_default},       {"default", f_default},
    {"dictsort", f_dictsort}, {"e", f_escape},        {"escape", f_escape},
    {"first", f_first},       {"float", f_float},     {"indent", f_indent},
    {"int", f_int},           {"items", f_items},     {"join", f_join},
    {"last", f_last},         {"length", f_length},   {"list", f_list},
    {"lower", f_lower},       {"map", f_map},         {"max", f_max},
    {"min", f_min},           {"reject", f_reject},   {"rejectattr", f_rejectattr},
    {"replace", f_replace},   {"reverse", f_reverse}, {"round", f_round},
    {"safe", f_safe},         {"select", f_select},   {"selectattr", f_selectattr},
    {"sort", f_sort},         {"string", f_string},   {"sum", f_sum},
    {"title", f_title},       {"tojson", f_tojson},   {"trim", f_trim},
    {"unique", f_unique},     {"upper", f_upper},     {"wordcount", f_wordcount},
};

}  // namespace

FilterFn find_filter(std::string_view name) {
  for (const auto& f : kFilters) {
    if (f.name == name) return f.fn;
  }
  return nullptr;
}

}  // namespace hayate::chat
