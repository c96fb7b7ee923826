#include "server/service.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "api/ollama.h"
#include "core/error.h"
#include "gguf/gguf.h"

namespace hayate::server {
namespace {

// For models whose file carries no template: the format of the built-in tokenizer and of most
// instruction-tuned models hayate has seen.
constexpr const char* kChatMLTemplate =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

EngineConfig engine_config(const ServerConfig& c) {
  EngineConfig e;
  e.n_ctx = static_cast<int32_t>(c.ctx_size);
  e.kv_blocks = static_cast<int32_t>(c.kv_blocks);
  e.max_batch_tokens = static_cast<int32_t>(c.max_batch_tokens);
  e.max_running = static_cast<int32_t>(c.max_running);
  e.max_waiting = static_cast<int32_t>(c.max_waiting);
  e.prefix_caching = c.prefix_caching;
  e.stall_seconds = c.engine_stall_timeout;
  if (c.debug_step_delay_ms > 0)
    e.before_forward = [delay = std::chrono::milliseconds(c.debug_step_delay_ms)] {
      std::this_thread::sleep_for(delay);
    };
  return e;
}

std::string token_text_or_empty(const Tokenizer& t, int32_t id) {
  return id >= 0 && id < t.n_vocab() ? t.token_text(id) : std::string();
}

// An assistant turn's calls as the text a model without tool support in its template would have
// written: one {"name", "arguments"} object per line.
std::string calls_as_text(const nlohmann::json& msg) {
  std::string text;
  if (!msg.contains("tool_calls") || !msg["tool_calls"].is_array()) return text;
  for (const auto& call : msg["tool_calls"]) {
    const nlohmann::json fn = call.value("function", nlohmann::json::object());
    nlohmann::json args = fn.value("arguments", nlohmann::json::object());
    if (args.is_string()) args = nlohmann::json::parse(args.get<std::string>(), nullptr, false);
    text += nlohmann::json{{"name", fn.value("name", "")}, {"arguments", args}}.dump() + "\n";
  }
  return text;
}

}  // namespace

Service::Service(LoadedModel loaded, const ServerConfig& config)
    : loaded_(std::move(loaded)),
      created_(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                   .count()) {
  if (!loaded_.tokenizer)
    fail(ErrorKind::BadInput, loaded_.path + ": the model has no tokenizer; the server needs one to read text");
  if (!loaded_.mmproj.empty()) {
    // The tower runs on the CPU beside the engine, whatever device the language model is on.
    embedder_ = std::make_unique<vision::ImageEmbedder>(loaded_.mmproj, loaded_.model->hp, "cpu", loaded_.threads);
    spdlog::info("vision: {} ({} tokens per image)", loaded_.mmproj, embedder_->tokens_per_image());
  }
  engine_ = std::make_unique<Engine>(*loaded_.model, std::move(loaded_.backend), loaded_.tokenizer.get(),
                                     engine_config(config));

  if (!config.model_alias.empty())
    model_id_ = config.model_alias;
  else if (!loaded_.id.empty())
    model_id_ = loaded_.id;
  else
    model_id_ = std::filesystem::path(loaded_.path).stem().string();

  const int32_t ctx = engine_->config().n_ctx;
  max_prompt_tokens_ =
      config.max_prompt_tokens > 0 ? static_cast<int32_t>(std::min<int64_t>(config.max_prompt_tokens, ctx)) : ctx;
  limits_.max_tokens = config.max_tokens_cap > 0 ? static_cast<int32_t>(config.max_tokens_cap) : ctx;
  limits_.max_n = static_cast<int32_t>(config.max_n);
  limits_.max_image_bytes = config.image_max_bytes;
  limits_.max_images = static_cast<int32_t>(config.image_max_per_request);

  const Tokenizer& tok = *loaded_.tokenizer;
  const std::string bos = token_text_or_empty(tok, tok.bos_id()), eos = token_text_or_empty(tok, tok.eos_id());
  const gguf::File& file = *loaded_.model->file;
  if (file.find("tokenizer.chat_template")) {
    try {
      template_ = std::make_unique<chat::ChatTemplate>(file.get_string("tokenizer.chat_template", ""), bos, eos);
    } catch (const Error& e) {
      spdlog::warn("the model's chat template does not parse ({}); using ChatML instead", e.what());
    }
  } else {
    spdlog::warn("the model has no chat template (tokenizer.chat_template); using ChatML for chat requests");
  }
  if (!template_) template_ = std::make_unique<chat::ChatTemplate>(kChatMLTemplate, bos, eos);
  compression_ = std::make_unique<Compression>(*loaded_.model, *loaded_.tokenizer, *engine_, config);
  tool_format_ = detect_tool_format(template_->source());
  grammars_ = std::make_unique<GrammarCache>(tok);
}

Service::~Service() { shutdown(false); }

void Service::shutdown(bool drain) { engine_->shutdown(drain); }

bool Service::serves(const std::string& requested) const {
  if (api::ollama::same_model(requested, model_id_)) return true;
  for (const std::string& a : loaded_.aliases)
    if (api::ollama::same_model(requested, a)) return true;
  return false;
}

void Service::check_model(const std::string& requested) const {
  if (!requested.empty() && requested != model_id_ && !serves(requested))
    throw api::ApiError(404, "The model '" + requested + "' does not exist; this server serves '" + model_id_ + "'",
                        "invalid_request_error", "model", "model_not_found");
}

std::string Service::render_chat(const std::vector<api::ChatMessage>& messages, const nlohmann::json& extra,
                                 const nlohmann::json& tools) const {
  nlohmann::json list = nlohmann::json::array();
  const bool reads_tool_calls = template_->source().find("tool_calls") != std::string::npos;
  for (const api::ChatMessage& m : messages) {
    nlohmann::json msg = m.raw.is_object() ? m.raw : nlohmann::json::object();
    msg["role"] = m.role;
    if (!(msg.contains("content") && msg["content"].is_null())) msg["content"] = m.content;
    if (msg["content"].is_null() && !reads_tool_calls) msg["content"] = calls_as_text(msg);
    list.push_back(std::move(msg));
  }
  nlohmann::json context = extra.is_object() ? extra : nlohmann::json::object();
  if (tools.is_array() && template_->source().find("tools") != std::string::npos) {
    context["tools"] = tools;
  } else if (tools.is_array()) {
    // The template knows no tools: say what they are and how to call them, in the system turn.
    std::string text =
        "You may call these functions. To call one, reply with only a JSON object "
        "{\"name\": <function name>, \"arguments\": <arguments object>}.\n";
    for (const auto& t : tools) {  // the function part alone: the wrapper says nothing
      const nlohmann::json& fn = t.contains("function") ? t["function"] : t;
      text += fn.dump() + "\n";
    }
    if (!list.empty() && list[0]["role"] == "system" && list[0]["content"].is_string())
      list[0]["content"] = text + "\n" + list[0]["content"].get<std::string>();
    else
      list.insert(list.begin(), nlohmann::json{{"role", "system"}, {"content", text}});
  }
  try {
    return template_->render(list, true, context);
  } catch (const Error& e) {
    throw api::ApiError(400, std::string("the chat template could not render these messages: ") + e.what(),
                        "invalid_request_error", "messages");
  }
}

void Service::check_prompt(const std::vector<int32_t>& ids, const char* what, const char* param) const {
  // A bert encoder's prompts are embedded or scored; a generation is refused before its length.
  if (loaded_.model->encoder && (std::string_view(what) == "prompt" || std::string_view(what) == "question"))
    throw api::ApiError(400,
                        model_id_ + " is a bert encoder: it embeds text (/v1/embeddings) or scores pairs "
                                    "(/v1/rerank) and does not generate text",
                        "invalid_request_error", param);
  if (ids.empty())
    throw api::ApiError(400, std::string("The ") + what + " is empty; give at least one token", "invalid_request_error",
                        param);
  const size_t n_tokens = ids.size();
  if (n_tokens > static_cast<size_t>(max_prompt_tokens_))
    throw api::ApiError(400,
                        std::string("The ") + what + " has " + std::to_string(n_tokens) +
                            " tokens, over this server's limit of " + std::to_string(max_prompt_tokens_) +
                            " prompt tokens (max_prompt_tokens; the context is " + std::to_string(n_ctx()) +
                            "); shorten it",
                        "invalid_request_error", param, "context_length_exceeded");
}

}  // namespace hayate::server
