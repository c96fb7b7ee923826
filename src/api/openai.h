// The OpenAI-compatible HTTP protocol as pure functions: request bodies in, validated structs out;
// engine results in, response bodies and server-sent events out. No I/O, no engine calls, so the
// server, the CLI and the benchmark client share one definition of the wire format.
//
//   auto req = api::parse_chat_request(body, limits);      // throws api::ApiError (400)
//   ... render, tokenize, submit, collect ...
//   std::string out = api::chat_completion_json(id, created, req.model, choices, usage, req.logprobs);
//
// Every error the client can see is an ApiError carrying the HTTP status and the OpenAI error
// fields; error_json gives its body. Output JSON is byte-stable: the same inputs give the same
// bytes (fields in OpenAI's order, floats printed in their shortest round-trip form, invalid
// UTF-8 replaced by U+FFFD).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/sampling_params.h"
#include "image/image.h"

namespace hayate::api {

// An error in the OpenAI error shape: {"error": {"message", "type", "param", "code"}} with an
// HTTP status. Empty param and code are written as null.
struct ApiError : std::runtime_error {
  int status;
  std::string type;
  std::string param;
  std::string code;
  ApiError(int status, std::string message, std::string type = "invalid_request_error", std::string param = "",
           std::string code = "");
};
std::string error_json(const ApiError& e);
// Status, type and code from the error's kind (core/error.cpp's table), never from its text:
// BadInput 400 invalid_request_error, Busy 429 server_busy "queue_full", Unavailable 503
// "shutting_down", Timeout 504 "timeout", Internal 500 "internal_error", ...
ApiError from_error(const hayate::Error& e);

// content may be a string or an array of {type:"text", text} and {type:"image_url", image_url:
// {url}} parts (text parts concatenated);
// null or absent only for an assistant message (one with tool_calls). raw is the message object as
// sent (for chat templates that read tool_calls, name, tool_call_id...).
//
// An image_url part (issue 19) leaves kImagePlaceholder in the content where it was, and its
// source in image_parts; the server decodes those into images, one per placeholder, in order.
struct ImagePart {
  std::string param;           // "messages[0].content[1].image_url.url", for errors
  std::string url;             // http(s): fetched by the server when its config allows; "" for data:
  std::string mime;            // a data: URL's media type ("image/png"), as declared
  std::vector<uint8_t> bytes;  // a data: URL's decoded bytes
};
inline constexpr std::string_view kImagePlaceholder = "<__image__>";
struct ChatMessage {
  std::string role;  // system, developer, user, assistant, tool, function
  std::string content;
  nlohmann::json raw;
  // Default initialisers: code elsewhere builds messages as {role, content, raw}.
  std::vector<ImagePart> image_parts{};
  std::vector<image::Decoded> images{};  // filled by the server from image_parts
};

// The sampling defaults of OpenAI's API: temperature 1, top_p 1, no top-k, min-p or repeat
// penalty, a random seed.
SamplingParams openai_sampling_defaults();

// Structured output: at most one of response_format json_object / json_schema, `grammar`
// (GBNF, as llama.cpp's server takes it) and `regex` (as vLLM's guided_regex).
struct OutputConstraint {
  enum Kind { None, JsonObject, JsonSchema, Grammar, Regex } kind = None;
  nlohmann::ordered_json schema;  // JsonSchema: the schema, properties in the client's order
  std::string text;               // Grammar: GBNF; Regex: the pattern
};

// A function the model may call (tools[i] of type "function").
struct Tool {
  std::string name;
  std::string description;
  nlohmann::ordered_json parameters = nlohmann::ordered_json::object();  // a JSON Schema
};
struct ToolChoice {
  enum Mode { Auto, None, Required, Named } mode = Auto;
  std::string name;  // Named
};
// What the model called, parsed from its output.
struct ToolCall {
  std::string id;  // "call_..."
  std::string name;
  std::string arguments;  // JSON text, as OpenAI sends it
};

// Where a thinking model's <think>...</think> goes: `reasoning_content` (split, the default),
// left in the content (keep), or nowhere (drop).
enum class ReasoningFormat { Split, Keep, Drop };

struct ChatCompletionRequest {
  std::string model;  // "" when the request names none (the server's default model)
  std::vector<ChatMessage> messages;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  int32_t n = 1;
  std::optional<int32_t> max_tokens;  // max_tokens or max_completion_tokens; nullopt: up to the context
  // temperature, top_p, frequency_penalty, presence_penalty, seed; hayate extensions top_k,
  // min_p, repeat_penalty, repeat_last_n. n_logprobs = top_logprobs.
  SamplingParams sampling = openai_sampling_defaults();
  std::vector<std::string> stop;  // a string or an array of up to 4
  bool logprobs = false;
  int32_t top_logprobs = 0;
  std::string user;
  nlohmann::json extra_template_vars = nlohmann::json::object();  // chat_template_kwargs
  OutputConstraint constraint;
  std::vector<Tool> tools;
  nlohmann::json tools_json;  // tools as sent, for the chat template; null when none
  ToolChoice tool_choice;
  bool parallel_tool_calls = true;
  std::vector<std::pair<int32_t, float>> logit_bias;  // token id, bias in [-100, 100]
  ReasoningFormat reasoning = ReasoningFormat::Split;
  bool ignore_eos = false;  // vLLM's and llama.cpp's extension: generate past end-of-generation ids
};

struct CompletionRequest {
  std::string model;
  // Exactly one of these is filled: prompt as a string or an array of strings, or prompt as a
  // token array or an array of token arrays.
  std::vector<std::string> prompts;
  std::vector<std::vector<int32_t>> prompt_ids;
  bool stream = false;
  bool include_usage = false;
  int32_t n = 1;
  std::optional<int32_t> max_tokens = 16;  // OpenAI's default; always set after parsing
  SamplingParams sampling = openai_sampling_defaults();
  std::vector<std::string> stop;
  std::optional<int32_t> logprobs;  // 0..5 alternatives per token; nullopt: no logprobs
  bool echo = false;
  OutputConstraint constraint;
  std::vector<std::pair<int32_t, float>> logit_bias;
  bool ignore_eos = false;
};

struct EmbeddingRequest {
  std::string model;
  // Exactly one of these is filled (input as strings, or as token arrays); never empty.
  std::vector<std::string> inputs;
  std::vector<std::vector<int32_t>> input_ids;
  std::string encoding_format = "float";  // or "base64"
  std::optional<int32_t> dimensions;
};

struct Limits {
  int32_t max_tokens = 4096;             // the largest max_tokens a request may ask for
  int32_t max_n = 16;                    // the largest n
  int64_t max_image_bytes = 20ll << 20;  // one image's decoded data: URL
  int32_t max_images = 16;               // images in one request
};

// Body bytes -> request. Throws ApiError(400, message naming the parameter, param = its name,
// e.g. "temperature" or "messages[2].content[0].type") for invalid JSON (with the byte offset),
// invalid UTF-8, nesting deeper than 64, wrong types, out-of-range values, missing required
// fields. A null value means the parameter's default. Unknown fields are ignored.
ChatCompletionRequest parse_chat_request(std::string_view body, const Limits& limits);
CompletionRequest parse_completion_request(std::string_view body, const Limits& limits);
EmbeddingRequest parse_embedding_request(std::string_view body);

// One generated token's log-probability, with its top alternatives (most likely first).
struct TokenLogprob {
  std::string token;  // the token's text (may be part of a UTF-8 character; see bytes)
  float logprob;
  std::vector<uint8_t> bytes;  // the token's raw bytes
  std::vector<std::pair<std::string, float>> top;
};
// What the engine produced for one of the n choices.
struct Choice {
  std::string text;           // for completions with echo, the server prepends the prompt
  std::string finish_reason;  // "stop", "length", "tool_calls" ...
  std::vector<TokenLogprob> logprobs;
  std::string reasoning;             // chat: reasoning_content (left out when empty)
  std::vector<ToolCall> tool_calls;  // chat: the content is null when there are calls and no text
};
struct Usage {
  int32_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
};

inline constexpr const char* kSystemFingerprint = "hayate-0.1";

// Non-streaming responses. choices[i] gets index i.
std::string chat_completion_json(const std::string& id, int64_t created, const std::string& model,
                                 const std::vector<Choice>& choices, const Usage& usage, bool with_logprobs);
// /v1/completions: "text_completion", choices[].text, logprobs in the legacy shape {tokens,
// token_logprobs, top_logprobs, text_offset}. text_offset counts characters (text_offset_chars)
// from the start of the choice's text, as OpenAI and vLLM do, so echoed prompt text before the
// first logprob token is accounted for. A token whose logprob is NaN (the first of an echoed
// prompt) has null token_logprobs and top_logprobs entries.
std::string completion_json(const std::string& id, int64_t created, const std::string& model,
                            const std::vector<Choice>& choices, const Usage& usage, bool with_logprobs);
// The characters text_offset counts in text: the bytes that do not continue a UTF-8 sequence, so
// a character split over two tokens is counted once, with the token that starts it.
int64_t text_offset_chars(std::string_view text);
// encoding_format "float" (arrays of numbers) or "base64" (little-endian float32, base64).
std::string embeddings_json(const std::string& model, const std::vector<std::vector<float>>& vectors,
                            const std::string& encoding_format, int32_t prompt_tokens);
std::string models_json(const std::vector<std::pair<std::string, int64_t>>& models /* id, created */,
                        const std::string& owned_by);

// Streaming (SSE): each returns one complete event "data: {...}\n\n".
// The first chunk of a choice carries role "assistant" (and content ""); the last carries the
// finish_reason (and usually empty content, which is then left out of the delta).
std::string sse_chat_chunk(const std::string& id, int64_t created, const std::string& model, int32_t index,
                           const std::optional<std::string>& role, const std::string& delta_content,
                           const std::optional<std::string>& finish_reason, const TokenLogprob* logprob /*nullable*/);
// text_offset: where this chunk's text starts in the choice's text (characters), for legacy logprobs.
std::string sse_completion_chunk(const std::string& id, int64_t created, const std::string& model, int32_t index,
                                 const std::string& text, const std::optional<std::string>& finish_reason,
                                 const TokenLogprob* logprob /*nullable*/, int32_t text_offset = 0);
// choices: [] and usage, for stream_options.include_usage (sent after the last choice chunk).
std::string sse_usage_chunk(const std::string& id, int64_t created, const std::string& model, const Usage& usage,
                            bool chat);
// A tool call's delta, as OpenAI streams them: the first of a call carries its id, type and
// name with empty arguments (header true), the next ones pieces of the arguments.
std::string sse_chat_tool_call_chunk(const std::string& id, int64_t created, const std::string& model, int32_t index,
                                     int32_t call_index, const ToolCall& call, bool header);
// A delta of reasoning_content.
std::string sse_chat_reasoning_chunk(const std::string& id, int64_t created, const std::string& model, int32_t index,
                                     const std::string& reasoning);
// One model of GET /v1/models/{id}.
std::string model_json(const std::string& id, int64_t created, const std::string& owned_by);
std::string sse_done();  // "data: [DONE]\n\n"
std::string sse_error(const ApiError& e);

// A strict SSE reader for tests and the benchmark client. Accepts "data:" lines (one optional
// space after the colon; several in one event are joined by "\n"), comment lines starting with
// ':' and blank lines ending events; lines end in "\n" or "\r\n". Anything else, data after
// [DONE], or (at finish) a partial line or an event without its closing blank line throws
// hayate::Error(BadInput) saying which line is wrong.
class SseParser {
 public:
  void feed(std::string_view bytes);
  // The data of each complete event since the last call, in order ([DONE] and events with empty
  // data are not events).
  std::vector<std::string> take_events();
  bool done() const { return done_; }  // saw [DONE]
  // The stream has ended: throws if it stopped mid-line or mid-event.
  void finish() const;

 private:
  void line(std::string_view text);

  std::string partial_;            // bytes after the last line end
  std::vector<std::string> data_;  // data lines of the event being read
  bool in_event_ = false;          // a data or comment line since the last blank line
  std::vector<std::string> events_;
  bool done_ = false;
  int64_t line_no_ = 0;
};

// prefix + 24 random alphanumerics, e.g. new_request_id("chatcmpl-"). Thread-safe.
std::string new_request_id(std::string_view prefix);

}  // namespace hayate::api
