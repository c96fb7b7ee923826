// What the HTTP routes serve: one loaded model, its tokenizer and chat template, and the Engine
// running it. Thread-safe: the routes of every connection share one Service.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "api/openai.h"
#include "backend/backend.h"
#include "chat/template.h"
#include "engine/engine.h"
#include "model/model.h"
#include "server/config.h"
#include "tokenizer/tokenizer.h"

namespace hayate::server {

// A model ready to serve, as `hayate serve` loads it.
struct LoadedModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;  // the server refuses a model without one
  std::unique_ptr<Backend> backend;
  std::string path;
  std::string id;               // the model id when no alias is configured; empty: the file's stem
  bool random_weights = false;  // said in the log: such a model prints noise
  double load_seconds = 0;
};

// Calls each callback once its future is ready, on a thread of its own, in order (the engine
// computes embeddings in the order they were asked for, so nothing waits behind a later one).
class FutureWaiter {
 public:
  FutureWaiter();
  ~FutureWaiter();  // stop()
  void add(std::shared_future<std::vector<float>> future, std::function<void()> ready);
  // Calls what is queued (its futures must become ready) and ends the thread. Idempotent.
  void stop();

 private:
  void loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::shared_future<std::vector<float>>, std::function<void()>>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

class Service {
 public:
  Service(LoadedModel loaded, const ServerConfig& config);
  ~Service();

  Engine& engine() { return *engine_; }
  const Tokenizer& tokenizer() const { return *loaded_.tokenizer; }
  const std::string& model_id() const { return model_id_; }
  int64_t created() const { return created_; }
  int32_t n_ctx() const { return engine_->config().n_ctx; }
  int32_t n_embd() const { return loaded_.model->hp.n_embd; }
  int32_t max_prompt_tokens() const { return max_prompt_tokens_; }
  api::Limits limits() const { return limits_; }
  double load_seconds() const { return loaded_.load_seconds; }

  // Error-free when `requested` is empty or names this model; else ApiError 404 model_not_found.
  void check_model(const std::string& requested) const;
  // The chat as the model's template renders it, ready to tokenize (special tokens in the text).
  std::string render_chat(const std::vector<api::ChatMessage>& messages, const nlohmann::json& extra) const;
  // ApiError 400 context_length_exceeded naming the limit when a prompt is longer than
  // max_prompt_tokens; `what` is "prompt" or "input", `param` the request field.
  void check_prompt_length(size_t n_tokens, const char* what, const char* param) const;

  FutureWaiter& waiter() { return waiter_; }
  // Stops the engine (drain: after the accepted requests) and then the waiter, whose callbacks
  // post to the server's io_context: after this, nothing of the Service touches it.
  void shutdown(bool drain);

 private:
  LoadedModel loaded_;
  // Before the engine, so it is destroyed after it: an embedding the stopped engine never ran
  // then has a broken promise, and the waiter's thread does not wait for it forever.
  FutureWaiter waiter_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<chat::ChatTemplate> template_;
  std::string model_id_;
  int64_t created_;
  int32_t max_prompt_tokens_;
  api::Limits limits_;
};

}  // namespace hayate::server
