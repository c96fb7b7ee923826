// What the HTTP routes serve: one loaded model, its tokenizer and chat template, and the Engine
// running it. Thread-safe: the routes of every connection share one Service.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/openai.h"
#include "backend/backend.h"
#include "chat/template.h"
#include "engine/engine.h"
#include "model/model.h"
#include "server/compression.h"
#include "server/config.h"
#include "server/structured.h"
#include "tokenizer/tokenizer.h"
#include "vision/embed.h"

namespace hayate::server {

// A model ready to serve, as `hayate serve` loads it.
struct LoadedModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;  // the server refuses a model without one
  std::unique_ptr<Backend> backend;
  std::string path;
  std::string mmproj;                // the vision tower + projector (--mmproj); empty: text only
  int threads = 0;                   // compute threads (the vision tower's too)
  std::string id;                    // the model id when no alias is configured; empty: the file's stem
  std::vector<std::string> aliases;  // more ids requests may name it by (the models table's)
  bool random_weights = false;       // said in the log: such a model prints noise
  double load_seconds = 0;
};

class Service {
 public:
  Service(LoadedModel loaded, const ServerConfig& config);
  ~Service();

  Engine& engine() { return *engine_; }
  Compression& compression() { return *compression_; }
  const Tokenizer& tokenizer() const { return *loaded_.tokenizer; }
  const std::string& model_id() const { return model_id_; }
  int64_t created() const { return created_; }
  int32_t n_ctx() const { return engine_->config().n_ctx; }
  int32_t n_embd() const { return loaded_.model->hp.n_embd; }
  int32_t max_prompt_tokens() const { return max_prompt_tokens_; }
  api::Limits limits() const { return limits_; }
  double load_seconds() const { return loaded_.load_seconds; }
  const Model& model() const { return *loaded_.model; }  // Ollama's /api/show and /api/tags describe it
  const std::string& model_path() const { return loaded_.path; }

  // Error-free when `requested` is empty or names this model; else ApiError 404 model_not_found.
  void check_model(const std::string& requested) const;
  // Whether `requested` is this model's id or an alias (Ollama's ":latest" tag optional).
  bool serves(const std::string& requested) const;
  // The chat as the model's template renders it, ready to tokenize (special tokens in the text).
  // tools (the request's array, or null) go to the template; one that does not read `tools` gets
  // them described in a system message, with the calls' JSON shape.
  std::string render_chat(const std::vector<api::ChatMessage>& messages, const nlohmann::json& extra,
                          const nlohmann::json& tools = nullptr) const;
  GrammarCache& grammars() { return *grammars_; }
  // The vision tower of a LLaVA model (--mmproj); null for a text-only model.
  vision::ImageEmbedder* image_embedder() { return embedder_.get(); }
  ToolFormat tool_format() const { return tool_format_; }
  // The server's own limits on a tokenized prompt, before the engine checks its own
  // (validate_prompt): ApiError 400 naming `param` (the request field) for an empty prompt, and
  // with code context_length_exceeded for one longer than max_prompt_tokens. `what` is "prompt"
  // or "input".
  void check_prompt(const std::vector<int32_t>& ids, const char* what, const char* param) const;

  // Stops the engine (drain: after the accepted requests). After this no engine thread calls a
  // handle's notify, which posts to the server's io_context.
  void shutdown(bool drain);

 private:
  LoadedModel loaded_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Compression> compression_;  // after engine_: its jobs use the engine
  std::unique_ptr<chat::ChatTemplate> template_;
  std::unique_ptr<GrammarCache> grammars_;
  std::unique_ptr<vision::ImageEmbedder> embedder_;
  ToolFormat tool_format_ = ToolFormat::Json;
  std::string model_id_;
  int64_t created_;
  int32_t max_prompt_tokens_;
  api::Limits limits_;
};

}  // namespace hayate::server
