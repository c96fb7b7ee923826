#include "api/ollama.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "api/parse_util.h"

namespace hayate::api::ollama {
namespace {

using json = nlohmann::json;
using detail::bad;
using detail::describe;
using detail::field;

std::string opt_string(const json& j, const char* key) {
  const json* v = field(j, key);
  if (!v) return {};
  if (!v->is_string()) bad(key, std::string("'") + key + "' must be a string, got " + describe(*v));
  return v->get<std::string>();
}

bool opt_bool(const json& j, const char* key, bool fallback) {
  const json* v = field(j, key);
  if (!v) return fallback;
  if (!v->is_boolean()) bad(key, std::string("'") + key + "' must be true or false, got " + describe(*v));
  return v->get<bool>();
}

std::string required_model(const json& j) {
  std::string model = opt_string(j, "model");
  if (model.empty()) model = opt_string(j, "name");
  if (model.empty()) bad("model", "'model' is required: the name of the model");
  return model;
}

// Options that only tune Ollama's runner (threads, GPU layers, memory mapping, batch size):
// hayate takes these from its own configuration.
constexpr const char* kRunnerOptions[] = {"num_keep",   "num_batch", "num_gpu",         "main_gpu",
                                          "use_mmap",   "use_mlock", "num_thread",      "low_vram",
                                          "vocab_only", "numa",      "penalize_newline"};
constexpr const char* kSamplingOptions[] = {
    "temperature",       "top_k",           "top_p", "min_p", "seed", "repeat_penalty", "repeat_last_n",
    "frequency_penalty", "presence_penalty"};

bool listed(const std::string& key, const auto& list) {
  for (const char* k : list)
    if (key == k) return true;
  return false;
}

Options parse_options(const json& j) {
  Options o;
  // Ollama's documented defaults.
  o.sampling.temperature = 0.8f;
  o.sampling.top_k = 40;
  o.sampling.top_p = 0.9f;
  o.sampling.min_p = 0.0f;
  o.sampling.repeat_penalty = 1.1f;
  o.sampling.repeat_last_n = 64;
  const json* opts = field(j, "options");
  if (!opts) return o;
  if (!opts->is_object()) bad("options", "'options' must be an object, got " + describe(*opts));
  for (const auto& [key, value] : opts->items()) {
    if (listed(key, kSamplingOptions) || listed(key, kRunnerOptions) || key == "stop" || key == "num_predict" ||
        key == "num_ctx")
      continue;
    if ((key == "mirostat" && value == 0) || (key == "tfs_z" && value == 1) || (key == "typical_p" && value == 1))
      continue;  // their "off" values
    bad("options." + key, "option '" + key + "' (" + describe(value) + ") is not supported by hayate");
  }
  detail::parse_sampling_fields(*opts, o.sampling);
  if (const json* v = field(*opts, "num_predict")) {
    if (!v->is_number_integer()) bad("options.num_predict", "'num_predict' must be an integer, got " + describe(*v));
    const int64_t n = v->get<int64_t>();
    if (n >= 0)
      o.num_predict = static_cast<int32_t>(std::min<int64_t>(n, 1 << 30));
    else if (n != -1 && n != -2)
      bad("options.num_predict", "'num_predict' must be -1 (no limit), -2 (fill the context) or >= 0");
  }
  if (const json* v = field(*opts, "num_ctx")) {
    if (!v->is_number_integer() || v->get<int64_t>() <= 0 || v->get<int64_t>() > (1 << 30))
      bad("options.num_ctx", "'num_ctx' must be a positive integer, got " + describe(*v));
    o.num_ctx = static_cast<int32_t>(v->get<int64_t>());
  }
  if (const json* v = field(*opts, "stop")) {
    const json list = v->is_string() ? json::array({*v}) : *v;
    if (!list.is_array()) bad("options.stop", "'stop' must be a string or an array of strings");
    for (const json& s : list) {
      if (!s.is_string()) bad("options.stop", "'stop' must hold strings, got " + describe(s));
      o.stop.push_back(s.get<std::string>());
    }
  }
  return o;
}

void parse_format(const json& j, std::string& format, nlohmann::ordered_json& schema) {
  const json* v = field(j, "format");
  if (!v) return;
  if (v->is_string()) {
    format = v->get<std::string>();
    if (format != "json" && !format.empty()) bad("format", "'format' must be \"json\" or a JSON schema object");
  } else if (v->is_object()) {
    format = "schema";
    schema = nlohmann::ordered_json::parse(v->dump());
  } else {
    bad("format", "'format' must be \"json\" or a JSON schema object, got " + describe(*v));
  }
}

std::optional<double> keep_alive_of(const json& j) {
  const json* v = field(j, "keep_alive");
  return v ? parse_keep_alive(*v) : std::nullopt;
}

// What /api/generate and /api/chat share.
template <class Request>
void parse_generation_fields(const json& j, Request& r) {
  r.stream = opt_bool(j, "stream", true);
  parse_format(j, r.format, r.schema);
  r.options = parse_options(j);
  r.keep_alive = keep_alive_of(j);
}

}  // namespace

std::optional<double> parse_keep_alive(const json& v) {
  if (v.is_null()) return std::nullopt;
  if (v.is_number()) return v.get<double>();
  if (!v.is_string()) bad("keep_alive", "'keep_alive' must be a duration like \"5m\" or a number of seconds");
  const std::string s = v.get<std::string>();
  // Go's time.ParseDuration units, or a bare number of seconds.
  size_t i = 0;
  double total = 0;
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) ++i;
  if (i == s.size()) bad("keep_alive", "'keep_alive' \"" + s + "\" is not a duration");
  while (i < s.size()) {
    size_t used = 0;
    double n = 0;
    try {
      n = std::stod(s.substr(i), &used);
    } catch (...) {
      bad("keep_alive", "'keep_alive' \"" + s + "\" is not a duration like \"5m\", \"1h30m\" or \"-1\"");
    }
    i += used;
    std::string unit;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) unit += s[i++];
    const double scale = unit.empty() || unit == "s" ? 1
                         : unit == "m"               ? 60
                         : unit == "h"               ? 3600
                         : unit == "ms"              ? 1e-3
                         : unit == "us"              ? 1e-6
                         : unit == "ns"              ? 1e-9
                                                     : -1;
    if (scale < 0) bad("keep_alive", "'keep_alive' \"" + s + "\" has an unknown unit '" + unit + "'");
    total += std::fabs(n) * scale;
  }
  return negative ? -total : total;
}

namespace {

// "images" at `param`: an array of base64 strings.
std::vector<ImagePart> parse_images(const json& j, const std::string& param, const Limits& limits) {
  std::vector<ImagePart> out;
  const json* images = field(j, "images");
  if (!images) return out;
  if (!images->is_array()) bad(param, "'" + param + "' must be an array of base64 strings, got " + describe(*images));
  for (size_t i = 0; i < images->size(); ++i)
    out.push_back(detail::parse_base64_image((*images)[i], param + "[" + std::to_string(i) + "]", limits));
  return out;
}

std::string with_placeholders(std::string text, size_t n_images) {
  for (size_t i = 0; i < n_images; ++i) text.insert(0, kImagePlaceholder);
  return text;
}

}  // namespace

GenerateRequest parse_generate_request(std::string_view body, const Limits& limits) {
  const json j = detail::parse_object(body);
  GenerateRequest r;
  r.model = required_model(j);
  r.prompt = opt_string(j, "prompt");
  r.system = opt_string(j, "system");
  r.suffix = opt_string(j, "suffix");
  if (!r.suffix.empty()) bad("suffix", "'suffix' (fill-in-the-middle) is not supported by hayate");
  if (!opt_string(j, "template").empty()) bad("template", "'template' is not supported: hayate uses the model's own");
  r.images = parse_images(j, "images", limits);
  if (r.images.size() > static_cast<size_t>(std::max(0, limits.max_images)))
    bad("images", "the request has " + std::to_string(r.images.size()) + " images; at most " +
                      std::to_string(limits.max_images) + " are allowed");
  r.raw = opt_bool(j, "raw", false);
  parse_generation_fields(j, r);
  return r;
}

ChatRequest parse_chat_request(std::string_view body, const Limits& limits) {
  const json j = detail::parse_object(body);
  ChatRequest r;
  r.model = required_model(j);
  if (const json* messages = field(j, "messages")) {
    if (!messages->is_array()) bad("messages", "'messages' must be an array, got " + describe(*messages));
    for (size_t i = 0; i < messages->size(); ++i) {
      const json& m = (*messages)[i];
      const std::string at = "messages[" + std::to_string(i) + "]";
      if (!m.is_object()) bad(at, "'" + at + "' must be an object with role and content");
      ChatMessage msg;
      msg.role = opt_string(m, "role");
      if (msg.role.empty()) bad(at + ".role", "'" + at + ".role' is required");
      msg.image_parts = parse_images(m, at + ".images", limits);
      msg.content = with_placeholders(opt_string(m, "content"), msg.image_parts.size());
      msg.raw = m;
      msg.raw.erase("images");  // templates read the placeholders in the content, not the bytes
      msg.raw["content"] = msg.content;
      r.messages.push_back(std::move(msg));
    }
    detail::check_image_count(r.messages, limits, "messages");
  }
  if (const json* tools = field(j, "tools"); tools && !tools->empty())
    bad("tools", "'tools' are not supported on /api/chat yet; use /v1/chat/completions");
  parse_generation_fields(j, r);
  return r;
}

EmbedRequest parse_embed_request(std::string_view body) {
  const json j = detail::parse_object(body);
  EmbedRequest r;
  r.model = required_model(j);
  const json* input = field(j, "input");
  if (!input) bad("input", "'input' is required: a string or an array of strings");
  const json list = input->is_string() ? json::array({*input}) : *input;
  if (!list.is_array() || list.empty()) bad("input", "'input' must be a string or a non-empty array of strings");
  for (const json& s : list) {
    if (!s.is_string()) bad("input", "'input' must hold strings, got " + describe(s));
    r.input.push_back(s.get<std::string>());
  }
  r.truncate = opt_bool(j, "truncate", true);
  r.keep_alive = keep_alive_of(j);
  return r;
}

std::string parse_model_name(std::string_view body) { return required_model(detail::parse_object(body)); }

std::string tagged(std::string_view name) {
  std::string s(name);
  const size_t slash = s.rfind('/');
  if (s.find(':', slash == std::string::npos ? 0 : slash) == std::string::npos) s += ":latest";
  return s;
}

bool same_model(std::string_view requested, std::string_view served) { return tagged(requested) == tagged(served); }

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(ns % 1000000000));
  return buf;
}

namespace {
void add_stats(json& j, const std::string& done_reason, const Stats& s) {
  j["done_reason"] = done_reason;
  j["total_duration"] = s.total_duration;
  j["load_duration"] = s.load_duration;
  j["prompt_eval_count"] = s.prompt_eval_count;
  j["prompt_eval_duration"] = s.prompt_eval_duration;
  j["eval_count"] = s.eval_count;
  j["eval_duration"] = s.eval_duration;
}
}  // namespace

json generate_chunk(const std::string& model, const std::string& created_at, const std::string& text) {
  return {{"model", model}, {"created_at", created_at}, {"response", text}, {"done", false}};
}

json generate_final(const std::string& model, const std::string& created_at, const std::string& text,
                    const std::string& done_reason, const Stats& stats) {
  json j = {{"model", model}, {"created_at", created_at}, {"response", text}, {"done", true}};
  add_stats(j, done_reason, stats);
  return j;
}

json chat_chunk(const std::string& model, const std::string& created_at, const std::string& content) {
  return {{"model", model},
          {"created_at", created_at},
          {"message", {{"role", "assistant"}, {"content", content}}},
          {"done", false}};
}

json chat_final(const std::string& model, const std::string& created_at, const std::string& content,
                const std::string& done_reason, const Stats& stats) {
  json j = {{"model", model},
            {"created_at", created_at},
            {"message", {{"role", "assistant"}, {"content", content}}},
            {"done", true}};
  add_stats(j, done_reason, stats);
  return j;
}

std::string error_json(const std::string& message) { return json({{"error", message}}).dump(); }

}  // namespace hayate::api::ollama
