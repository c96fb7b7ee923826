// Where a byte of JSON text stands: inside a string (after a backslash or not) and how deep in
// arrays and objects. For the checks that look at JSON before (or instead of) parsing it: the
// request body's nesting (api/) and the end of a JSON value in a model's output (server/).
#pragma once

namespace hayate {

struct JsonScan {
  int depth = 0;
  bool in_string = false, escaped = false;

  // Feeds one byte: +1 when it opens an array or object, -1 when it closes one, else 0.
  int step(char c) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      return 0;
    }
    if (c == '"') in_string = true;
    if (c == '[' || c == '{') {
      ++depth;
      return 1;
    }
    if (c == ']' || c == '}') {
      --depth;
      return -1;
    }
    return 0;
  }
};

}  // namespace hayate
