// Tool calls per template family: the family read from a chat template, crafted model outputs
// parsed into the exact calls, the same when the output streams in pieces of every size; think
// tags split off; and the GBNF of a required call accepting exactly that family's syntax.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "grammar/grammar.h"
#include "grammar/matcher.h"
#include "server/structured.h"

namespace hayate::server {
namespace {

struct Case {
  const char* template_text;  // the part of a chat template that shows its family
  ToolFormat format;
  std::string output;                                      // what the model wrote
  std::string content;                                     // expected content
  std::vector<std::pair<std::string, std::string>> calls;  // expected name, arguments (JSON text)
};

const std::vector<std::string> kTools = {"get_weather", "add"};

std::vector<Case> cases() {
  return {
      {"{{- '<tool_call>\\n' + tool_call | tojson + '\\n</tool_call>' }}",
       ToolFormat::Hermes,
       "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n"
       "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": [2, \"}\"]}}\n</tool_call>",
       "Let me check.\n",
       {{"get_weather", R"({"city":"Paris"})"}, {"add", R"({"a":1,"b":[2,"}"]})"}}},
      {"{{- '[TOOL_CALLS]' + tool_calls | tojson }}",
       ToolFormat::Mistral,
       "[TOOL_CALLS][{\"name\": \"add\", \"arguments\": {\"a\": 2}}, {\"name\": \"get_weather\", \"arguments\": {}}]",
       "",
       {{"add", R"({"a":2})"}, {"get_weather", "{}"}}},
      {"{%- if builtin_tools is defined %}<|python_tag|>{% endif %} ipython",
       ToolFormat::Llama3,
       "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\", \"unit\": \"c\"}}",
       "",
       {{"get_weather", R"({"city":"Oslo","unit":"c"})"}}},
      {"{{ '<|im_start|>' + message['role'] }}",
       ToolFormat::Json,
       "  {\"name\": \"add\", \"arguments\": \"{\\\"a\\\": 5}\"}",
       "",
       {{"add", R"({"a": 5})"}}},
      {"{{ '<|im_start|>' + message['role'] }}",
       ToolFormat::Json,
       "{\"tool_calls\": [{\"name\": \"add\", \"arguments\": {}}]}",
       "",
       {{"add", "{}"}}},
      // Not calls: an unknown function, and JSON that is not a call, stay content.
      {"<tool_call>",
       ToolFormat::Hermes,
       "<tool_call>\n{\"name\": \"rm\", \"arguments\": {}}\n</tool_call>",
       "<tool_call>\n{\"name\": \"rm\", \"arguments\": {}}\n</tool_call>",
       {}},
      {"plain", ToolFormat::Json, "{\"answer\": 42}", "{\"answer\": 42}", {}},
      {"plain", ToolFormat::Json, "It is {\"name\": \"add\"} in text.", "It is {\"name\": \"add\"} in text.", {}},
  };
}

void expect_calls(const std::vector<api::ToolCall>& got, const Case& c, const std::string& how) {
  ASSERT_EQ(got.size(), c.calls.size()) << how << ": " << c.output;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].name, c.calls[i].first) << how;
    EXPECT_EQ(got[i].arguments, c.calls[i].second) << how;
    EXPECT_EQ(got[i].id.rfind("call_", 0), 0u) << got[i].id;
  }
}

TEST(ToolCalls, EachFamilyParsesWholeAndStreamed) {
  for (const Case& c : cases()) {
    EXPECT_EQ(detect_tool_format(c.template_text), c.format) << c.template_text;
    // Whole: one push, then the end.
    OutputSplitter whole(c.format, kTools, api::ReasoningFormat::Split);
    std::vector<api::ToolCall> calls;
    std::string content = whole.push(c.output).content;
    content += whole.finish(calls).content;
    EXPECT_EQ(content, c.content) << c.output;
    expect_calls(calls, c, "whole");
    // Streamed in pieces of every size from 1 to 7 bytes.
    for (size_t piece = 1; piece <= 7; ++piece) {
      OutputSplitter s(c.format, kTools, api::ReasoningFormat::Split);
      std::string streamed;
      for (size_t i = 0; i < c.output.size(); i += piece) streamed += s.push(c.output.substr(i, piece)).content;
      std::vector<api::ToolCall> got;
      streamed += s.finish(got).content;
      EXPECT_EQ(streamed, c.content) << "pieces of " << piece << ": " << c.output;
      expect_calls(got, c, "pieces of " + std::to_string(piece));
    }
  }
}

TEST(Reasoning, ThinkTagsSplitKeptOrDropped) {
  const std::string out = "<think>\nstep 1\nstep 2</think>\n\nThe answer is 4.";
  for (size_t piece : {size_t(1), size_t(3), out.size()}) {
    for (auto fmt : {api::ReasoningFormat::Split, api::ReasoningFormat::Keep, api::ReasoningFormat::Drop}) {
      OutputSplitter s(ToolFormat::Json, {}, fmt);
      OutputSplitter::Piece all;
      for (size_t i = 0; i < out.size(); i += piece) {
        const auto p = s.push(out.substr(i, piece));
        all.content += p.content;
        all.reasoning += p.reasoning;
      }
      std::vector<api::ToolCall> calls;
      const auto p = s.finish(calls);
      all.content += p.content;
      all.reasoning += p.reasoning;
      if (fmt == api::ReasoningFormat::Keep) {
        EXPECT_EQ(all.content, out);
        EXPECT_EQ(all.reasoning, "");
      } else {
        EXPECT_EQ(all.content, "The answer is 4.");
        EXPECT_EQ(all.reasoning, fmt == api::ReasoningFormat::Split ? "\nstep 1\nstep 2" : "");
      }
    }
  }
}

TEST(ToolCalls, RequiredCallGrammarAcceptsTheFamilySyntax) {
  std::vector<api::Tool> tools(2);
  tools[0].name = "get_weather";
  tools[0].parameters =
      nlohmann::ordered_json::parse(R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})");
  tools[1].name = "add";
  api::ToolChoice required;
  required.mode = api::ToolChoice::Required;
  auto vocab = std::make_shared<grammar::Vocabulary>();
  for (int b = 0; b < 256; ++b) vocab->tokens.push_back(std::string(1, static_cast<char>(b)));
  auto accepts = [&](ToolFormat f, const std::string& text, const api::ToolChoice& choice) {
    const std::string gbnf = constraint_gbnf({}, tools, choice, true, f);
    auto g = std::make_shared<const grammar::CompiledGrammar>(grammar::parse_gbnf(gbnf), vocab);
    grammar::Matcher m(g);
    return m.accept_bytes(text) && m.can_end();
  };
  EXPECT_TRUE(accepts(ToolFormat::Hermes,
                      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"x\"}}\n</tool_call>",
                      required));
  EXPECT_FALSE(accepts(ToolFormat::Hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call>",
                       required));
  EXPECT_TRUE(accepts(ToolFormat::Mistral, "[TOOL_CALLS][{\"name\": \"add\", \"arguments\": {}}]", required));
  EXPECT_TRUE(accepts(ToolFormat::Llama3, "{\"name\": \"add\", \"parameters\": {\"q\": 1}}", required));
  EXPECT_TRUE(accepts(ToolFormat::Json,
                      "{\"name\": \"add\", \"arguments\": {}}; {\"name\": \"add\", \"arguments\": {}}", required));
  api::ToolChoice named;
  named.mode = api::ToolChoice::Named;
  named.name = "get_weather";
  EXPECT_FALSE(accepts(ToolFormat::Json, "{\"name\": \"add\", \"arguments\": {}}", named));
  EXPECT_TRUE(accepts(ToolFormat::Json, "{\"name\": \"get_weather\", \"arguments\": {\"city\":\"a\"}}", named));
  EXPECT_FALSE(accepts(ToolFormat::Json,
                       "{\"name\": \"get_weather\", \"arguments\": {\"city\":\"a\"}}; {\"name\": \"get_weather\", "
                       "\"arguments\": {\"city\":\"a\"}}",
                       named))
      << "a named choice is one call";
}

}  // namespace
}  // namespace hayate::server
