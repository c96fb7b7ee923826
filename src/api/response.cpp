// Engine results -> OpenAI response bodies and stream chunks. Built as ordered JSON so the fields
// come in OpenAI's order and the same inputs always give the same bytes.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "api/json_util.h"
#include "api/openai.h"
#include "core/base64.h"

namespace hayate::api {

namespace {

using detail::ojson;

// OpenAI reports impossible tokens as -9999 rather than -inf (which JSON cannot hold).
double logprob_value(float lp) { return std::isfinite(lp) ? detail::stable_float(lp) : -9999.0; }

ojson byte_array(const std::string& s) {
  ojson arr = ojson::array();
  for (unsigned char c : s) arr.push_back(static_cast<int>(c));
  return arr;
}

ojson byte_array(const std::vector<uint8_t>& bytes) {
  ojson arr = ojson::array();
  for (uint8_t c : bytes) arr.push_back(static_cast<int>(c));
  return arr;
}

ojson usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", int64_t{u.prompt_tokens} + int64_t{u.completion_tokens}},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

// The chat shape: {token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}.
int64_t token_chars(const TokenLogprob& t) {
  return t.bytes.empty()
             ? text_offset_chars(t.token)
             : text_offset_chars(std::string_view(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size()));
}

ojson chat_logprob(const TokenLogprob& t) {
  ojson top = ojson::array();
  for (const auto& [token, lp] : t.top)
    top.push_back({{"token", token}, {"logprob", logprob_value(lp)}, {"bytes", byte_array(token)}});
  return {
      {"token", t.token}, {"logprob", logprob_value(t.logprob)}, {"bytes", byte_array(t.bytes)}, {"top_logprobs", top}};
}

ojson chat_logprobs(const std::vector<TokenLogprob>& tokens) {
  ojson content = ojson::array();
  for (const auto& t : tokens) content.push_back(chat_logprob(t));
  return {{"content", content}};
}

// The legacy completions shape: parallel arrays, top alternatives as {token: logprob} maps.
// Two alternatives that decode to the same text keep the more likely one, as a map must. A NaN
// logprob (an echoed prompt's first token, which nothing predicts) is null, with null top.
ojson legacy_logprobs(const std::vector<TokenLogprob>& tokens, int64_t first_offset) {
  ojson text = ojson::array(), lps = ojson::array(), tops = ojson::array(), offsets = ojson::array();
  int64_t offset = first_offset;
  for (const auto& t : tokens) {
    text.push_back(t.token);
    const bool none = std::isnan(t.logprob);
    lps.push_back(none ? ojson(nullptr) : ojson(logprob_value(t.logprob)));
    ojson top = ojson::object();
    for (const auto& [token, lp] : t.top)
      if (!top.contains(token)) top[token] = logprob_value(lp);
    tops.push_back(none && t.top.empty() ? ojson(nullptr) : top);
    offsets.push_back(offset);
    offset += token_chars(t);
  }
  return {{"tokens", text}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

int64_t tokens_chars(const std::vector<TokenLogprob>& tokens) {
  int64_t n = 0;
  for (const auto& t : tokens) n += token_chars(t);
  return n;
}

ojson envelope(const std::string& id, const char* object, int64_t created, const std::string& model) {
  return {{"id", id},
          {"object", object},
          {"created", created},
          {"model", model},
          {"system_fingerprint", kSystemFingerprint}};
}

std::string sse(const ojson& j) { return "data: " + detail::dump(j) + "\n\n"; }

ojson optional_string(const std::optional<std::string>& s) { return s ? ojson(*s) : ojson(nullptr); }

std::string base64_floats(const std::vector<float>& v) {
  std::vector<uint8_t> bytes;
  bytes.reserve(v.size() * 4);
  for (float f : v) {
    if (!std::isfinite(f)) f = 0.0f;  // as in the float form: NaN never reaches the client
    uint32_t bits;
    static_assert(sizeof(bits) == sizeof(f));
    std::memcpy(&bits, &f, sizeof(bits));
    for (int k = 0; k < 4; ++k) bytes.push_back(static_cast<uint8_t>(bits >> (8 * k)));  // little-endian
  }
  return base64_encode(bytes);
}

}  // namespace

int64_t text_offset_chars(std::string_view text) {
  return std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

std::string chat_completion_json(const std::string& id, int64_t created, const std::string& model,
                                 const std::vector<Choice>& choices, const Usage& usage, bool with_logprobs) {
  ojson body = envelope(id, "chat.completion", created, model);
  ojson list = ojson::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const Choice& c = choices[i];
    ojson message = {{"role", "assistant"}};
    message["content"] = c.tool_calls.empty() || !c.text.empty() ? ojson(c.text) : ojson(nullptr);
    if (!c.reasoning.empty()) message["reasoning_content"] = c.reasoning;
    if (!c.tool_calls.empty()) {
      ojson calls = ojson::array();
      for (const ToolCall& t : c.tool_calls)
        calls.push_back(
            {{"id", t.id}, {"type", "function"}, {"function", {{"name", t.name}, {"arguments", t.arguments}}}});
      message["tool_calls"] = std::move(calls);
    }
    list.push_back({{"index", i},
                    {"message", std::move(message)},
                    {"logprobs", with_logprobs ? chat_logprobs(c.logprobs) : ojson(nullptr)},
                    {"finish_reason", c.finish_reason}});
  }
  body["choices"] = std::move(list);
  body["usage"] = usage_json(usage);
  return detail::dump(body);
}

std::string completion_json(const std::string& id, int64_t created, const std::string& model,
                            const std::vector<Choice>& choices, const Usage& usage, bool with_logprobs) {
  ojson body = envelope(id, "text_completion", created, model);
  ojson list = ojson::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const Choice& c = choices[i];
    // With echo the text starts with the prompt, which has no logprob entries here.
    const int64_t first = std::max<int64_t>(0, text_offset_chars(c.text) - tokens_chars(c.logprobs));
    list.push_back({{"index", i},
                    {"text", c.text},
                    {"logprobs", with_logprobs ? legacy_logprobs(c.logprobs, first) : ojson(nullptr)},
                    {"finish_reason", c.finish_reason}});
  }
  body["choices"] = std::move(list);
  body["usage"] = usage_json(usage);
  return detail::dump(body);
}

std::string embeddings_json(const std::string& model, const std::vector<std::vector<float>>& vectors,
                            const std::string& encoding_format, int32_t prompt_tokens) {
  const bool base64 = encoding_format == "base64";
  ojson data = ojson::array();
  for (size_t i = 0; i < vectors.size(); ++i) {
    ojson embedding;
    if (base64) {
      embedding = base64_floats(vectors[i]);
    } else {
      embedding = ojson::array();
      for (float f : vectors[i]) embedding.push_back(std::isfinite(f) ? detail::stable_float(f) : 0.0);
    }
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", std::move(embedding)}});
  }
  ojson body = {{"object", "list"},
                {"data", std::move(data)},
                {"model", model},
                {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
  return detail::dump(body);
}

std::string models_json(const std::vector<std::pair<std::string, int64_t>>& models, const std::string& owned_by) {
  ojson data = ojson::array();
  for (const auto& [id, created] : models)
    data.push_back({{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", owned_by}});
  return detail::dump({{"object", "list"}, {"data", std::move(data)}});
}

std::string sse_chat_chunk(const std::string& id, int64_t created, const std::string& model, int32_t index,
                           const std::optional<std::string>& role, const std::string& delta_content,
                           const std::optional<std::string>& finish_reason, const TokenLogprob* logprob) {
  ojson delta = ojson::object();
  if (role) delta["role"] = *role;
  if (role || !delta_content.empty()) delta["content"] = delta_content;
  ojson lp = nullptr;
  if (logprob) lp = {{"content", ojson::array({chat_logprob(*logprob)})}};
  ojson body = envelope(id, "chat.completion.chunk", created, model);
  body["choices"] = ojson::array({{{"index", index},
                                   {"delta", std::move(delta)},
                                   {"logprobs", std::move(lp)},
                                   {"finish_reason", optional_string(finish_reason)}}});
  return sse(body);
}

std::string sse_completion_chunk(const std::string& id, int64_t created, const std::string& model, int32_t index,
                                 const std::string& text, const std::optional<std::string>& finish_reason,
                                 const TokenLogprob* logprob, int32_t text_offset) {
  ojson lp = nullptr;
  if (logprob) lp = legacy_logprobs({*logprob}, text_offset);
  ojson body = envelope(id, "text_completion", created, model);
  body["choices"] = ojson::array({{{"index", index},
                                   {"text", text},
                                   {"logprobs", std::move(lp)},
                                   {"finish_reason", optional_string(finish_reason)}}});
  return sse(body);
}

std::string sse_usage_chunk(const std::string& id, int64_t created, const std::string& model, const Usage& usage,
                            bool chat) {
  ojson body = envelope(id, chat ? "chat.completion.chunk" : "text_completion", created, model);
  body["choices"] = ojson::array();
  body["usage"] = usage_json(usage);
  return sse(body);
}

std::string sse_chat_tool_call_chunk(const std::string& id, int64_t created, const std::string& model, int32_t index,
                                     int32_t call_index, const ToolCall& call, bool header) {
  ojson call_json = {{"index", call_index}};
  if (header) {
    call_json["id"] = call.id;
    call_json["type"] = "function";
    call_json["function"] = {{"name", call.name}, {"arguments", ""}};
  } else {
    call_json["function"] = {{"arguments", call.arguments}};
  }
  ojson body = envelope(id, "chat.completion.chunk", created, model);
  body["choices"] = ojson::array({{{"index", index},
                                   {"delta", {{"tool_calls", ojson::array({std::move(call_json)})}}},
                                   {"logprobs", nullptr},
                                   {"finish_reason", nullptr}}});
  return sse(body);
}

std::string sse_chat_reasoning_chunk(const std::string& id, int64_t created, const std::string& model, int32_t index,
                                     const std::string& reasoning) {
  ojson body = envelope(id, "chat.completion.chunk", created, model);
  body["choices"] = ojson::array({{{"index", index},
                                   {"delta", {{"reasoning_content", reasoning}}},
                                   {"logprobs", nullptr},
                                   {"finish_reason", nullptr}}});
  return sse(body);
}

std::string model_json(const std::string& id, int64_t created, const std::string& owned_by) {
  return detail::dump({{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", owned_by}});
}

std::string sse_done() { return "data: [DONE]\n\n"; }

std::string sse_error(const ApiError& e) { return "data: " + error_json(e) + "\n\n"; }

}  // namespace hayate::api
