// Helpers shared by the request parsers (request.cpp, structured.cpp). Internal to api/.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/openai.h"

namespace hayate::api::detail {

// ApiError(400) whose param is `param`.
[[noreturn]] void bad(const std::string& param, const std::string& message);
// A JSON value in an error message: its type, and the value itself when it is short.
std::string describe(const nlohmann::json& v);
// The value of key, or nullptr when it is absent or null (null means "the default").
const nlohmann::json* field(const nlohmann::json& obj, const char* key);
// The body as a JSON object, with the checks every request gets (UTF-8, depth, a 400 saying
// where JSON breaks).
nlohmann::json parse_object(std::string_view body);
// temperature, top_p, penalties, seed and hayate's extensions into params.
void parse_sampling_fields(const nlohmann::json& j, SamplingParams& params);
// Images (images.cpp), each ApiError(400) naming `param`. A data: URL is base64-decoded here,
// within limits.max_image_bytes; an http(s) URL is kept for the server.
ImagePart parse_image_url(const std::string& url, const std::string& param, const Limits& limits);
// An {"type": "image_url", "image_url": {"url": ...}} (or "image_url": URL) part at `at`.
ImagePart parse_image_part(const nlohmann::json& part, const std::string& at, const Limits& limits);
// Ollama's images: a base64 string of the bytes (or a data: URL).
ImagePart parse_base64_image(const nlohmann::json& value, const std::string& param, const Limits& limits);
// At most limits.max_images images in the request.
void check_image_count(const std::vector<ChatMessage>& messages, const Limits& limits, const std::string& param);

}  // namespace hayate::api::detail

namespace hayate::api {

// response_format, grammar and regex (at most one of them).
OutputConstraint parse_constraint(const nlohmann::json& j, std::string_view body);
// tools, tool_choice, parallel_tool_calls.
void parse_tools(const nlohmann::json& j, std::string_view body, ChatCompletionRequest& r);
// logit_bias: {"token id": bias in [-100, 100]}.
std::vector<std::pair<int32_t, float>> parse_logit_bias(const nlohmann::json& j);
ReasoningFormat parse_reasoning_format(const nlohmann::json& j);

}  // namespace hayate::api
