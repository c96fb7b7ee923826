// Attribute and item access, the Python methods templates call on str, dict and list, and the
// global functions.
#include <algorithm>
#include <ctime>

#include "chat/builtins.h"
#include "chat/eval.h"
#include "chat/text.h"
#include "core/error.h"

namespace hayate::chat {
namespace {

std::string describe(const Value& v) {
  if (v.is_none()) return "'None'";
  return std::string("'") + v.type_name() + " object'";
}

Value no_attribute(const Value& object, const std::string& name) {
  return Value::undefined(describe(object) + " has no attribute '" + name + "'");
}

// The undefined value's own message: using it (other than printing or testing it) is an error.
[[noreturn]] void fail_undefined(Interpreter& in, const Value& u) {
  in.fail(u.as_string().empty() ? "an undefined value was used" : u.as_string());
}

std::optional<std::string> optional_string(Interpreter& in, const Args& args, size_t index, std::string_view name,
                                           std::string_view what) {
  const Value* v = find_arg(args, index, name);
  if (v == nullptr || v->is_none()) return std::nullopt;
  if (!v->is_string()) in.fail(std::string(what) + " argument must be a str or None, not " + v->type_name());
  return v->as_string();
}

const std::string& string_arg(Interpreter& in, const Args& args, size_t index, std::string_view name,
                              std::string_view what) {
  const Value* v = find_arg(args, index, name);
  if (v == nullptr) in.fail(std::string(what) + " missing argument '" + std::string(name) + "'");
  if (!v->is_string()) in.fail(std::string(what) + " argument must be a str, not " + v->type_name());
  return v->as_string();
}

int64_t int_arg(Interpreter& in, const Args& args, size_t index, std::string_view name, int64_t fallback,
                std::string_view what) {
  const Value* v = find_arg(args, index, name);
  if (v == nullptr || v->is_none()) return fallback;
  if (!v->is_int()) in.fail(std::string(what) + " argument must be an int, not " + v->type_name());
  return v->as_int();
}

// startswith/endswith take a str or a tuple of them.
bool affix_matches(Interpreter& in, const std::string& s, const Value& affix, bool prefix) {
  auto one = [&](const Value& a) {
    if (!a.is_string()) in.fail(std::string(prefix ? "startswith" : "endswith") + " needs a str or a tuple of str");
    const std::string& t = a.as_string();
    if (t.size() > s.size()) return false;
    return prefix ? s.compare(0, t.size(), t) == 0 : s.compare(s.size() - t.size(), t.size(), t) == 0;
  };
  if (affix.is_list()) {
    return std::any_of(affix.as_list().items.begin(), affix.as_list().items.end(), one);
  }
  return one(affix);
}

template <typename Pred>
Value all_code_points(const std::string& s, Pred pred) {
  if (s.empty()) return Value(false);
  for (size_t i = 0; i < s.size(); i = text::next_offset(s, i)) {
    if (!pred(text::decode_at(s, i))) return Value(false);
  }
  return Value(true);
}

bool ascii_alpha(char32_t c) { return (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z') || c >= 0xC0; }
bool ascii_digit(char32_t c) { return c >= U'0' && c <= U'9'; }

Value string_method(const Value& object, const std::string& name) {
  const std::string& s = object.as_string();
  auto method = [&](auto fn) {
    return Value::function("str." + name, [s, name, fn](Interpreter& in, Args& args) { return fn(in, args, s); });
  };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const bool left = name != "rstrip", right = name != "lstrip";
    return method([left, right](Interpreter& in, Args& args, const std::string& str) {
      check_args(in, args, "strip()", 1, {"chars"});
      return Value(text::strip(str, optional_string(in, args, 0, "chars", "strip()"), left, right));
    });
  }
  if (name == "split" || name == "rsplit") {
    const bool right = name == "rsplit";
    return method([right](Interpreter& in, Args& args, const std::string& str) {
      check_args(in, args, "split()", 2, {"sep", "maxsplit"});
      const auto sep = optional_string(in, args, 0, "sep", "split()");
      if (sep && sep->empty()) in.fail("split(): empty separator");
      const auto parts = text::split(str, sep, int_arg(in, args, 1, "maxsplit", -1, "split()"), right);
      in.check_items(parts.size());
      std::vector<Value> items(parts.begin(), parts.end());
      return Value::list(std::move(items));
    });
  }
  if (name == "startswith" || name == "endswith") {
    const bool prefix = name == "startswith";
    return method([prefix](Interpreter& in, Args& args, const std::string& str) {
      check_args(in, args, prefix ? "startswith()" : "endswith()", 1, {});
      if (args.positional.empty()) in.fail("startswith()/endswith() needs an argument");
      return Value(affix_matches(in, str, args.positional[0], prefix));
    });
  }
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    return method([name](Interpreter& in, Args& args, const std::string& str) {
      check_args(in, args, name + "()", 0, {});
      if (name == "upper") return Value(text::upper(str));
      if (name == "lower") return Value(text::lower(str));
      if (name == "title") return Value(text::title(str));
      return Value(text::capitalize(str));
    });
  }
  if (name == "replace") {
    return method([](Interpreter& in, Args& args, const std::string& str) {
      check_args(in, args, "replace()", 3, {"count"});
      const std::string& from = string_arg(in, args, 0, "old", "replace()");
      const std::string& to = string_arg(in, args, 1, "new", "replace()");
      const int64_t count = int_arg(in, args, 2, "count", -1, "replace()");
      if (!from.empty()) {
        const size_t most = str.size() / from.size() * to.size() + str.size();
        in.check_size(most);
      } else {
        in.check_size(str.size() + (text::length(str) + 1) * to.size());
      }
      in.charge(str.size() / 64);
      return Value(text::replace(str, from, to, count));
    });
  }
  if (name == "find" || name == "rfind" || name == "count") {
    return method([name](Interpreter& in, Args& args, const std::string& str) {
      check_args(in, args, name + "()", 1, {});
      const std::string& sub = string_arg(in, args, 0, "sub", name + "()");
      if (name == "count") {
        if (sub.empty()) return Value(static_cast<int64_t>(text::length(str) + 1));
        int64_t n = 0;
        for (size_t at = str.find(sub); at != std::string::npos; at = str.find(sub, at + sub.size())) ++n;
        return Value(n);
      }
      const size_t at = name == "find" ? str.find(sub) : str.rfind(sub);
      if (at == std::string::npos) return Value(int64_t{-1});
      return Value(static_cast<int64_t>(text::length(std::string_view(str).substr(0, at))));
    });
  }
  if (name == "join") {
    return method([](Interpreter& in, Args& args, const std::string& sep) {
      check_args(in, args, "join()", 1, {});
      if (args.positional.empty()) in.fail("join() needs an iterable");
      std::string out;
      bool first = true;
      for (const Value& item : iterate(in, args.positional[0])) {
        if (!item.is_string()) in.fail(std::string("join(): expected str items, found ") + item.type_name());
        if (!first) out += sep;
        out += item.as_string();
        first = false;
        in.check_size(out.size());
      }
      return Value(std::move(out));
    });
  }
  if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" || name == "islower" ||
      name == "isupper") {
    return method([name](Interpreter& in, Args& args, const std::string& str) {
      check_args(in, args, name + "()", 0, {});
      if (name == "isdigit") return all_code_points(str, ascii_digit);
      if (name == "isalpha") return all_code_points(str, ascii_alpha);
      if (name == "isalnum") return all_code_points(str, [](char32_t c) { return ascii_alpha(c) || ascii_digit(c); });
      if (name == "isspace") return all_code_points(str, text::is_space);
      const bool want_lower = name == "islower";
      const std::string other = want_lower ? text::upper(str) : text::lower(str);
      const std::string same = want_lower ? text::lower(str) : text::upper(str);
      return Value(same == str && other != str);
    });
  }
  return no_attribute(object, name);
}

Value dict_method(const Value& object, const std::string& name) {
  if (name != "items" && name != "keys" && name != "values" && name != "get") return Value();
  return Value::function("dict." + name, [object, name](Interpreter& in, Args& args) {
    const auto& entries = object.as_dict().items;
    if (name == "get") {
      check_args(in, args, "get()", 2, {});
      if (args.positional.empty()) in.fail("get() needs a key");
      const Value* found = object.find(args.positional[0]);
      if (found != nullptr) return *found;
      return args.positional.size() > 1 ? args.positional[1] : Value::none();
    }
    check_args(in, args, name + "()", 0, {});
    in.charge(entries.size());
    std::vector<Value> out;
    out.reserve(entries.size());
    for (const auto& [key, value] : entries) {
      if (name == "items") {
        out.push_back(Value::list({key, value}, true));
      } else {
        out.push_back(name == "keys" ? key : value);
      }
    }
    return Value::list(std::move(out));
  });
}

Value list_method(const Value& object, const std::string& name) {
  if (object.is_generator()) return no_attribute(object, name);
  if (name == "count" || name == "index") {
    return Value::function("list." + name, [object, name](Interpreter& in, Args& args) {
      check_args(in, args, name + "()", 1, {});
      if (args.positional.size() != 1) in.fail(name + "() takes exactly one argument");
      const auto& items = object.as_list().items;
      in.charge(items.size());
      int64_t count = 0;
      for (size_t i = 0; i < items.size(); ++i) {
        if (!equal(items[i], args.positional[0])) continue;
        if (name == "index") return Value(static_cast<int64_t>(i));
        ++count;
      }
      if (name == "index") in.fail("list.index(x): x not in list");
      return Value(count);
    });
  }
  if (name != "append" || object.is_tuple()) return no_attribute(object, name);
  // Not allowed by transformers' sandbox, but llama.cpp-era templates use it to build lists.
  return Value::function("list.append", [object](Interpreter& in, Args& args) {
    check_args(in, args, "append()", 1, {});
    if (args.positional.size() != 1) in.fail("append() takes exactly one argument");
    in.check_items(object.as_list().items.size() + 1);
    in.check_insert(object, args.positional[0]);
    object.as_list().items.push_back(args.positional[0]);
    return Value::none();
  });
}

// Python's slice.indices(): clamps start and stop for a sequence of length n.
void slice_bounds(int64_t n, const Value& start, const Value& stop, int64_t step, int64_t& lo, int64_t& hi) {
  auto clamp = [&](const Value& v, int64_t fallback) -> int64_t {
    if (v.is_none()) return fallback;
    int64_t i = v.as_int();
    if (i < 0) i = std::max(i + n, step < 0 ? int64_t{-1} : int64_t{0});
    return std::min(i, step < 0 ? n - 1 : n);
  };
  lo = clamp(start, step < 0 ? n - 1 : 0);
  hi = clamp(stop, step < 0 ? -1 : n);
}

}  // namespace

const Value* find_arg(const Args& args, size_t index, std::string_view name) {
  if (index < args.positional.size()) return &args.positional[index];
  for (const auto& [key, value] : args.keyword) {
    if (key == name) return &value;
  }
  return nullptr;
}

Value arg_or(const Args& args, size_t index, std::string_view name, Value fallback) {
  const Value* v = find_arg(args, index, name);
  if (v != nullptr) return *v;
  return fallback;
}

void check_args(Interpreter& in, const Args& args, std::string_view what, size_t max_positional,
                std::initializer_list<std::string_view> keywords) {
  if (args.positional.size() > max_positional) {
    in.fail(std::string(what) + " takes at most " + std::to_string(max_positional) + " positional arguments, got " +
            std::to_string(args.positional.size()));
  }
  for (const auto& [key, value] : args.keyword) {
    if (std::find(keywords.begin(), keywords.end(), key) == keywords.end()) {
      in.fail(std::string(what) + " got an unexpected keyword argument '" + key + "'");
    }
  }
}

Value get_attr(Interpreter& in, const Value& object, const std::string& name) {
  switch (object.kind()) {
    case Value::Kind::Undefined:
      fail_undefined(in, object);
    case Value::Kind::String:
      return string_method(object, name);
    case Value::Kind::List:
      return list_method(object, name);
    case Value::Kind::Dict: {
      if (!object.is_namespace()) {
        Value method = dict_method(object, name);
        if (!method.is_undefined()) return method;
      }
      const Value* found = object.find_name(name);
      return found != nullptr ? *found : no_attribute(object, name);
    }
    default:
      return no_attribute(object, name);
  }
}

Value get_item(Interpreter& in, const Value& object, const Value& key) {
  if (object.is_undefined()) fail_undefined(in, object);
  if (object.is_generator()) return Value::undefined("'generator' object is not subscriptable");
  if ((object.is_list() || object.is_string()) && key.is_int()) {
    int64_t i = key.as_int();
    if (object.is_list()) {
      const auto& items = object.as_list().items;
      const auto n = static_cast<int64_t>(items.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return items[static_cast<size_t>(i)];
    } else {
      const std::vector<size_t> at = text::code_point_offsets(object.as_string());
      const auto n = static_cast<int64_t>(at.size() - 1);
      if (i < 0) i += n;
      if (i >= 0 && i < n) {
        const auto k = static_cast<size_t>(i);
        return Value(object.as_string().substr(at[k], at[k + 1] - at[k]));
      }
    }
    return Value::undefined(std::string(object.type_name()) + " object has no element " + std::to_string(key.as_int()));
  }
  if (object.is_dict()) {
    const Value* found = object.find(key);
    if (found != nullptr) return *found;
  }
  if (key.is_string()) return get_attr(in, object, key.as_string());
  return Value::undefined(describe(object) + " has no element " + key.repr());
}

Value slice(Interpreter& in, const Value& object, const Value& start, const Value& stop, const Value& step) {
  if (object.is_undefined()) fail_undefined(in, object);
  for (const Value* v : {&start, &stop, &step}) {
    if (!v->is_none() && !v->is_int()) in.fail("slice indices must be integers or none");
  }
  const int64_t by = step.is_none() ? 1 : step.as_int();
  if (by == 0) in.fail("slice step cannot be zero");
  if ((!object.is_string() && !object.is_list()) || object.is_generator()) {  // Python's [], not Jinja's getitem
    in.fail(object.is_dict() ? std::string("unhashable type: 'slice'")
                             : std::string("'") + object.type_name() + "' object is not subscriptable");
  }
  std::vector<size_t> at;
  int64_t n;
  if (object.is_string()) {
    at = text::code_point_offsets(object.as_string());
    n = static_cast<int64_t>(at.size() - 1);
  } else {
    n = static_cast<int64_t>(object.as_list().items.size());
  }
  int64_t lo, hi;
  slice_bounds(n, start, stop, by, lo, hi);
  std::vector<int64_t> picks;
  for (int64_t i = lo; by > 0 ? i < hi : i > hi;) {
    picks.push_back(i);
    if (__builtin_add_overflow(i, by, &i)) break;  // a step past the end of int64
  }
  in.charge(picks.size());
  if (object.is_string()) {
    const std::string& s = object.as_string();
    if (by == 1)
      return Value(
          lo < hi ? s.substr(at[static_cast<size_t>(lo)], at[static_cast<size_t>(hi)] - at[static_cast<size_t>(lo)])
                  : "");
    std::string out;
    for (int64_t i : picks) {
      const auto k = static_cast<size_t>(i);
      out.append(s, at[k], at[k + 1] - at[k]);
    }
    return Value(std::move(out));
  }
  std::vector<Value> out;
  out.reserve(picks.size());
  for (int64_t i : picks) out.push_back(object.as_list().items[static_cast<size_t>(i)]);
  return Value::list(std::move(out), object.is_tuple());
}

std::vector<Value> iterate(Interpreter& in, const Value& v) {
  std::vector<Value> out;
  switch (v.kind()) {
    case Value::Kind::Undefined:
      return out;
    case Value::Kind::List:
      out = v.as_list().items;
      break;
    case Value::Kind::Dict:
      if (v.is_namespace()) in.fail("a namespace is not iterable");
      for (const auto& [key, value] : v.as_dict().items) out.push_back(key);
      break;
    case Value::Kind::String: {
      const std::string& s = v.as_string();
      for (size_t i = 0; i < s.size(); i = text::next_offset(s, i))
        out.emplace_back(s.substr(i, text::next_offset(s, i) - i));
      break;
    }
    default:
      in.fail(std::string("'") + v.type_name() + "' object is not iterable");
  }
  in.charge(out.size());
  return out;
}

bool contains(Interpreter& in, const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::Undefined:
      return false;
    case Value::Kind::String:
      if (!item.is_string())
        in.fail(std::string("'in <string>' requires a string on the left, not ") + item.type_name());
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Kind::List: {
      const auto& items = container.as_list().items;
      in.charge(items.size());
      return std::any_of(items.begin(), items.end(), [&](const Value& v) { return equal(v, item); });
    }
    case Value::Kind::Dict:
      if (!container.is_namespace()) return container.find(item) != nullptr;
      [[fallthrough]];
    default:
      in.fail(std::string("argument of type '") + container.type_name() + "' is not a container");
  }
}

std::vector<std::pair<std::string, Value>> global_functions() {
  std::vector<std::pair<std::string, Value>> globals;
  globals.emplace_back(
      "range", Value::function("range", [](Interpreter& in, Args& args) {
        check_args(in, args, "range()", 3, {});
        for (const Value& v : args.positional) {
          if (!v.is_int()) in.fail(std::string("range() arguments must be integers, not ") + v.type_name());
        }
        if (args.positional.empty()) in.fail("range() needs at least one argument");
        const auto& p = args.positional;
        const int64_t start = p.size() > 1 ? p[0].as_int() : 0;
        const int64_t stop = p.size() > 1 ? p[1].as_int() : p[0].as_int();
        const int64_t step = p.size() > 2 ? p[2].as_int() : 1;
        if (step == 0) in.fail("range() step must not be zero");
        const __int128 span = step > 0 ? static_cast<__int128>(stop) - start : static_cast<__int128>(start) - stop;
        const __int128 count = span <= 0 ? 0
                                         : (span + (step > 0 ? step : -static_cast<__int128>(step)) - 1) /
                                               (step > 0 ? step : -static_cast<__int128>(step));
        if (count > static_cast<__int128>(in.limits().max_items)) in.check_items(in.limits().max_items + 1);
        in.charge(static_cast<uint64_t>(count));
        std::vector<Value> items;
        items.reserve(static_cast<size_t>(count));
        for (__int128 i = 0; i < count; ++i) items.emplace_back(static_cast<int64_t>(start + i * step));
        return Value::list(std::move(items));
      }));
  auto make_dict = [](bool is_namespace) {
    return [is_namespace](Interpreter& in, Args& args) {
      std::vector<std::pair<Value, Value>> items;
      if (args.positional.size() > 1) in.fail("namespace() and dict() take at most one positional argument");
      if (!args.positional.empty()) {
        const Value& from = args.positional[0];
        if (!from.is_dict() || from.is_namespace())
          in.fail("namespace() and dict() take a dict as positional argument");
        items = from.as_dict().items;
      }
      for (const auto& keyword : args.keyword) {
        auto existing = std::find_if(items.begin(), items.end(), [&](const auto& kv) {
          return kv.first.is_string() && kv.first.as_string() == keyword.first;
        });
        if (existing != items.end()) {
          existing->second = keyword.second;
        } else {
          items.emplace_back(Value(keyword.first), keyword.second);
        }
      }
      return Value::dict(std::move(items), is_namespace);
    };
  };
  globals.emplace_back("namespace", Value::function("namespace", make_dict(true)));
  globals.emplace_back("dict", Value::function("dict", make_dict(false)));
  globals.emplace_back("raise_exception", Value::function("raise_exception", [](Interpreter& in, Args& args) -> Value {
                         const Value message = arg_or(args, 0, "message", Value(""));
                         hayate::fail(ErrorKind::BadInput, "chat template raised an error: " + message.str());
                       }));
  globals.emplace_back("strftime_now", Value::function("strftime_now", [](Interpreter& in, Args& args) {
                         check_args(in, args, "strftime_now()", 1, {});
                         const std::string& format = string_arg(in, args, 0, "format", "strftime_now()");
                         const std::time_t now = std::time(nullptr);
                         std::tm local{};
                         localtime_r(&now, &local);
                         for (size_t size = 256; size <= 65536; size *= 4) {
                           std::string buf(size, '\0');
                           const size_t n = std::strftime(buf.data(), buf.size(), format.c_str(), &local);
                           if (n > 0 || format.empty()) return Value(buf.substr(0, n));
                         }
                         return Value("");
                       }));
  globals.emplace_back("joiner", Value::function("joiner", [](Interpreter& in, Args& args) {
                         check_args(in, args, "joiner()", 1, {"sep"});
                         const std::string sep = arg_or(args, 0, "sep", Value(", ")).str();
                         auto used = std::make_shared<bool>(false);
                         return Value::function("joiner", [sep, used](Interpreter&, Args&) {
                           const bool first = !*used;
                           *used = true;
                           return Value(first ? std::string() : sep);
                         });
                       }));
  return globals;
}

}  // namespace hayate::chat
