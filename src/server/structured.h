// Structured output and tool calls on the server: a request's response_format / grammar / regex,
// its required tool call and its logit_bias become one engine Constraint per sequence; the model's
// text becomes content, reasoning_content and tool_calls (streamed or not).
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/openai.h"
#include "engine/output.h"
#include "grammar/matcher.h"
#include "tokenizer/tokenizer.h"

namespace hayate::server {

// How a model writes tool calls, read from its chat template.
enum class ToolFormat {
  Hermes,   // Qwen, Hermes: <tool_call>{"name", "arguments"}</tool_call>
  Mistral,  // [TOOL_CALLS][{"name", "arguments"}, ...]
  Llama3,   // {"name", "parameters"} (after <|python_tag|> or alone)
  Json,     // any other: {"name", "arguments"}
};
ToolFormat detect_tool_format(const std::string& chat_template);
const char* to_string(ToolFormat format);

// Compiled grammars of one model, by their source text (kept up to `capacity`, least recently
// used dropped first). Thread-safe.
class GrammarCache {
 public:
  GrammarCache(const Tokenizer& tokenizer, size_t capacity = 64);
  // Compiles (or finds) a GBNF grammar; Error(BadInput / Unsupported) for a bad one.
  std::shared_ptr<const grammar::CompiledGrammar> get(const std::string& gbnf);

 private:
  std::shared_ptr<const grammar::Vocabulary> vocab_;
  size_t capacity_;
  std::mutex mu_;
  std::list<std::string> lru_;  // most recent first
  std::unordered_map<std::string,
                     std::pair<std::shared_ptr<const grammar::CompiledGrammar>, std::list<std::string>::iterator>>
      map_;
};

// The GBNF of a request's constraint: response_format, grammar, regex, or a call of one of the
// tools (tool_choice required, or the named one). Empty: none. Errors are ApiError(400) naming the
// parameter and what is wrong (an unsupported schema feature by name).
std::string constraint_gbnf(const api::OutputConstraint& c, const std::vector<api::Tool>& tools,
                            const api::ToolChoice& choice, bool parallel, ToolFormat format);

// The request field a constraint came from, for errors: "response_format", "grammar", "regex"
// or (none) "tools".
const char* constraint_param(const api::OutputConstraint& c);

// The engine's per-sequence constraint for a request (empty when it has no grammar and no
// logit_bias). Compiles the grammar now, so a bad one is refused before anything runs.
std::function<std::unique_ptr<Constraint>()> make_constraint(GrammarCache& cache, const std::string& gbnf,
                                                             std::vector<std::pair<int32_t, float>> logit_bias,
                                                             const std::string& param);

// Splits a choice's text as it streams: <think>...</think> at the start into reasoning (by the
// request's ReasoningFormat), tool calls (in the model's format) held back until they end and
// parsed, the rest content. Text that may begin a tool call or a closing tag is held back.
class OutputSplitter {
 public:
  OutputSplitter(ToolFormat format, std::vector<std::string> tool_names, api::ReasoningFormat reasoning);

  struct Piece {
    std::string content, reasoning;
  };
  Piece push(const std::string& text);
  // The end: what was held back, and the calls it parsed (text that does not parse as calls of
  // declared tools is content).
  Piece finish(std::vector<api::ToolCall>& calls);

 private:
  enum class Phase { Start, Thinking, Content, Calls };
  void step(Piece& out, bool at_end);

  ToolFormat format_;
  std::vector<std::string> tools_;
  api::ReasoningFormat reasoning_;
  Phase phase_ = Phase::Start;
  std::string held_;
  bool wrote_content_ = false;
  bool trim_ = false;  // drop whitespace before the content
};

// Parses tool calls from a complete output in `format`; empty when it is not (only) calls of
// the named tools.
std::vector<api::ToolCall> parse_tool_calls(const std::string& text, ToolFormat format,
                                            const std::vector<std::string>& tool_names);

}  // namespace hayate::server
