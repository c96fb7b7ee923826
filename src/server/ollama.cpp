// Ollama's API beside OpenAI's, so that clients written for Ollama work unchanged: /api/chat and
// /api/generate (NDJSON streams, on by default), /api/embed, /api/tags, /api/show, /api/ps,
// /api/version. The wire format is api/ollama.h; generation runs through the same engine as
// /v1/chat/completions. Models come from the models table (model_registry.h): a request's
// keep_alive sets how long its model stays loaded after it; /api/pull answers that it is not
// supported.
#include "api/ollama.h"

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "server/images.h"
#include "server/routes.h"
#include "server/structured.h"

namespace hayate::server {
namespace {

namespace ollama = api::ollama;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

int64_t ns_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count();
}

std::string now_text() { return ollama::rfc3339(std::chrono::system_clock::now()); }

// Ollama names models "name:tag"; a request may leave the tag out.
void check_model(const Service& svc, const std::string& requested) {
  if (!svc.serves(requested))
    throw api::ApiError(404, "model '" + requested + "' not found; this server serves '" + svc.model_id() + "'");
}

std::string parameter_size(const Model& m) {
  uint64_t n = 0;
  for (const gguf::TensorInfo& t : m.file->tensors()) {
    uint64_t e = 1;
    for (const int64_t d : t.shape) e *= static_cast<uint64_t>(d);
    n += e;
  }
  char buf[32];
  if (n >= 1000000000ull)
    std::snprintf(buf, sizeof buf, "%.1fB", static_cast<double>(n) / 1e9);
  else
    std::snprintf(buf, sizeof buf, "%.2fM", static_cast<double>(n) / 1e6);
  return buf;
}

json details(const Model& m) {
  std::string quant = ggml_type_name(m.layers.empty() ? m.tok_embd.type : m.layers[0].wq.type);
  for (char& c : quant) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return {{"parent_model", ""},
          {"format", "gguf"},
          {"family", m.hp.arch},
          {"families", json::array({m.hp.arch})},
          {"parameter_size", parameter_size(m)},
          {"quantization_level", quant}};
}

// One model entry of /api/tags and /api/ps: from the loaded model, else from its file.
json model_entry(const std::string& id, const std::string& path, const Model* m) {
  uint64_t size = m ? m->weight_bytes() : 0;  // the embedded default model has no file
  auto modified = std::chrono::system_clock::now();
  std::error_code ec;
  if (const uint64_t bytes = path.empty() ? 0 : std::filesystem::file_size(path, ec); !ec && bytes > 0) size = bytes;
  if (const auto t = std::filesystem::last_write_time(path, ec); !path.empty() && !ec)
    modified = std::chrono::time_point_cast<std::chrono::system_clock::duration>(std::chrono::file_clock::to_sys(t));
  const std::string name = ollama::tagged(id);
  json d = m ? details(*m) : json{{"parent_model", ""},        {"format", "gguf"},     {"family", ""},
                                  {"families", json::array()}, {"parameter_size", ""}, {"quantization_level", ""}};
  return {{"name", name}, {"model", name}, {"modified_at", ollama::rfc3339(modified)},
          {"size", size}, {"digest", ""},  {"details", std::move(d)}};
}

json model_entry(const Service& svc) { return model_entry(svc.model_id(), svc.model_path(), &svc.model()); }

json model_entry(const ModelStatus& s) {
  return s.service ? model_entry(*s.service) : model_entry(s.id, s.file, nullptr);
}

// A generation of /api/chat or /api/generate.
struct Job {
  bool chat = true;
  std::vector<int32_t> prompt;
  std::vector<EmbeddingRows> images;  // at their positions in prompt
  ollama::Options options;
  bool stream = true;
  std::function<std::unique_ptr<Constraint>()> constraint;
};

std::function<std::unique_ptr<Constraint>()> format_constraint(Service& svc, const std::string& format,
                                                               const nlohmann::ordered_json& schema) {
  if (format.empty()) return {};
  api::OutputConstraint c;
  c.kind = format == "json" ? api::OutputConstraint::JsonObject : api::OutputConstraint::JsonSchema;
  c.schema = schema;
  return make_constraint(svc.grammars(), constraint_gbnf(c, {}, {}, false, ToolFormat::Json), {}, "format");
}

// Generate: Ollama puts the prompt (and the system prompt) through the model's template, its
// images before the prompt's text; raw sends the prompt as is, with the images before it too.
std::vector<api::ChatMessage> generate_messages(ollama::GenerateRequest& req) {
  std::string prompt = req.prompt;
  for (size_t i = 0; i < req.images.size(); ++i) prompt.insert(0, api::kImagePlaceholder);
  std::vector<api::ChatMessage> messages;
  if (!req.system.empty() && !req.raw) messages.push_back({"system", req.system, json()});
  messages.push_back({"user", prompt, json(), std::move(req.images)});
  return messages;
}

// What /api/chat and /api/generate requests share, as a job: the rendered prompt (or, raw, the
// text as is) with its images.
template <class Request>
awaitable<Job> job_for(ServerState& st, Service& svc, Request& req, bool chat, std::vector<api::ChatMessage> messages,
                       bool raw) {
  const std::vector<vision::ImageRows> rows = co_await message_images(messages, svc, st.config());
  // Templates write BOS themselves; a raw prompt gets the tokenizer's.
  vision::ImagePrompt prompt =
      raw ? tokenize_prompt(svc, messages.back().content, rows, true)
          : tokenize_prompt(svc, svc.render_chat(messages, json::object(), json()), rows, false);
  Job job;
  job.chat = chat;
  job.prompt = std::move(prompt.ids);
  job.images = std::move(prompt.images);
  job.options = std::move(req.options);
  job.stream = req.stream;
  job.constraint = format_constraint(svc, req.format, req.schema);
  co_return job;
}

// The JSON bodies are built outside the coroutines: g++ 12 miscompiles braced lists of string
// literals in a coroutine ("array used as initializer").

// The answer to a request with nothing to generate: Ollama loads the model and says so.
// With keep_alive 0 it asks for an unload instead (done once the request ends).
std::string loaded_json(const Service& svc, bool chat, bool unload) {
  json j = {{"model", svc.model_id()},
            {"created_at", now_text()},
            {"done", true},
            {"done_reason", unload ? "unload" : "load"}};
  if (chat)
    j["message"] = {{"role", "assistant"}, {"content", ""}};
  else
    j["response"] = "";
  return j.dump();
}

std::string error_line(const std::string& message) { return json({{"error", message}}).dump() + "\n"; }

std::string embed_json(const Service& svc, const std::vector<std::vector<float>>& vectors, int32_t tokens, int64_t ns) {
  return json({{"model", svc.model_id()},
               {"embeddings", vectors},
               {"total_duration", ns},
               {"load_duration", 0},
               {"prompt_eval_count", tokens}})
      .dump();
}

// Every model of the table, loaded or not.
std::string tags_json(const std::vector<ModelStatus>& models) {
  json list = json::array();
  for (const ModelStatus& m : models) list.push_back(model_entry(m));
  return json({{"models", std::move(list)}}).dump();
}

// The loaded models, with when keep_alive unloads each.
std::string ps_json(const std::vector<ModelStatus>& models) {
  json list = json::array();
  for (const ModelStatus& m : models) {
    if (m.state != ModelState::Loaded || !m.service) continue;
    json entry = model_entry(m);
    entry.erase("modified_at");
    // A model kept loaded (keep_alive -1, keep_loaded, or busy now) says so as Ollama does: far ahead.
    entry["expires_at"] =
        ollama::rfc3339(m.expires.value_or(std::chrono::system_clock::now() + std::chrono::years(100)));
    entry["size_vram"] = 0;
    list.push_back(std::move(entry));
  }
  return json({{"models", std::move(list)}}).dump();
}

std::string show_json(const Service& svc) {
  const Model& m = svc.model();
  json info = json::object();
  for (const auto& [key, value] : m.file->metadata()) {
    if (key.starts_with("tokenizer.")) continue;  // Ollama leaves the vocabulary out too
    if (value.type() == gguf::ValueType::String)
      info[key] = value.as_string();
    else if (value.type() == gguf::ValueType::Bool)
      info[key] = value.as_bool();
    else if (value.is_integer())
      info[key] = value.as_i64();
    else if (value.is_float())
      info[key] = value.as_f64();
  }
  return json({{"modelfile", ""},
               {"parameters", ""},
               {"template", m.file->get_string("tokenizer.chat_template", "")},
               {"details", details(m)},
               {"model_info", info},
               {"capabilities", json::array({"completion", "embedding"})},
               {"modified_at", model_entry(svc)["modified_at"]}})
      .dump();
}

std::string version_json() { return json({{"version", "0.1.0"}}).dump(); }

awaitable<> respond_loaded(Exchange& ex, Service& svc, bool chat, std::optional<double> keep_alive) {
  std::string body = loaded_json(svc, chat, keep_alive && *keep_alive == 0);
  co_await ex.respond(200, std::move(body));
}

awaitable<> generate(Exchange& ex, ServerState& st, Service& svc, Job job) {
  const auto t0 = ex.started();
  svc.check_prompt(job.prompt, "prompt", job.chat ? "messages" : "prompt");
  const auto n_prompt = static_cast<int32_t>(job.prompt.size());
  int32_t context = svc.n_ctx();
  if (job.options.num_ctx) {
    if (*job.options.num_ctx > svc.n_ctx())
      throw api::ApiError(400, "num_ctx " + std::to_string(*job.options.num_ctx) +
                                   " exceeds this server's context of " + std::to_string(svc.n_ctx()) +
                                   " tokens (hayate serve --ctx)");
    if (n_prompt >= *job.options.num_ctx)
      throw api::ApiError(400, "the prompt's " + std::to_string(n_prompt) + " tokens do not fit num_ctx " +
                                   std::to_string(*job.options.num_ctx));
    context = *job.options.num_ctx;
  }
  Request r;
  r.prompt = std::move(job.prompt);
  r.images = std::move(job.images);
  r.options.max_tokens = std::max(1, std::min(job.options.num_predict.value_or(INT32_MAX), context - n_prompt));
  r.options.sampling = job.options.sampling;
  r.options.stop = job.options.stop;
  r.options.constraint = job.constraint;
  std::shared_ptr<RequestHandle> handle = svc.engine().submit(std::move(r));
  ex.model = svc.model_id();
  ex.prompt_tokens = n_prompt;
  st.metrics().tokens(n_prompt, 0);
  ex.watch(*handle);

  const auto line = [&](const json& j) { return j.dump() + "\n"; };
  const auto chunk = [&](const std::string& text) {
    return line(job.chat ? ollama::chat_chunk(svc.model_id(), now_text(), text)
                         : ollama::generate_chunk(svc.model_id(), now_text(), text));
  };
  if (job.stream && !co_await ex.stream_begin("application/x-ndjson")) {
    handle->cancel();
    co_return;
  }
  std::string text;
  std::optional<Event> last;
  Clock::time_point first_token{}, previous{};
  while (!last) {
    while (std::optional<Event> e = handle->next(0ms)) {
      if (e->kind != Event::Token) {
        last = std::move(e);
        break;
      }
      const auto now = Clock::now();
      if (first_token == Clock::time_point{}) {
        first_token = now;
        st.metrics().first_token(std::chrono::duration<double>(now - t0).count());
      } else {
        st.metrics().inter_token(std::chrono::duration<double>(now - previous).count());
      }
      previous = now;
      st.metrics().tokens(0, 1);
      text += e->text;
      if (job.stream && !e->text.empty() && !co_await ex.stream_write(chunk(e->text))) {
        handle->cancel();
        co_return;
      }
    }
    if (last) break;
    const Wake w = co_await ex.wait();
    if (w == Wake::PeerGone) {
      handle->cancel();
      co_return;
    }
    if (w == Wake::Timeout) {
      handle->cancel();
      last = error_event(ErrorKind::Timeout, request_timed_out(st.config()).what());
    }
  }
  if (last->kind == Event::Error) {
    const Error error(last->error_kind, last->error.empty() ? "unknown error" : last->error);
    if (!ex.response_started()) throw error;  // dispatch answers it as {"error": ...}
    if (co_await ex.stream_write(error_line(error.what()))) co_await ex.stream_end();
    co_return;
  }
  ex.completion_tokens = last->usage.completion_tokens;
  const auto end = Clock::now();
  ollama::Stats s;
  s.prompt_eval_count = n_prompt;
  s.eval_count = last->usage.completion_tokens;
  s.total_duration = ns_between(t0, end);
  s.prompt_eval_duration = ns_between(t0, first_token == Clock::time_point{} ? end : first_token);
  s.eval_duration = first_token == Clock::time_point{} ? 0 : ns_between(first_token, end);
  const std::string reason = last->finish_reason == FinishReason::Length ? "length" : "stop";
  const std::string final_text = job.stream ? "" : text;
  const json final = job.chat ? ollama::chat_final(svc.model_id(), now_text(), final_text, reason, s)
                              : ollama::generate_final(svc.model_id(), now_text(), final_text, reason, s);
  if (!job.stream) {
    co_await ex.respond(200, final.dump());
    co_return;
  }
  if (co_await ex.stream_write(line(final))) co_await ex.stream_end();
}

}  // namespace

awaitable<> handle_ollama_chat(Exchange& ex, ServerState& st) {
  const auto svc = co_await acquire_service(ex, st);
  if (!svc) co_return;
  ollama::ChatRequest req = ollama::parse_chat_request(ex.request().body, svc->limits());
  check_model(*svc, req.model);
  if (req.messages.empty()) {
    co_await respond_loaded(ex, *svc, true, req.keep_alive);
    co_return;
  }
  std::vector<api::ChatMessage> messages = std::move(req.messages);
  Job job = co_await job_for(st, *svc, req, true, std::move(messages), false);
  co_await generate(ex, st, *svc, std::move(job));
}

awaitable<> handle_ollama_generate(Exchange& ex, ServerState& st) {
  const auto svc = co_await acquire_service(ex, st);
  if (!svc) co_return;
  ollama::GenerateRequest req = ollama::parse_generate_request(ex.request().body, svc->limits());
  check_model(*svc, req.model);
  if (req.prompt.empty()) {
    co_await respond_loaded(ex, *svc, false, req.keep_alive);
    co_return;
  }
  const bool raw = req.raw;
  std::vector<api::ChatMessage> messages = generate_messages(req);
  Job job = co_await job_for(st, *svc, req, false, std::move(messages), raw);
  co_await generate(ex, st, *svc, std::move(job));
}

awaitable<> handle_ollama_embed(Exchange& ex, ServerState& st) {
  const auto svc = co_await acquire_service(ex, st);
  if (!svc) co_return;
  const ollama::EmbedRequest req = ollama::parse_embed_request(ex.request().body);
  check_model(*svc, req.model);
  ex.model = svc->model_id();
  std::vector<std::vector<int32_t>> ids;
  int32_t total = 0;
  for (const std::string& text : req.input) {
    std::vector<int32_t> one = svc->tokenizer().encode(text, true, true);
    if (req.truncate && static_cast<int32_t>(one.size()) > svc->max_prompt_tokens())
      one.resize(static_cast<size_t>(svc->max_prompt_tokens()));
    svc->check_prompt(one, "input", "input");
    total += static_cast<int32_t>(one.size());
    ids.push_back(std::move(one));
  }
  ex.prompt_tokens = total;
  const std::optional<std::vector<std::vector<float>>> vectors = co_await embed_all(ex, st, *svc, std::move(ids));
  if (!vectors) co_return;
  std::string body = embed_json(*svc, *vectors, total, ns_between(ex.started(), Clock::now()));
  co_await ex.respond(200, std::move(body));
}

awaitable<> handle_ollama_tags(Exchange& ex, ServerState& st) {
  std::string body = tags_json(st.models().status());
  co_await ex.respond(200, std::move(body));
}

awaitable<> handle_ollama_ps(Exchange& ex, ServerState& st) {
  std::string body = ps_json(st.models().status());
  co_await ex.respond(200, std::move(body));
}

awaitable<> handle_ollama_show(Exchange& ex, ServerState& st) {
  const auto svc = co_await acquire_service(ex, st);
  if (!svc) co_return;
  check_model(*svc, ollama::parse_model_name(ex.request().body));
  std::string body = show_json(*svc);
  co_await ex.respond(200, std::move(body));
}

awaitable<> handle_ollama_pull(Exchange& ex, ServerState& st) {
  throw api::ApiError(501,
                      "pulling models is not supported by hayate yet; download the GGUF file and start "
                      "`hayate serve -m FILE`");
  co_return;
}

awaitable<> handle_ollama_version(Exchange& ex, ServerState& st) {
  std::string body = version_json();
  co_await ex.respond(200, std::move(body));
}

}  // namespace hayate::server
