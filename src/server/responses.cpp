// /v1/responses: create (streamed as typed events or not), retrieve and delete, with stored
// responses that a later request continues through previous_response_id. A response runs as one
// chat generation: its input items become chat messages and its tools chat tools (api/responses.h).
#include "api/responses.h"

#include <chrono>
#include <list>
#include <map>
#include <mutex>

#include "server/images.h"
#include "server/routes.h"
#include "server/structured.h"

namespace hayate::server {
namespace {

using namespace std::chrono_literals;
using ojson = nlohmann::ordered_json;

// Responses kept for retrieve and previous_response_id: the newest kCapacity, in memory.
class ResponseStore {
 public:
  struct Entry {
    ojson response;
    std::vector<api::ChatMessage> conversation;  // input and output, without instructions
  };
  static ResponseStore& instance() {
    static ResponseStore store;
    return store;
  }
  void put(const std::string& id, Entry e) {
    std::lock_guard lk(mu_);
    if (map_.emplace(id, std::move(e)).second) order_.push_back(id);
    while (order_.size() > kCapacity) {
      map_.erase(order_.front());
      order_.pop_front();
    }
  }
  std::optional<Entry> get(const std::string& id) {
    std::lock_guard lk(mu_);
    const auto it = map_.find(id);
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }
  bool erase(const std::string& id) {
    std::lock_guard lk(mu_);
    return map_.erase(id) > 0;
  }

 private:
  static constexpr size_t kCapacity = 1024;
  std::mutex mu_;
  std::map<std::string, Entry> map_;
  std::list<std::string> order_;
};

api::ApiError not_found(const std::string& id, const char* param) {
  return api::ApiError(404, "No response with id '" + id + "' is stored on this server", "invalid_request_error", param,
                       "not_found");
}

std::string dump(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }

std::string path_id(const Exchange& ex) { return ex.request().path.substr(std::string_view("/v1/responses/").size()); }

class ResponseRun {
 public:
  ResponseRun(Exchange& ex, Service& svc, ServerState& st, api::ResponsesRequest req)
      : ex_(ex), svc_(svc), st_(st), req_(std::move(req)), id_(api::new_request_id("resp_")) {
    created_ =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  }

  awaitable<> run() {
    std::vector<api::ChatMessage> history;
    if (!req_.previous_response_id.empty()) {
      auto prev = ResponseStore::instance().get(req_.previous_response_id);
      if (!prev) throw not_found(req_.previous_response_id, "previous_response_id");
      history = std::move(prev->conversation);
    }
    // Instructions are not carried over from the previous response (as OpenAI does).
    std::vector<api::ChatMessage> messages;
    if (!req_.instructions.empty())
      messages.push_back(
          api::ChatMessage{"system", req_.instructions, {{"role", "system"}, {"content", req_.instructions}}});
    conversation_ = std::move(history);
    conversation_.insert(conversation_.end(), req_.input.begin(), req_.input.end());
    messages.insert(messages.end(), conversation_.begin(), conversation_.end());

    const bool tools_on = !req_.tools.empty() && req_.tool_choice.mode != api::ToolChoice::None;
    std::vector<std::string> names;
    if (tools_on)
      for (const auto& t : req_.tools) names.push_back(t.name);
    splitter_.emplace(svc_.tool_format(), names, api::ReasoningFormat::Drop);
    Request r;
    r.options.constraint = make_constraint(
        svc_.grammars(),
        constraint_gbnf(req_.constraint, req_.tools, req_.tool_choice, req_.parallel_tool_calls, svc_.tool_format()),
        {}, constraint_param(req_.constraint));
    // input_image parts, this request's and the stored conversation's, as chat's image_url parts.
    const std::vector<vision::ImageRows> rows = co_await message_images(messages, svc_, st_.config());
    vision::ImagePrompt prompt = tokenize_prompt(
        svc_, svc_.render_chat(messages, nlohmann::json::object(), tools_on ? req_.tools_json : nlohmann::json()),
        rows);
    r.prompt = std::move(prompt.ids);
    r.images = std::move(prompt.images);
    svc_.check_prompt(r.prompt, "input", "input");
    r.options.max_tokens =
        req_.max_output_tokens.value_or(std::max(1, svc_.n_ctx() - static_cast<int32_t>(r.prompt.size())));
    r.options.sampling = req_.sampling;
    ex_.model = svc_.model_id();
    ex_.prompt_tokens = static_cast<int32_t>(r.prompt.size());
    handle_ = svc_.engine().submit(std::move(r));
    ex_.watch(*handle_);

    if (req_.stream) {
      if (!co_await ex_.stream_begin()) co_return handle_->cancel();
      const ojson started = api::response_object(id_, created_, svc_.model_id(), req_, "in_progress", nullptr, {});
      {
        ojson fields = {{"response", started}};
        if (!co_await event("response.created", std::move(fields))) co_return handle_->cancel();
      }
      {
        ojson fields = {{"response", started}};
        if (!co_await event("response.in_progress", std::move(fields))) co_return handle_->cancel();
      }
    }
    std::optional<Event> done;
    while (!done) {
      while (auto e = handle_->next(0ms)) {
        if (e->kind == Event::Token) {
          if (!co_await text(splitter_->push(e->text).content)) co_return handle_->cancel();
        } else {
          done = std::move(*e);
          break;
        }
      }
      if (done) break;
      const Wake w = co_await ex_.wait();
      if (w == Wake::PeerGone) co_return handle_->cancel();
      if (w == Wake::Timeout) {
        handle_->cancel();
        throw api::from_error(request_timed_out(st_.config()));
      }
    }
    if (done->kind == Event::Error) {
      const api::ApiError e = api::from_error(Error(done->error_kind, done->error));
      if (!ex_.response_started()) throw e;
      co_await ex_.stream_write(api::sse_error(e));
      co_return co_await ex_.stream_end();
    }
    if (!co_await text(splitter_->finish(out_.calls).content)) co_return;
    out_.incomplete = done->finish_reason == FinishReason::Length;
    const api::Usage usage{done->usage.prompt_tokens, done->usage.completion_tokens, done->usage.cached_tokens};
    ex_.completion_tokens = usage.completion_tokens;
    const ojson body = api::response_object(id_, created_, svc_.model_id(), req_,
                                            out_.incomplete ? "incomplete" : "completed", &out_, usage);
    if (req_.store) {
      auto conversation = conversation_;
      for (auto& m : api::output_as_messages(out_)) conversation.push_back(std::move(m));
      ResponseStore::instance().put(id_, {body, std::move(conversation)});
    }
    if (!req_.stream) co_return co_await ex_.respond(200, dump(body));
    if (!co_await finish_items(body)) co_return;
    {
      ojson fields = {{"response", body}};
      if (!co_await event(out_.incomplete ? "response.incomplete" : "response.completed", std::move(fields))) co_return;
    }
    co_await ex_.stream_end();
  }

 private:
  awaitable<bool> event(const std::string& type, ojson fields) {
    co_return co_await ex_.stream_write(api::sse_response_event(type, sequence_++, std::move(fields)));
  }

  std::string message_id() const { return "msg_" + id_.substr(5); }

  // Output text: kept, and streamed as the message item's deltas (the item opens at its first text).
  awaitable<bool> text(const std::string& piece) {
    out_.text += piece;
    if (!req_.stream || piece.empty()) co_return true;
    if (!message_open_) {
      message_open_ = true;
      const ojson item = {{"type", "message"},
                          {"id", message_id()},
                          {"status", "in_progress"},
                          {"role", "assistant"},
                          {"content", ojson::array()}};
      {
        ojson fields = {{"output_index", 0}, {"item", item}};
        if (!co_await event("response.output_item.added", std::move(fields))) co_return false;
      }
      const ojson part = {{"type", "output_text"}, {"text", ""}, {"annotations", ojson::array()}};
      {
        ojson fields = {{"item_id", message_id()}, {"output_index", 0}, {"content_index", 0}, {"part", part}};
        if (!co_await event("response.content_part.added", std::move(fields))) co_return false;
      }
    }
    {
      ojson fields = {{"item_id", message_id()}, {"output_index", 0}, {"content_index", 0}, {"delta", piece}};
      co_return co_await event("response.output_text.delta", std::move(fields));
    }
  }

  // The closing events of the message item and each function call item, as the final object has them.
  awaitable<bool> finish_items(const ojson& body) {
    const ojson& output = body["output"];
    for (size_t i = 0; i < output.size(); ++i) {
      const ojson& item = output[i];
      const auto index = static_cast<int64_t>(i);
      if (item["type"] == "message") {
        if (!message_open_) {  // an empty message: opened now
          ojson opened = item;
          opened["content"] = ojson::array();
          {
            ojson fields = {{"output_index", index}, {"item", opened}};
            if (!co_await event("response.output_item.added", std::move(fields))) co_return false;
          }
          {
            ojson fields = {
                {"item_id", message_id()}, {"output_index", index}, {"content_index", 0}, {"part", item["content"][0]}};
            if (!co_await event("response.content_part.added", std::move(fields))) co_return false;
          }
        }
        const ojson& part = item["content"][0];
        {
          ojson fields = {
              {"item_id", message_id()}, {"output_index", index}, {"content_index", 0}, {"text", part["text"]}};
          if (!co_await event("response.output_text.done", std::move(fields))) co_return false;
        }
        {
          ojson fields = {{"item_id", message_id()}, {"output_index", index}, {"content_index", 0}, {"part", part}};
          if (!co_await event("response.content_part.done", std::move(fields))) co_return false;
        }
      } else {
        ojson opened = item;
        opened["arguments"] = "";
        opened["status"] = "in_progress";
        {
          ojson fields = {{"output_index", index}, {"item", opened}};
          if (!co_await event("response.output_item.added", std::move(fields))) co_return false;
        }
        {
          ojson fields = {{"item_id", item["id"]}, {"output_index", index}, {"delta", item["arguments"]}};
          if (!co_await event("response.function_call_arguments.delta", std::move(fields))) co_return false;
        }
        {
          ojson fields = {{"item_id", item["id"]}, {"output_index", index}, {"arguments", item["arguments"]}};
          if (!co_await event("response.function_call_arguments.done", std::move(fields))) co_return false;
        }
      }
      {
        ojson fields = {{"output_index", index}, {"item", item}};
        if (!co_await event("response.output_item.done", std::move(fields))) co_return false;
      }
    }
    co_return true;
  }

  Exchange& ex_;
  Service& svc_;
  ServerState& st_;
  api::ResponsesRequest req_;
  std::string id_;
  int64_t created_ = 0;
  int64_t sequence_ = 0;
  std::shared_ptr<RequestHandle> handle_;
  std::optional<OutputSplitter> splitter_;
  std::vector<api::ChatMessage> conversation_;
  api::ResponseOutput out_;
  bool message_open_ = false;
};

}  // namespace

awaitable<> handle_responses(Exchange& ex, ServerState& st) {
  const auto service = co_await acquire_service(ex, st);
  if (!service) co_return;
  api::ResponsesRequest req = api::parse_responses_request(ex.request().body, service->limits());
  service->check_model(req.model);
  ResponseRun run(ex, *service, st, std::move(req));
  co_await run.run();
}

awaitable<> handle_response(Exchange& ex, ServerState& st) {
  const std::string id = path_id(ex);
  if (ex.request().method == "DELETE") {
    if (!ResponseStore::instance().erase(id)) throw not_found(id, "response_id");
    std::string body = ojson{{"id", id}, {"object", "response"}, {"deleted", true}}.dump();
    co_return co_await ex.respond(200, std::move(body));
  }
  const auto entry = ResponseStore::instance().get(id);
  if (!entry) throw not_found(id, "response_id");
  co_await ex.respond(200, dump(entry->response));
}

}  // namespace hayate::server
