// The Responses API (/v1/responses) as pure functions: a request's input items, instructions and
// tools become chat messages and chat-shaped tools (so one chat template and one generator serve
// both APIs); output items and the typed stream events come back out.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/openai.h"

namespace hayate::api {

struct ResponsesRequest {
  std::string model;
  std::vector<ChatMessage> input;  // the input items as chat messages
  std::string instructions;        // a system message before the conversation; not carried over
  std::vector<Tool> tools;
  nlohmann::json tools_json;  // as chat tools ({"type": "function", "function": {...}}), for templates
  ToolChoice tool_choice;
  bool parallel_tool_calls = true;
  std::optional<int32_t> max_output_tokens;
  SamplingParams sampling = openai_sampling_defaults();
  bool stream = false;
  bool store = true;
  std::string previous_response_id;
  OutputConstraint constraint;  // text.format: json_object or json_schema
};

// Throws ApiError(400) naming the parameter, as parse_chat_request does.
ResponsesRequest parse_responses_request(std::string_view body, const Limits& limits);

// What one response produced: text, or function calls (or both).
struct ResponseOutput {
  std::string text;
  std::string reasoning;
  std::vector<ToolCall> calls;
  bool incomplete = false;  // stopped at max_output_tokens
};

// The response object. status "in_progress" (output empty), "completed" or "incomplete".
nlohmann::ordered_json response_object(const std::string& id, int64_t created, const std::string& model,
                                       const ResponsesRequest& r, const std::string& status,
                                       const ResponseOutput* output, const Usage& usage);
// The output's items as chat messages, to continue from with previous_response_id.
std::vector<ChatMessage> output_as_messages(const ResponseOutput& output);

// One typed event: "data: {type, sequence_number, ...fields}\n\n". The type is in the data
// only (no "event:" line, which OpenAI adds): clients read it there, and strict SSE readers
// (api::SseParser) take data lines alone.
std::string sse_response_event(const std::string& type, int64_t sequence, nlohmann::ordered_json fields);

}  // namespace hayate::api
