// Parses the tokens of a chat template into statements (ast.h), following Jinja's grammar and
// operator precedence. Unknown tags, filters and tests are syntax errors, as in Jinja, which
// checks them when it compiles a template.
#pragma once

#include <vector>

#include "chat/ast.h"
#include "chat/lexer.h"

namespace hayate::chat {

// Templates nest blocks and expressions at most this deep (a guard for the recursive parser and
// interpreter, far beyond what real templates do).
inline constexpr int kMaxNesting = 100;
inline constexpr int kMaxExprHeight = 256;

Body parse(const Source& source, const std::vector<Token>& tokens);

}  // namespace hayate::chat
