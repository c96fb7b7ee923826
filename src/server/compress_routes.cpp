// /v1/compress, /v1/decompress and /v1/compress/batch: JSON bodies (text, or base64 `data` for
// bytes that are not UTF-8) or raw bytes (Content-Type: application/octet-stream); answers in
// JSON, or as the raw file / bytes when the client sends Accept: application/octet-stream. The
// work runs on the compression workers while the connection waits without blocking, under the
// routes' own per-key rate limit, and a request slower than compress_slow_ms is logged.
#include <spdlog/spdlog.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "compress/batch.h"
#include "compress/container.h"
#include "core/base64.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/utf8.h"
#include "server/routes.h"

namespace hayate::server {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

constexpr const char* kBinary = "application/octet-stream";

api::ApiError bad(const std::string& message, const std::string& param = "") {
  return api::ApiError(400, message, "invalid_request_error", param);
}

bool binary_body(const HttpRequest& rq) { return rq.header("content-type").starts_with(kBinary); }
bool wants_binary(const HttpRequest& rq) { return rq.header("accept").find(kBinary) != std::string::npos; }

json parse_body(const HttpRequest& rq) {
  try {
    json j = json::parse(rq.body);
    if (!j.is_object()) throw bad("The body must be a JSON object");
    return j;
  } catch (const json::parse_error& e) {
    throw bad(std::string("The body is not valid JSON: ") + e.what());
  }
}

template <class T>
T field(const json& j, const char* name, T fallback) {
  const auto it = j.find(name);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    throw bad(std::string("'") + name + "' has the wrong type", name);
  }
}

// The bytes of an item: "text" (a string) or "data" (base64), exactly one of them.
std::string item_bytes(const json& j, const std::string& where) {
  const bool has_text = j.contains("text"), has_data = j.contains("data");
  if (has_text == has_data) throw bad(where + "give exactly one of 'text' (a string) or 'data' (base64 bytes)");
  if (has_text) {
    if (!j["text"].is_string()) throw bad(where + "'text' must be a string", "text");
    return j["text"].get<std::string>();
  }
  if (!j["data"].is_string()) throw bad(where + "'data' must be a base64 string", "data");
  const std::vector<uint8_t> b = base64_decode(j["data"].get<std::string>(), "'data'");
  return std::string(b.begin(), b.end());
}

struct Mode {
  bool semantic = false;
  compress::SemanticOptions options;
};

Mode parse_mode(const json& j, const std::string& header_mode) {
  Mode m;
  const std::string mode = field<std::string>(j, "mode", header_mode.empty() ? "lossless" : header_mode);
  if (mode != "lossless" && mode != "semantic") throw bad("'mode' must be \"lossless\" or \"semantic\"", "mode");
  m.semantic = mode == "semantic";
  const std::string summary = field<std::string>(j, "summary", "lead");
  if (summary != "lead" && summary != "prompt") throw bad("'summary' must be \"lead\" or \"prompt\"", "summary");
  m.options.method = summary == "lead" ? compress::SummaryMethod::Lead : compress::SummaryMethod::Prompt;
  m.options.lead_tokens = field<int32_t>(j, "lead_tokens", m.options.lead_tokens);
  m.options.max_summary_tokens = field<int32_t>(j, "max_summary_tokens", 0);
  m.options.target_ratio = field<double>(j, "target_ratio", 0);
  m.options.min_length = field<size_t>(j, "min_length", m.options.min_length);
  if (m.options.lead_tokens < 1 || m.options.lead_tokens > 4096)
    throw bad("'lead_tokens' must be 1..4096", "lead_tokens");
  if (m.options.max_summary_tokens < 0) throw bad("'max_summary_tokens' must be 0 or more", "max_summary_tokens");
  if (m.options.target_ratio < 0) throw bad("'target_ratio' must be 0 or more", "target_ratio");
  return m;
}

std::string_view chars(const std::vector<uint8_t>& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// The compression routes' own rate limit, after the server's (which is off by default).
awaitable<bool> admitted(Exchange& ex, ServerState& st) {
  Headers extra;
  auto refused =
      over_rate(st.compress_limiter(), client_of(ex, st), st.config().compress_rate_limit_rpm, "compression ", extra);
  if (!refused) co_return true;
  co_await respond_error(ex, *refused, std::move(extra));
  co_return false;
}

// A job on a compression worker: its result, and a handle that gets a Done event when it ends,
// which the connection watches. Jobs hold the Compression by pointer, never the Service: the
// Service (and with it the workers) must not be destroyed from a worker, and ~Compression waits
// for the queued jobs. (Started by a plain function: g++ 12 mishandles a callable
// passed by value into a coroutine.)
template <class T>
struct Job {
  std::optional<T> value;
  std::exception_ptr error;
  std::shared_ptr<RequestHandle> handle = std::make_shared<RequestHandle>(0);
};

template <class T, class F>
std::shared_ptr<Job<T>> start_job(Compression& c, F f) {
  auto job = std::make_shared<Job<T>>();
  c.run([job, f = std::move(f)] {
    try {
      job->value = f();
    } catch (...) {
      job->error = std::current_exception();
    }
    Event done;
    done.kind = Event::Done;
    job->handle->push(std::move(done));
  });
  return job;
}

template <class T>
T& result_of(Job<T>& job) {
  if (job.error) std::rethrow_exception(job.error);
  return *job.value;
}

void log_if_slow(Exchange& ex, ServerState& st, std::chrono::steady_clock::time_point t0) {
  const double ms = seconds_since(t0) * 1000;
  if (ms <= st.config().compress_slow_ms) return;
  st.compression_metrics().slow_request();
  spdlog::warn("slow compression: request_id={} path={} duration_ms={:.0f} over compress_slow_ms={}", ex.request_id(),
               ex.request().path, ms, st.config().compress_slow_ms);
}

json reply_json(const compress::CompressReply& r, size_t original_bytes) {
  const compress::Container c = compress::read_container(r.file);
  json j = {{"object", "compression"},
            {"method", compress::method_name(c.method)},
            {"step", r.step},
            {"fallbacks", r.failed},
            {"cached", r.cached},
            {"original_bytes", original_bytes},
            {"compressed_bytes", r.file.size()},
            {"ratio", r.ratio},
            {"bits_per_byte",
             original_bytes ? 8.0 * static_cast<double>(r.file.size()) / static_cast<double>(original_bytes) : 0.0},
            {"original_tokens", r.original_tokens},
            {"tokens_saved", r.tokens_saved},
            {"cost_saving", r.cost_saving},
            {"seconds", r.seconds},
            {"data", base64_encode(r.file)}};
  j["quality"] = r.quality ? json{{"cosine", r.quality->cosine}, {"word_f1", r.quality->word_f1}} : json(nullptr);
  j["quality_alert"] = r.quality_alert;
  return j;
}

}  // namespace

awaitable<> handle_compress(Exchange& ex, ServerState& st) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!co_await admitted(ex, st)) co_return;
  const auto svc = co_await acquire_service(ex, st);
  if (!svc) co_return;
  const HttpRequest& rq = ex.request();
  compress::CompressRequest request;
  Mode mode;
  if (binary_body(rq)) {
    request.text = rq.body;
    mode = parse_mode(json::object(), rq.header("x-hayate-mode"));
  } else {
    const json j = parse_body(rq);
    request.text = item_bytes(j, "");
    mode = parse_mode(j, "");
  }
  request.semantic = mode.semantic;
  request.semantic_options = mode.options;
  const size_t n = request.text.size();
  const auto job = start_job<compress::CompressReply>(
      svc->compression(), [c = &svc->compression(), request] { return c->service().compress(request); });
  if (!co_await wait_event(ex, st, *job->handle)) co_return;
  const compress::CompressReply* r = &result_of(*job);
  if (!r->cached && r->step != svc->compression().service().steps().front().name)
    st.compression_metrics().fallback(r->step);
  log_if_slow(ex, st, t0);
  if (wants_binary(rq)) {
    Headers h;
    h.emplace_back("X-Hayate-Step", r->step);
    h.emplace_back("X-Hayate-Cached", r->cached ? "true" : "false");
    co_await ex.respond(200, std::string(chars(r->file)), kBinary, std::move(h));
    co_return;
  }
  co_await ex.respond(200, reply_json(*r, n).dump());
}

awaitable<> handle_decompress(Exchange& ex, ServerState& st) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!co_await admitted(ex, st)) co_return;
  const auto svc = co_await acquire_service(ex, st);
  if (!svc) co_return;
  const HttpRequest& rq = ex.request();
  std::vector<uint8_t> file;
  if (binary_body(rq)) {
    file.assign(rq.body.begin(), rq.body.end());
  } else {
    const json j = parse_body(rq);
    if (!j.contains("data") || !j["data"].is_string()) throw bad("give the compressed file as 'data' (base64)", "data");
    file = base64_decode(j["data"].get<std::string>(), "'data'");
  }
  const auto job = start_job<compress::DecompressReply>(
      svc->compression(), [c = &svc->compression(), file] { return c->service().decompress(file); });
  if (!co_await wait_event(ex, st, *job->handle)) co_return;
  const compress::DecompressReply* r = &result_of(*job);
  log_if_slow(ex, st, t0);
  if (wants_binary(rq)) {
    Headers h;
    h.emplace_back("X-Hayate-Step", r->step);
    co_await ex.respond(200, r->text, kBinary, std::move(h));
    co_return;
  }
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(r->text.data()), r->text.size());
  json j = {{"object", "decompression"}, {"semantic", r->semantic}, {"step", r->step},
            {"bytes", r->text.size()},   {"seconds", r->seconds},   {"data", base64_encode(bytes)}};
  j["text"] = utf8::valid_prefix(r->text) == r->text.size() ? json(r->text) : json(nullptr);
  co_await ex.respond(200, j.dump());
}

awaitable<> handle_compress_batch(Exchange& ex, ServerState& st) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!co_await admitted(ex, st)) co_return;
  const auto svc = co_await acquire_service(ex, st);
  if (!svc) co_return;
  const json j = parse_body(ex.request());
  if (!j.contains("items") || !j["items"].is_array() || j["items"].empty())
    throw bad("'items' must be a non-empty array of {\"id\", \"text\" or \"data\"}", "items");
  // An item that cannot be read is reported as failed; the others go on.
  std::vector<compress::BatchItem> items;
  std::vector<json> ids;
  std::vector<std::string> unreadable;
  for (size_t i = 0; i < j["items"].size(); ++i) {
    const json& it = j["items"][i];
    ids.push_back(it.is_object() && it.contains("id") ? it["id"] : json(i));
    try {
      if (!it.is_object()) throw bad("items[" + std::to_string(i) + "] must be an object", "items");
      items.push_back({std::to_string(i), item_bytes(it, "items[" + std::to_string(i) + "]: ")});
      unreadable.emplace_back();
    } catch (const std::exception& e) {
      items.push_back({std::to_string(i), ""});
      unreadable.emplace_back(e.what());
    }
  }
  const Mode mode = parse_mode(j, "");
  compress::BatchOptions o;
  o.semantic = mode.semantic;
  o.semantic_options = mode.options;
  o.group = field<bool>(j, "group", true);
  o.threshold = field<double>(j, "threshold", 0.8);
  std::vector<compress::BatchItem> readable;
  for (size_t i = 0; i < items.size(); ++i)
    if (unreadable[i].empty()) readable.push_back(items[i]);
  const auto job = start_job<std::vector<compress::BatchOutcome>>(
      svc->compression(),
      [c = &svc->compression(), readable, o] { return compress::run_batch(c->primary(), readable, o); });
  if (!co_await wait_event(ex, st, *job->handle)) co_return;
  std::vector<compress::BatchOutcome> out;
  for (size_t i = 0, k = 0; i < items.size(); ++i) {
    if (unreadable[i].empty()) {
      out.push_back(std::move(result_of(*job)[k++]));
    } else {
      out.emplace_back();
      out.back().error = unreadable[i];
    }
  }
  const double seconds = seconds_since(t0);
  json results = json::array();
  size_t ok = 0;
  int32_t groups = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const compress::BatchOutcome& r = out[i];
    groups = std::max(groups, r.group + 1);
    json x = {{"id", ids[i]}, {"ok", r.ok}, {"group", r.group}};
    if (r.ok) {
      ++ok;
      x["data"] = base64_encode(r.file);
      x["compressed_bytes"] = r.file.size();
      x["ratio"] =
          r.file.empty() ? 0.0 : static_cast<double>(items[i].text.size()) / static_cast<double>(r.file.size());
      if (o.semantic) x["quality"] = {{"cosine", r.quality.cosine}, {"word_f1", r.quality.word_f1}};
    } else {
      x["error"] = r.error;
    }
    results.push_back(std::move(x));
  }
  log_if_slow(ex, st, t0);
  json body = {{"object", "compression.batch"},
               {"results", std::move(results)},
               {"succeeded", ok},
               {"failed", out.size() - ok},
               {"groups", groups},
               {"seconds", seconds},
               {"items_per_minute", seconds > 0 ? 60.0 * static_cast<double>(out.size()) / seconds : 0.0}};
  co_await ex.respond(200, body.dump());
}

}  // namespace hayate::server
