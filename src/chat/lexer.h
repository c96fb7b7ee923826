// Splits a chat template into text and the tokens of its {{ }} and {% %} tags, applying Jinja's
// whitespace rules as transformers configures them: trim_blocks (drop the newline after a block
// or comment tag), lstrip_blocks (drop spaces and tabs before one on its own line), `-` on a tag
// side strips all whitespace on that side, `+` turns trimming off; comments vanish; {% raw %}
// becomes text. Newlines are normalized to "\n" and one trailing newline is dropped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hayate::chat {

enum class Tok { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };

struct Token {
  Tok type = Tok::Eof;
  std::string text;  // Text: the text; Name; String: the decoded literal; Op: the operator
  int64_t int_value = 0;
  double float_value = 0;
  size_t offset = 0;  // into Source::text, for messages
};

// The template as the lexer sees it, to turn offsets into "line 3, column 7".
struct Source {
  std::string text;
  std::string where(size_t offset) const;
  // Error(BadInput) "chat template line L, column C: what".
  [[noreturn]] void fail_at(size_t offset, const std::string& what) const;
};

Source normalize_source(std::string_view raw);
std::vector<Token> lex(const Source& source);

}  // namespace hayate::chat
