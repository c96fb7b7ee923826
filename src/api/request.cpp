// Request bodies -> validated request structs. Every rejection is ApiError(400) whose param is the
// offending parameter's path and whose message says what was expected and what came.
#include <charconv>
#include <cmath>
#include <limits>

#include "api/openai.h"
#include "api/parse_util.h"
#include "core/json_scan.h"

namespace hayate::api {

namespace {

using json = nlohmann::json;

constexpr int kMaxDepth = 64;
constexpr size_t kMaxStops = 4;
constexpr size_t kMaxEmbeddingInputs = 2048;

using detail::bad;
using detail::describe;
using detail::field;
using detail::parse_image_part;

// bad() for a message that begins with the parameter's name: "'top_p' must be ...". `where`
// names the exact element when it is inside param ("stop[2]" of "stop").
[[noreturn]] void reject(const std::string& param, std::string_view what, const std::string& where = "") {
  std::string message = "'";
  message += where.empty() ? param : where;
  message += "' ";
  message += what;
  bad(param, message);
}

std::string number_text(double v) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

// Length of the UTF-8 sequence starting at s[i], or 0 when it is not well formed (overlong
// forms, surrogates and code points above U+10FFFF included).
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  return len;
}

// Checks what the JSON parser would accept but we do not: invalid UTF-8 (which JSON forbids, and
// the parser only notices inside strings), and nesting deep enough to exhaust the stack of
// whoever walks the value recursively later (copies, chat templates).
void check_bytes(std::string_view body) {
  JsonScan scan;
  for (size_t i = 0; i < body.size();) {
    const size_t len = utf8_sequence(body, i);
    if (len == 0)
      bad("", "request body is not valid UTF-8 (byte " + std::to_string(i) + "); send JSON encoded as UTF-8");
    const char c = body[i];
    i += len;
    if (len > 1) continue;
    if (scan.step(c) > 0 && scan.depth > kMaxDepth)
      bad("", "request body nests arrays and objects more than " + std::to_string(kMaxDepth) + " levels deep");
  }
}

json parse_body(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) bad("", "request body is empty; send a JSON object");
  check_bytes(body);
  json j;
  try {
    j = json::parse(body.begin(), body.end());
  } catch (const json::parse_error& e) {
    std::string why = e.what();
    // nlohmann's text is "[json.exception.parse_error.101] parse error at line 1, column 5: ...".
    if (const size_t colon = why.find(": "); colon != std::string::npos) why = why.substr(colon + 2);
    bad("", "request body is not valid JSON (at byte " + std::to_string(e.byte) + "): " + why);
  } catch (const json::exception& e) {
    // A number too large for a double ("1e400") is out_of_range, not a parse error.
    std::string why = e.what();
    if (const size_t end = why.find("] "); end != std::string::npos) why = why.substr(end + 2);
    bad("", "request body is not valid JSON: " + why);
  }
  if (!j.is_object()) bad("", "request body must be a JSON object, got " + describe(j));
  return j;
}

std::optional<std::string> opt_string(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) reject(key, "must be a string, got " + describe(*v));
  return v->get<std::string>();
}

std::optional<bool> opt_bool(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) reject(key, "must be true or false, got " + describe(*v));
  return v->get<bool>();
}

// An integer in [lo, hi]; a float with an integral value (2.0) counts as one.
std::optional<int64_t> opt_int(const json& obj, const char* key, int64_t lo, int64_t hi) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  const std::string range = "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(hi) || static_cast<int64_t>(u) < lo)
      reject(key, "must be " + range + ", got " + describe(*v));
    return static_cast<int64_t>(u);
  }
  int64_t x;
  if (v->is_number_integer()) {
    x = v->get<int64_t>();
  } else if (v->is_number_float()) {
    const double d = v->get<double>();
    if (!(std::trunc(d) == d && d >= -9.0e18 && d <= 9.0e18)) reject(key, "must be " + range + ", got " + describe(*v));
    x = static_cast<int64_t>(d);
  } else {
    reject(key, "must be " + range + ", got " + describe(*v));
  }
  if (x < lo || x > hi) reject(key, "must be " + range + ", got " + describe(*v));
  return x;
}

std::optional<int32_t> opt_int32(const json& obj, const char* key, int64_t lo, int64_t hi) {
  const auto v = opt_int(obj, key, lo, hi);
  if (!v) return std::nullopt;
  return static_cast<int32_t>(*v);
}

// A finite number in [lo, hi], or (lo_open) in (lo, hi].
std::optional<float> opt_number(const json& obj, const char* key, double lo, double hi, bool lo_open = false) {
  const json* v = field(obj, key);
  if (!v) return std::nullopt;
  const std::string range = std::string(lo_open ? "(" : "[") + number_text(lo) + ", " + number_text(hi) + "]";
  if (!v->is_number()) reject(key, "must be a number in " + range + ", got " + describe(*v));
  const double d = v->get<double>();
  const bool ok = std::isfinite(d) && (lo_open ? d > lo : d >= lo) && d <= hi;
  if (!ok) reject(key, "must be a number in " + range + ", got " + describe(*v));
  return static_cast<float>(d);
}

// temperature, top_p, penalties, seed and the hayate extensions, into params (which holds the
// defaults).
void parse_sampling(const json& j, SamplingParams& params) {
  if (auto v = opt_number(j, "temperature", 0, 2)) params.temperature = *v;
  if (auto v = opt_number(j, "top_p", 0, 1, /*lo_open=*/true)) params.top_p = *v;
  if (auto v = opt_number(j, "frequency_penalty", -2, 2)) params.frequency_penalty = *v;
  if (auto v = opt_number(j, "presence_penalty", -2, 2)) params.presence_penalty = *v;
  if (const json* v = field(j, "seed")) {
    // Every non-negative 64-bit value but the last, which the sampler reads as "random".
    constexpr uint64_t kMaxSeed = std::numeric_limits<uint64_t>::max() - 1;
    const bool ok = (v->is_number_unsigned() && v->get<uint64_t>() <= kMaxSeed) ||
                    (v->is_number_integer() && v->get<int64_t>() >= 0);
    if (!ok) bad("seed", "'seed' must be an integer in [0, " + std::to_string(kMaxSeed) + "], got " + describe(*v));
    params.seed = v->get<uint64_t>();
  }
  if (auto v = opt_int32(j, "top_k", -1, std::numeric_limits<int32_t>::max())) params.top_k = *v < 0 ? 0 : *v;
  if (auto v = opt_number(j, "min_p", 0, 1)) params.min_p = *v;
  if (auto v = opt_number(j, "repeat_penalty", 0, 100, /*lo_open=*/true)) params.repeat_penalty = *v;
  if (auto v = opt_int32(j, "repeat_last_n", -1, std::numeric_limits<int32_t>::max())) params.repeat_last_n = *v;
}

std::vector<std::string> parse_stop(const json& j) {
  const json* v = field(j, "stop");
  if (!v) return {};
  if (v->is_string()) return {v->get<std::string>()};
  if (!v->is_array()) bad("stop", "'stop' must be a string or an array of up to 4 strings, got " + describe(*v));
  if (v->size() > kMaxStops) bad("stop", "'stop' may hold at most 4 strings, got " + std::to_string(v->size()));
  std::vector<std::string> stops;
  for (size_t i = 0; i < v->size(); ++i) {
    const json& s = (*v)[i];
    if (!s.is_string()) bad("stop", "'stop[" + std::to_string(i) + "]' must be a string, got " + describe(s));
    stops.push_back(s.get<std::string>());
  }
  return stops;
}

void parse_stream(const json& j, bool& stream, bool& include_usage) {
  stream = opt_bool(j, "stream").value_or(false);
  const json* opts = field(j, "stream_options");
  if (!opts) return;
  if (!opts->is_object())
    bad("stream_options",
        "'stream_options' must be an object such as {\"include_usage\": true}, got " + describe(*opts));
  if (!stream) bad("stream_options", "'stream_options' is only allowed when 'stream' is true");
  if (const json* u = field(*opts, "include_usage")) {
    if (!u->is_boolean())
      bad("stream_options.include_usage", "'stream_options.include_usage' must be true or false, got " + describe(*u));
    include_usage = u->get<bool>();
  }
}

// lo is 0 only for a completion with echo: scoring the prompt alone, as lm-eval-harness asks.
std::optional<int32_t> parse_max_tokens(const json& j, const Limits& limits, bool chat, int64_t lo = 1) {
  const int64_t hi = std::max<int64_t>(1, limits.max_tokens);
  std::optional<int32_t> result = opt_int32(j, "max_tokens", lo, hi);
  if (chat) {
    if (auto v = opt_int32(j, "max_completion_tokens", 1, hi)) {
      if (result && *result != *v)
        bad("max_completion_tokens", "'max_tokens' and 'max_completion_tokens' disagree (" + std::to_string(*result) +
                                         " and " + std::to_string(*v) + "); send one of them");
      result = v;
    }
  }
  return result;
}

// One token array: integers in [0, 2^31). Empty arrays are refused (nothing to run).
// where: the array's own path ("prompt[2]"), param: the parameter it belongs to ("prompt").
std::vector<int32_t> parse_token_array(const json& arr, const std::string& param, const std::string& where) {
  if (arr.empty()) reject(param, "is an empty token array", where);
  std::vector<int32_t> ids;
  ids.reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    const json& t = arr[i];
    const bool ok =
        (t.is_number_unsigned() && t.get<uint64_t>() <= uint64_t(std::numeric_limits<int32_t>::max())) ||
        (t.is_number_integer() && t.get<int64_t>() >= 0 && t.get<int64_t>() <= std::numeric_limits<int32_t>::max());
    if (!ok)
      reject(param, "must be a token id (an integer >= 0), got " + describe(t), where + "[" + std::to_string(i) + "]");
    ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  return ids;
}

// "prompt" / "input": a string, an array of strings, an array of token ids, or an array of
// token-id arrays.
void parse_text_or_tokens(const json& j, const char* key, std::vector<std::string>& texts,
                          std::vector<std::vector<int32_t>>& ids, bool allow_empty_text) {
  const std::string name = key;
  const std::string shapes = "a string, an array of strings, an array of token ids or an array of token-id arrays";
  const json* v = field(j, key);
  if (!v) reject(name, "is required: " + shapes);
  auto text = [&](const json& s, const std::string& where) {
    const auto& str = s.get_ref<const std::string&>();
    if (str.empty() && !allow_empty_text) reject(name, "is an empty string", where);
    texts.push_back(str);
  };
  if (v->is_string()) return text(*v, name);
  if (!v->is_array()) reject(name, "must be " + shapes + ", got " + describe(*v));
  if (v->empty()) reject(name, "is an empty array");
  const json& first = v->front();
  if (first.is_number()) {
    ids.push_back(parse_token_array(*v, name, name));
    return;
  }
  for (size_t i = 0; i < v->size(); ++i) {
    const json& item = (*v)[i];
    const std::string where = name + "[" + std::to_string(i) + "]";
    if (first.is_string() && item.is_string()) {
      text(item, where);
    } else if (first.is_array() && item.is_array()) {
      ids.push_back(parse_token_array(item, name, where));
    } else {
      reject(name, "must be " + shapes + "; item " + std::to_string(i) + " is " + describe(item));
    }
  }
}

bool known_role(const std::string& role) {
  return role == "system" || role == "developer" || role == "user" || role == "assistant" || role == "tool" ||
         role == "function";
}

ChatMessage parse_message(const json& m, size_t index, const Limits& limits) {
  const std::string at = "messages[" + std::to_string(index) + "]";
  if (!m.is_object()) reject(at, "must be an object with 'role' and 'content', got " + describe(m));
  ChatMessage msg;
  const json* role = field(m, "role");
  if (!role) reject(at + ".role", "is required");
  if (!role->is_string()) reject(at + ".role", "must be a string, got " + describe(*role));
  msg.role = role->get<std::string>();
  if (!known_role(msg.role))
    reject(at + ".role", "is " + describe(*role) +
                             "; supported roles are 'system', 'developer', 'user', 'assistant', 'tool' and 'function'");
  if (const json* name = field(m, "name"); name && !name->is_string())
    reject(at + ".name", "must be a string, got " + describe(*name));

  msg.raw = m;
  const json* content = field(m, "content");
  if (!content) {
    // An assistant turn that only calls tools has no content.
    if (msg.role != "assistant") reject(at + ".content", "is required");
    return msg;
  }
  if (content->is_string()) {
    msg.content = content->get<std::string>();
  } else if (content->is_array()) {
    for (size_t i = 0; i < content->size(); ++i) {
      const json& part = (*content)[i];
      const std::string pat = at + ".content[" + std::to_string(i) + "]";
      if (!part.is_object()) reject(pat, "must be an object {\"type\": \"text\", \"text\": ...}");
      const json* type = field(part, "type");
      if (!type || !type->is_string()) reject(pat + ".type", "must be a string such as \"text\"");
      if (type->get_ref<const std::string&>() == "image_url") {
        msg.image_parts.push_back(parse_image_part(part, pat, limits));
        msg.content += kImagePlaceholder;
        continue;
      }
      if (type->get_ref<const std::string&>() != "text")
        reject(pat + ".type", "is " + describe(*type) + "; this server supports 'text' and 'image_url' parts");
      const json* text = field(part, "text");
      if (!text || !text->is_string())
        reject(pat + ".text", "must be a string, got " + (text ? describe(*text) : std::string("nothing")));
      msg.content += text->get_ref<const std::string&>();
    }
    msg.raw["content"] = msg.content;  // templates expect a string
  } else {
    reject(at + ".content", "must be a string or an array of text parts, got " + describe(*content));
  }
  return msg;
}

}  // namespace

namespace detail {

void bad(const std::string& param, const std::string& message) {
  throw ApiError(400, message, "invalid_request_error", param);
}

// Describes a JSON value in an error message: its type, and the value itself when it is short.
std::string describe(const nlohmann::json& v) {
  if (v.is_number() || v.is_boolean()) return v.dump();
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    return s.size() <= 40 ? "the string " + v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                          : "a string";
  }
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

// The value of key, or nullptr when it is absent or null (null means "the default").
const nlohmann::json* field(const nlohmann::json& obj, const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

nlohmann::json parse_object(std::string_view body) { return parse_body(body); }

void parse_sampling_fields(const nlohmann::json& j, SamplingParams& params) { parse_sampling(j, params); }

}  // namespace detail

SamplingParams openai_sampling_defaults() {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.repeat_penalty = 1.0f;
  p.frequency_penalty = 0.0f;
  p.presence_penalty = 0.0f;
  p.n_logprobs = 0;
  return p;
}

ChatCompletionRequest parse_chat_request(std::string_view body, const Limits& limits) {
  const json j = parse_body(body);
  ChatCompletionRequest r;
  r.model = opt_string(j, "model").value_or("");
  const json* messages = field(j, "messages");
  if (!messages) bad("messages", "'messages' is required: an array of {\"role\", \"content\"} objects");
  if (!messages->is_array()) bad("messages", "'messages' must be an array, got " + describe(*messages));
  if (messages->empty()) bad("messages", "'messages' must hold at least one message");
  r.messages.reserve(messages->size());
  for (size_t i = 0; i < messages->size(); ++i) r.messages.push_back(parse_message((*messages)[i], i, limits));
  detail::check_image_count(r.messages, limits, "messages");

  parse_stream(j, r.stream, r.include_usage);
  r.n = opt_int32(j, "n", 1, std::max(1, limits.max_n)).value_or(1);
  r.max_tokens = parse_max_tokens(j, limits, /*chat=*/true);
  parse_sampling(j, r.sampling);
  r.stop = parse_stop(j);
  r.constraint = parse_constraint(j, body);
  parse_tools(j, body, r);
  r.logit_bias = parse_logit_bias(j);
  r.reasoning = parse_reasoning_format(j);
  r.logprobs = opt_bool(j, "logprobs").value_or(false);
  if (auto top = opt_int32(j, "top_logprobs", 0, 20)) {
    if (!r.logprobs) bad("top_logprobs", "'top_logprobs' requires 'logprobs': true");
    r.top_logprobs = *top;
  }
  r.sampling.n_logprobs = r.top_logprobs;
  r.user = opt_string(j, "user").value_or("");
  r.ignore_eos = opt_bool(j, "ignore_eos").value_or(false);
  if (const json* kw = field(j, "chat_template_kwargs")) {
    if (!kw->is_object()) bad("chat_template_kwargs", "'chat_template_kwargs' must be an object, got " + describe(*kw));
    r.extra_template_vars = *kw;
  }
  return r;
}

CompletionRequest parse_completion_request(std::string_view body, const Limits& limits) {
  const json j = parse_body(body);
  CompletionRequest r;
  r.model = opt_string(j, "model").value_or("");
  parse_text_or_tokens(j, "prompt", r.prompts, r.prompt_ids, /*allow_empty_text=*/true);
  parse_stream(j, r.stream, r.include_usage);
  r.n = opt_int32(j, "n", 1, std::max(1, limits.max_n)).value_or(1);
  r.echo = opt_bool(j, "echo").value_or(false);
  r.max_tokens = parse_max_tokens(j, limits, /*chat=*/false, r.echo ? 0 : 1)
                     .value_or(std::min(16, std::max(1, limits.max_tokens)));
  parse_sampling(j, r.sampling);
  r.stop = parse_stop(j);
  r.constraint = parse_constraint(j, body);
  r.logit_bias = parse_logit_bias(j);
  r.logprobs = opt_int32(j, "logprobs", 0, 5);
  r.sampling.n_logprobs = r.logprobs.value_or(0);
  r.ignore_eos = opt_bool(j, "ignore_eos").value_or(false);
  return r;
}

EmbeddingRequest parse_embedding_request(std::string_view body) {
  const json j = parse_body(body);
  EmbeddingRequest r;
  r.model = opt_string(j, "model").value_or("");
  parse_text_or_tokens(j, "input", r.inputs, r.input_ids, /*allow_empty_text=*/false);
  const size_t count = r.inputs.size() + r.input_ids.size();
  if (count > kMaxEmbeddingInputs)
    bad("input",
        "'input' may hold at most " + std::to_string(kMaxEmbeddingInputs) + " items, got " + std::to_string(count));
  if (auto format = opt_string(j, "encoding_format")) {
    if (*format != "float" && *format != "base64")
      bad("encoding_format",
          "'encoding_format' must be \"float\" or \"base64\", got " + describe(*field(j, "encoding_format")));
    r.encoding_format = *format;
  }
  r.dimensions = opt_int32(j, "dimensions", 1, std::numeric_limits<int32_t>::max());
  return r;
}

}  // namespace hayate::api
