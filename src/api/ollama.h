// Ollama's own API (/api/chat, /api/generate, /api/embed, /api/tags, /api/show, /api/ps) as pure
// functions: request parsing onto hayate's settings and the response objects, so that clients
// written for Ollama work unchanged. Durations are nanoseconds, times RFC 3339, streams NDJSON
// (one object per line), errors {"error": "..."}.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/openai.h"
#include "core/sampling_params.h"

namespace hayate::api::ollama {

// "options": the sampling fields (temperature, top_k, top_p, min_p, repeat_penalty,
// repeat_last_n, frequency_penalty, presence_penalty, seed) as hayate's, from Ollama's defaults;
// num_predict as max_tokens; stop; num_ctx no larger than the server's. Runtime settings of
// Ollama's runner (num_thread, num_gpu, use_mmap, ...) are accepted and ignored; an option that
// would change sampling in a way hayate does not implement (mirostat, tfs_z, typical_p) is a 400
// naming it.
struct Options {
  SamplingParams sampling;
  std::optional<int32_t> num_predict;  // nullopt: up to the context (Ollama's -1 and -2)
  std::vector<std::string> stop;
  std::optional<int32_t> num_ctx;
};

// keep_alive: a duration ("5m", "1h30m", "90s", "-1") or a number of seconds; negative: keep
// loaded forever, 0: unload after the request.
std::optional<double> parse_keep_alive(const nlohmann::json& v);

struct GenerateRequest {
  std::string model;
  std::string prompt, system, suffix;
  std::vector<ImagePart> images;
  bool raw = false;    // the prompt is sent as is, without the chat template
  bool stream = true;  // Ollama streams unless told not to
  std::string format;  // "" or "json"; a JSON schema object is kept in `schema`
  nlohmann::ordered_json schema;
  Options options;
  std::optional<double> keep_alive;
};

struct ChatRequest {
  std::string model;
  std::vector<ChatMessage> messages;  // may be empty: a request that only loads the model
  bool stream = true;
  std::string format;
  nlohmann::ordered_json schema;
  Options options;
  std::optional<double> keep_alive;
};

struct EmbedRequest {
  std::string model;
  std::vector<std::string> input;
  bool truncate = true;
  std::optional<double> keep_alive;
};

// "images" (base64 strings; a message's or the request's) become image_parts within `limits`, with
// a placeholder each before the message's text (the prompt's, for /api/generate), where Ollama
// puts them; the server decodes them as chat's image_url parts.
GenerateRequest parse_generate_request(std::string_view body, const Limits& limits = {});
ChatRequest parse_chat_request(std::string_view body, const Limits& limits = {});
EmbedRequest parse_embed_request(std::string_view body);
std::string parse_model_name(std::string_view body);  // /api/show: "model" (or the older "name")

// "llama3.2" and "llama3.2:latest" name the same model.
bool same_model(std::string_view requested, std::string_view served);
std::string tagged(std::string_view name);  // "name:latest" unless it has a tag

std::string rfc3339(std::chrono::system_clock::time_point t);

struct Stats {
  int32_t prompt_eval_count = 0, eval_count = 0;
  int64_t total_duration = 0, load_duration = 0, prompt_eval_duration = 0, eval_duration = 0;  // ns
};

nlohmann::json generate_chunk(const std::string& model, const std::string& created_at, const std::string& text);
nlohmann::json generate_final(const std::string& model, const std::string& created_at, const std::string& text,
                              const std::string& done_reason, const Stats& stats);
nlohmann::json chat_chunk(const std::string& model, const std::string& created_at, const std::string& content);
nlohmann::json chat_final(const std::string& model, const std::string& created_at, const std::string& content,
                          const std::string& done_reason, const Stats& stats);
std::string error_json(const std::string& message);

}  // namespace hayate::api::ollama
