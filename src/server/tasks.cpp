// The task endpoints (issue 18): POST /v1/tasks/{summarize,classify,extract,sentiment,keywords,
// translate}. Each is a chat completion with a task prompt, run through the chat handler itself
// (one path for prompts, caching, limits and the engine) on an exchange that keeps its answer,
// which becomes the task's answer. Classify, extract, sentiment and keywords are constrained by a
// JSON Schema (the grammar library through response_format): classify can only answer one of the
// labels given, extract only JSON its schema accepts.
#include <cmath>
#include <nlohmann/json.hpp>

#include "api/openai.h"
#include "server/routes.h"

namespace hayate::server {
namespace {

using json = nlohmann::json;

// The chat handler's exchange: the task's request rewritten as a chat completion, its answer kept
// instead of written; waiting and the peer are the task's own connection's.
class TaskExchange final : public Exchange {
 public:
  TaskExchange(Exchange& outer, std::string body) : outer_(outer) {
    rq_.method = "POST";
    rq_.path = "/v1/chat/completions";
    rq_.headers = outer.request().headers;
    rq_.body = std::move(body);
    micro_batch = true;
  }
  const HttpRequest& request() const override { return rq_; }
  const std::string& request_id() const override { return outer_.request_id(); }
  std::string peer_address() const override { return outer_.peer_address(); }
  std::chrono::steady_clock::time_point started() const override { return outer_.started(); }
  awaitable<> respond(int status, std::string body, std::string_view, Headers) override {
    status_ = status;
    body_ = std::move(body);
    co_return;
  }
  awaitable<bool> stream_begin(std::string) override { co_return false; }  // tasks never stream
  awaitable<bool> stream_write(std::string) override { co_return false; }
  awaitable<> stream_end() override { co_return; }
  void watch(RequestHandle& handle) override { outer_.watch(handle); }
  awaitable<Wake> wait() override { return outer_.wait(); }
  bool peer_gone() const override { return outer_.peer_gone(); }
  bool response_started() const override { return status_ != 0; }

  int status() const { return status_; }
  const std::string& body() const { return body_; }

 private:
  Exchange& outer_;
  HttpRequest rq_;
  int status_ = 0;
  std::string body_;
};

[[noreturn]] void bad(const std::string& message, const std::string& param) {
  throw api::ApiError(400, message, "invalid_request_error", param);
}

std::string text_field(const json& req, const char* name) {
  const auto it = req.find(name);
  if (it == req.end() || !it->is_string() || it->get<std::string>().empty())
    bad(std::string("'") + name + "' must be a non-empty string", name);
  return *it;
}

json schema_format(const json& schema) {
  return {{"type", "json_schema"}, {"json_schema", {{"name", "task"}, {"schema", schema}, {"strict", true}}}};
}

// The chat request for a task, and whether its answer is JSON.
json chat_for(const std::string& task, const json& req, bool& structured) {
  const std::string text = text_field(req, "text");
  std::string instruction;
  json format;
  structured = true;
  if (task == "summarize") {
    structured = false;
    instruction = "Summarize the following text in a few sentences.";
  } else if (task == "translate") {
    structured = false;
    instruction = "Translate the following text into " + text_field(req, "target_language") +
                  ". Answer with the translation only.";
  } else if (task == "classify") {
    const auto labels = req.find("labels");
    if (labels == req.end() || !labels->is_array() || labels->size() < 2)
      bad("'labels' must be an array of at least two strings", "labels");
    for (const json& l : *labels)
      if (!l.is_string() || l.get<std::string>().empty()) bad("every label must be a non-empty string", "labels");
    instruction = "Classify the following text as exactly one of: " + labels->dump() + ".";
    format = schema_format({{"type", "object"},
                            {"properties", {{"label", {{"type", "string"}, {"enum", *labels}}}}},
                            {"required", {"label"}},
                            {"additionalProperties", false}});
  } else if (task == "extract") {
    const auto schema = req.find("schema");
    if (schema == req.end() || !schema->is_object()) bad("'schema' must be a JSON Schema object", "schema");
    instruction = "Extract from the following text the fields of this JSON Schema: " + schema->dump() + ".";
    format = schema_format(*schema);
  } else if (task == "sentiment") {
    instruction = "Give the sentiment of the following text.";
    format = schema_format({{"type", "object"},
                            {"properties", {{"sentiment", {{"enum", {"positive", "negative", "neutral"}}}}}},
                            {"required", {"sentiment"}},
                            {"additionalProperties", false}});
  } else if (task == "keywords") {
    instruction = "List the keywords of the following text.";
    format = schema_format(
        {{"type", "object"},
         {"properties",
          {{"keywords",
            {{"type", "array"}, {"items", {{"type", "string"}}}, {"maxItems", req.value("max_keywords", 10)}}}}},
         {"required", {"keywords"}},
         {"additionalProperties", false}});
  } else {
    throw api::ApiError(
        404,
        "There is no task '" + task + "'; the tasks are summarize, classify, extract, sentiment, keywords, translate",
        "invalid_request_error", "", "not_found");
  }
  json chat = {{"messages", {{{"role", "system"}, {"content", instruction}}, {{"role", "user"}, {"content", text}}}},
               {"temperature", req.value("temperature", 0.0)},
               {"max_tokens", req.value("max_tokens", structured ? 256 : 512)},
               {"logprobs", true}};
  if (req.contains("model")) chat["model"] = req["model"];
  if (req.contains("seed")) chat["seed"] = req["seed"];
  if (!format.is_null()) chat["response_format"] = format;
  return chat;
}

// The probability the model gave its whole answer (the product over its tokens).
double answer_probability(const json& choice) {
  const json* content = nullptr;
  if (choice.contains("logprobs") && choice["logprobs"].is_object() && choice["logprobs"].contains("content"))
    content = &choice["logprobs"]["content"];
  if (!content || !content->is_array()) return 0;
  double sum = 0;
  for (const json& t : *content) sum += t.value("logprob", 0.0);
  return std::exp(sum);
}

}  // namespace

awaitable<TaskAnswer> run_task(Exchange& ex, ServerState& st, const std::string& task, const json& req) {
  bool structured = false;
  TaskExchange inner(ex, chat_for(task, req, structured).dump());
  co_await handle_chat_completions(inner, st);
  ex.prompt_tokens += inner.prompt_tokens;
  ex.completion_tokens += inner.completion_tokens;
  ex.model = inner.model;
  if (inner.status() != 200) co_return TaskAnswer{inner.status(), inner.body()};  // the chat handler's error
  const json chat = json::parse(inner.body());
  const json& choice = chat["choices"][0];
  const std::string content = choice["message"].value("content", "");
  json out = {{"object", "task." + task}, {"model", chat.value("model", "")}, {"usage", chat["usage"]}};
  if (!structured) {
    out["result"] = content;
  } else {
    json result = json::parse(content, nullptr, false);
    if (result.is_discarded())  // cut short by max_tokens before the JSON closed
      throw api::ApiError(500, "The model's answer is not complete JSON (raise max_tokens): " + content.substr(0, 200),
                          "server_error", "", "incomplete_answer");
    if (task == "classify") {
      out["label"] = result["label"];
      out["confidence"] = answer_probability(choice);
    }
    out["result"] = std::move(result);
  }
  co_return TaskAnswer{200, out.dump()};
}

awaitable<> handle_task(Exchange& ex, ServerState& st) {
  const std::string task = ex.request().path.substr(std::string_view("/v1/tasks/").size());
  const json req = json::parse(ex.request().body, nullptr, false);
  if (req.is_discarded() || !req.is_object()) bad("The request body must be a JSON object", "");
  TaskAnswer answer = co_await run_task(ex, st, task, req);
  co_await ex.respond(answer.status, std::move(answer.body));
}

}  // namespace hayate::server
