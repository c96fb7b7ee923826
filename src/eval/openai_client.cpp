#include "eval/openai_client.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "net/blocking_client.h"

namespace hayate::eval {

using nlohmann::json;

OpenAiClient::OpenAiClient(ClientOptions options) : options_(std::move(options)) {
  net::ClientOptions http;
  http.timeout = options_.timeout;
  http_ = std::make_unique<net::Client>(net::resolve(net::parse_api_url(options_.url)), http);
}

OpenAiClient::~OpenAiClient() = default;

std::string OpenAiClient::complete(const std::string& prompt, int max_tokens) {
  const bool chat = options_.api == CompletionApi::Chat;
  const std::string path = chat ? "/v1/chat/completions" : "/v1/completions";
  json body = {{"max_tokens", max_tokens}, {"temperature", 0}, {"stream", false}};
  if (chat)
    body["messages"] = json::array({{{"role", "user"}, {"content", prompt}}});
  else
    body["prompt"] = prompt;
  if (!options_.model.empty()) body["model"] = options_.model;
  const std::string where = http_->endpoint().url.at(path);

  net::Request req{
      "POST", path, {{"Content-Type", "application/json"}}, body.dump(-1, ' ', false, json::error_handler_t::replace)};
  if (!options_.api_key.empty()) req.headers.emplace_back("Authorization", "Bearer " + options_.api_key);
  const net::Response res = http_->request(std::move(req));
  if (res.status != 200)
    fail(res.status == 400 || res.status == 422 ? ErrorKind::BadInput : ErrorKind::Internal,
         where + ": HTTP " + std::to_string(res.status) + ": " + res.body.substr(0, 400));
  try {
    const json j = json::parse(res.body);
    const json& choice = j.at("choices").at(0);
    const json& text = chat ? choice.at("message").at("content") : choice.at("text");
    return text.is_null() ? std::string() : text.get<std::string>();
  } catch (const json::exception& e) {
    fail(ErrorKind::BadInput, where + ": not an OpenAI-style completion (" + std::string(e.what()) + ")");
  }
}

}  // namespace hayate::eval
