// What templates can call: Jinja's filters and tests (filters.cpp), the Python methods of str,
// dict and list that chat templates use, attribute and item access, and the global functions
// transformers provides (objects.cpp).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/ast.h"
#include "chat/value.h"

namespace hayate::chat {

FilterFn find_filter(std::string_view name);  // null when there is no such filter
TestFn find_test(std::string_view name);

// obj.name: a method of str/dict/list, else the dict key, else undefined (as Jinja's getattr).
Value get_attr(Interpreter& in, const Value& object, const std::string& name);
// obj[key]: the item (negative list indices count from the end), else an attribute, else undefined.
Value get_item(Interpreter& in, const Value& object, const Value& key);
// obj[start:stop:step] of a str, list or tuple; absent parts are none.
Value slice(Interpreter& in, const Value& object, const Value& start, const Value& stop, const Value& step);
// What a for loop goes through: list items, dict keys, the characters of a str; undefined: nothing.
std::vector<Value> iterate(Interpreter& in, const Value& v);
// `item in container`.
bool contains(Interpreter& in, const Value& container, const Value& item);
// range, namespace, dict, raise_exception, strftime_now.
std::vector<std::pair<std::string, Value>> global_functions();

// Argument binding for natives: positional index or keyword name, else the fallback.
const Value* find_arg(const Args& args, size_t index, std::string_view name);
Value arg_or(const Args& args, size_t index, std::string_view name, Value fallback);
// Error when a call has arguments beyond `max_positional` or keywords not in `keywords`.
void check_args(Interpreter& in, const Args& args, std::string_view what, size_t max_positional,
                std::initializer_list<std::string_view> keywords);

}  // namespace hayate::chat
