// POST /v1/data/process (issue 18; docs/tasks.md): the orchestrator seed's data service. The
// records go through the pipeline of data.h; with "summarize": true the model then writes a
// summary of the result through the summarize task (so it shares the task path: micro-batching,
// limits, usage).
#include <chrono>

#include "server/data.h"
#include "server/routes.h"

namespace hayate::server {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

[[noreturn]] void bad(const std::string& message, const std::string& param) {
  throw api::ApiError(400, message, "invalid_request_error", param);
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// What the model is shown: the steps' reports and the first records, cut to fit its prompt.
std::string summary_input(const json& result, const Service& svc, int32_t max_tokens) {
  json shown = {{"operations", result["operations"]}, {"records", json::array()}};
  for (size_t i = 0; i < result["records"].size() && i < 20; ++i) shown["records"].push_back(result["records"][i]);
  std::string text = shown.dump();
  // Room for the instruction and the chat template's tokens besides the answer.
  const int64_t budget = std::max<int64_t>(16, int64_t{svc.max_prompt_tokens()} - max_tokens - 96);
  for (;;) {
    const auto n = static_cast<int64_t>(svc.tokenizer().encode(text, false, false).size());
    if (n <= budget) return text;
    text.resize(static_cast<size_t>(static_cast<double>(text.size()) * static_cast<double>(budget) / n * 0.9));
  }
}

}  // namespace

awaitable<> handle_data_process(Exchange& ex, ServerState& st) {
  const ServerConfig& c = st.config();
  const std::string& body = ex.request().body;
  if (static_cast<int64_t>(body.size()) > c.data_max_body_bytes)
    bad("The body has " + std::to_string(body.size()) + " bytes; /v1/data/process takes at most " +
            std::to_string(c.data_max_body_bytes) + " (data_max_body_bytes)",
        "");
  const json req = json::parse(body, nullptr, false);
  if (req.is_discarded() || !req.is_object()) bad("The request body must be a JSON object", "");
  for (const auto& [k, v] : req.items())
    if (k != "records" && k != "operations" && k != "summarize" && k != "return_records" && k != "model" &&
        k != "max_tokens")
      bad("Unknown field '" + k + "' (records, operations, summarize, return_records, model, max_tokens)", k);
  if (!req.contains("records")) bad("'records' is missing: an array of JSON objects", "records");
  const auto flag = [&](const char* name, bool fallback) {
    const auto it = req.find(name);
    if (it == req.end()) return fallback;
    if (!it->is_boolean()) bad(std::string("'") + name + "' must be true or false", name);
    return it->get<bool>();
  };
  const bool summarize = flag("summarize", false), return_records = flag("return_records", true);
  const Clock::time_point t0 = Clock::now();
  data::Limits limits;
  limits.max_records = c.data_max_records;
  limits.max_fields = c.data_max_fields;
  json result = data::process(req["records"], req.value("operations", json::array()), limits);
  json out = {{"object", "data.process"}, {"count", result["records"].size()}};
  out["operations"] = std::move(result["operations"]);
  out["timings"] = {{"process_ms", ms_since(t0)}};
  if (summarize) {
    if (req.contains("model") && !req["model"].is_string()) bad("'model' must be a string", "model");
    const auto svc = co_await acquire_service(ex, st);  // the model the body names, or the first
    if (!svc) co_return;
    const auto mt = req.find("max_tokens");
    if (mt != req.end() && (!mt->is_number_integer() || *mt < 1))
      bad("'max_tokens' must be a positive integer", "max_tokens");
    const int32_t max_tokens = mt != req.end() ? mt->get<int32_t>() : 128;
    const Clock::time_point t1 = Clock::now();
    result["operations"] = out["operations"];
    const json task = {{"text", summary_input(result, *svc, max_tokens)}, {"max_tokens", max_tokens}};
    TaskAnswer answer = co_await run_task(ex, st, "summarize", task);
    if (answer.status != 200) {  // the model's error, as the task gave it
      co_await ex.respond(answer.status, std::move(answer.body));
      co_return;
    }
    const json summary = json::parse(answer.body);
    out["summary"] = summary["result"];
    out["model"] = summary["model"];
    out["usage"] = summary["usage"];
    out["timings"]["summary_ms"] = ms_since(t1);
  }
  if (return_records) out["records"] = std::move(result["records"]);
  co_await ex.respond(200, out.dump());
}

}  // namespace hayate::server
