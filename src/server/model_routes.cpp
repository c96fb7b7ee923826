// The models table over HTTP: which model a request runs on (acquire_service, used by every
// route that generates or embeds), /v1/models with each model's state, and the operators' load
// and unload.
#include <chrono>
#include <nlohmann/json.hpp>

#include "api/ollama.h"
#include "core/error.h"
#include "server/routes.h"

namespace hayate::server {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

std::string served_names(ServerState& st) {
  std::string out;
  for (const ModelStatus& m : st.models().status()) out += (out.empty() ? "" : ", ") + m.id;
  return out;
}

api::ApiError not_found(ServerState& st, const std::string& name) {
  return api::ApiError(404, "model '" + name + "' not found; this server serves " + served_names(st),
                       "invalid_request_error", "model", "model_not_found");
}

size_t row_of(ServerState& st, const std::string& name) {
  const std::optional<size_t> row = st.models().find(name);
  // The one row of `-m` maps every name; the routes answer a wrong one themselves, but the
  // model's own endpoints must not act on it.
  if (!row || (st.models().single() && !name.empty() && !api::ollama::same_model(name, st.models().status(0).id)))
    throw not_found(st, name);
  return *row;
}

// The model a request's body names ("model", or on Ollama's routes its older "name"), and its
// keep_alive.
void peek_body(const HttpRequest& rq, std::string& name, std::optional<double>& keep_alive) {
  const json j = json::parse(rq.body, nullptr, false);
  if (!j.is_object()) return;  // the handler reports a body that does not parse
  const bool ollama = rq.path.starts_with("/api/");
  for (const char* key : {"model", "name"}) {
    if (const auto it = j.find(key); it != j.end() && it->is_string()) {
      name = it->get<std::string>();
      break;
    }
    if (!ollama) break;
  }
  if (const auto it = j.find("keep_alive"); it != j.end()) keep_alive = api::ollama::parse_keep_alive(*it);
}

json model_object(const ModelStatus& m, int64_t created) {
  json j = {{"id", m.id},
            {"object", "model"},
            {"created", m.service ? m.service->created() : created},
            {"owned_by", "hayate"},
            {"state", state_name(m.state)},
            {"loaded", m.state == ModelState::Loaded},
            {"keep_loaded", m.keep_loaded},
            {"bytes", m.bytes}};  // what model_memory_budget counts for it while loaded
  if (!m.aliases.empty()) j["aliases"] = m.aliases;
  return j;
}

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string list_json(ServerState& st) {
  json data = json::array();
  const int64_t now = now_seconds();
  for (const ModelStatus& m : st.models().status()) data.push_back(model_object(m, now));
  return json({{"object", "list"}, {"data", std::move(data)}}).dump();
}

std::string one_json(ServerState& st, size_t row) {
  return model_object(st.models().status(row), now_seconds()).dump();
}

// The model of /v1/models/{id}/load and /unload.
std::string path_model(const HttpRequest& rq) {
  const std::string rest = rq.path.substr(std::string_view("/v1/models/").size());
  return rest.substr(0, rest.find('/'));
}

}  // namespace

awaitable<bool> wait_event(Exchange& ex, ServerState& st, RequestHandle& handle) {
  ex.watch(handle);
  struct Unwatch {  // a late wake-up must not reach an exchange that has moved on
    RequestHandle& h;
    ~Unwatch() { h.set_notify({}); }
  } unwatch{handle};
  while (!handle.next(0ms)) {
    const Wake w = co_await ex.wait();
    if (w == Wake::PeerGone) co_return false;
    if (w == Wake::Timeout) throw request_timed_out(st.config());
  }
  co_return true;
}

awaitable<std::shared_ptr<Service>> acquire_service(Exchange& ex, ServerState& st, std::optional<std::string> name) {
  std::optional<double> keep_alive;
  std::string wanted;
  if (name)
    wanted = *name;
  else
    peek_body(ex.request(), wanted, keep_alive);
  ModelRegistry& models = st.models();
  const std::optional<size_t> row = models.find(wanted);
  if (!row) throw not_found(st, wanted);
  const uint64_t failures = models.failures(*row);
  const double queue_timeout = st.config().model_queue_timeout;
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(queue_timeout));
  for (;;) {
    auto wake = std::make_shared<RequestHandle>(0);
    if (auto svc = models.try_acquire(*row, keep_alive, wake, failures)) co_return svc;
    if (std::chrono::steady_clock::now() >= deadline)
      throw api::ApiError(503,
                          "model '" + wanted + "' did not load within model_queue_timeout (" +
                              std::to_string(static_cast<int64_t>(queue_timeout)) + " s); retry later",
                          "server_error", "model", "model_loading");
    // The wait ends at the queue timeout too: a timer pushes the same event the registry would.
    asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
    timer.async_wait([wake](const boost::system::error_code& ec) {
      if (ec) return;
      Event e;
      e.kind = Event::Done;
      wake->push(std::move(e));
    });
    if (!co_await wait_event(ex, st, *wake)) co_return nullptr;
  }
}

awaitable<> handle_models(Exchange& ex, ServerState& st) {
  std::string body = list_json(st);
  co_await ex.respond(200, std::move(body));
}

// GET /v1/models/{id}: one model of the table, or 404 naming them.
awaitable<> handle_model(Exchange& ex, ServerState& st) {
  const size_t row = row_of(st, path_model(ex.request()));
  std::string body = one_json(st, row);
  co_await ex.respond(200, std::move(body));
}

// POST /v1/models/{id}/load: answers once the model is loaded (evicting others as a request would).
awaitable<> handle_model_load(Exchange& ex, ServerState& st) {
  const std::string name = path_model(ex.request());
  const size_t row = row_of(st, name);
  {
    const std::shared_ptr<Service> lease = co_await acquire_service(ex, st, name);
    if (!lease) co_return;
  }
  std::string body = one_json(st, row);
  co_await ex.respond(200, std::move(body));
}

// POST /v1/models/{id}/unload: answers once the model is unloaded (after its requests in flight).
awaitable<> handle_model_unload(Exchange& ex, ServerState& st) {
  const size_t row = row_of(st, path_model(ex.request()));
  if (st.models().status(row).keep_loaded)
    throw api::ApiError(
        409, "model '" + path_model(ex.request()) + "' is keep_loaded: it stays loaded while the server runs",
        "invalid_request_error", "model", "model_keep_loaded");
  for (;;) {
    auto wake = std::make_shared<RequestHandle>(0);
    if (!st.models().request_unload(row, wake)) break;
    if (!co_await wait_event(ex, st, *wake)) co_return;
  }
  std::string body = one_json(st, row);
  co_await ex.respond(200, std::move(body));
}

}  // namespace hayate::server
