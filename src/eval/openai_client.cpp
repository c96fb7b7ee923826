#include "eval/openai_client.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "net/blocking_client.h"

namespace hayate::eval {

using nlohmann::json;

namespace {

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

OpenAiClient::OpenAiClient(ClientOptions options) : options_(std::move(options)) {
  net::ClientOptions http;
  http.timeout = options_.timeout;
  http_ = std::make_unique<net::Client>(net::resolve(net::parse_api_url(options_.url)), http);
}

OpenAiClient::~OpenAiClient() = default;

json OpenAiClient::post(const std::string& path, json body) {
  if (!options_.model.empty()) body["model"] = options_.model;
  const std::string where = http_->endpoint().url.at(path);
  net::Request req{
      "POST", path, {{"Content-Type", "application/json"}}, body.dump(-1, ' ', false, json::error_handler_t::replace)};
  if (!options_.api_key.empty()) req.headers.emplace_back("Authorization", "Bearer " + options_.api_key);
  const net::Response res = http_->request(std::move(req));
  if (res.status != 200)
    fail(res.status == 400 || res.status == 422 ? ErrorKind::BadInput : ErrorKind::Internal,
         where + ": HTTP " + std::to_string(res.status) + ": " + res.body.substr(0, 400));
  json j = json::parse(res.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("choices") || !j["choices"].is_array() ||
      j["choices"].empty() || !j["choices"][0].is_object())
    fail(ErrorKind::BadInput, where + ": not an OpenAI-style completion: " + res.body.substr(0, 200));
  return j;
}

std::string OpenAiClient::complete(const std::string& prompt, int max_tokens) {
  GenerateRequest req;
  req.prompt = prompt;
  req.max_tokens = max_tokens;
  return complete(req);
}

std::string OpenAiClient::complete(const GenerateRequest& req) {
  const bool chat = options_.api == CompletionApi::Chat;
  const std::string path = chat ? "/v1/chat/completions" : "/v1/completions";
  json body = {{"max_tokens", req.max_tokens}, {"temperature", req.temperature}, {"stream", false}};
  if (req.temperature > 0) body["seed"] = req.seed;
  if (!req.stop.empty())
    body["stop"] = std::vector<std::string>(req.stop.begin(), req.stop.begin() + std::min<size_t>(4, req.stop.size()));
  if (chat)
    body["messages"] = json::array({{{"role", "user"}, {"content", req.prompt}}});
  else
    body["prompt"] = req.prompt;
  const json j = post(path, std::move(body));
  const json& choice = j["choices"][0];
  const json* text =
      chat ? (choice.contains("message") && choice["message"].is_object() && choice["message"].contains("content")
                  ? &choice["message"]["content"]
                  : nullptr)
           : (choice.contains("text") ? &choice["text"] : nullptr);
  if (!text || !(text->is_string() || text->is_null()))
    fail(ErrorKind::BadInput, http_->endpoint().url.at(path) + ": the completion has no text");
  std::string out = text->is_null() ? std::string() : text->get<std::string>();
  size_t cut = out.size();
  for (const std::string& s : req.stop)
    if (!s.empty()) cut = std::min(cut, out.find(s));
  return out.substr(0, cut);
}

// Tokens count when they reach past the context and are the prompt's (the first
// usage.prompt_tokens entries: the one token generated after it is not part of it; a token that
// holds the last bytes of the prompt's last character starts where the prompt ends, so the offset
// alone cannot tell). A token across the boundary counts, as the context is the same for every
// choice compared. Offsets are in characters, as OpenAI's text_offset is.
double OpenAiClient::loglikelihood(const std::string& context, const std::string& continuation) {
  const std::string where = http_->endpoint().url.at("/v1/completions");
  if (options_.api == CompletionApi::Chat)
    fail(ErrorKind::Unsupported,
         "log-likelihood scoring needs --api completions (echo and logprobs); use --score "
         "generate with the chat API");
  const json j = post(
      "/v1/completions",
      {{"prompt", context + continuation}, {"max_tokens", 1}, {"temperature", 0}, {"echo", true}, {"logprobs", 1}});
  const json& choice = j["choices"][0];
  const json* lp = choice.contains("logprobs") && choice["logprobs"].is_object() ? &choice["logprobs"] : nullptr;
  const bool has = lp && lp->contains("token_logprobs") && lp->contains("text_offset") &&
                   (*lp)["token_logprobs"].is_array() && (*lp)["text_offset"].is_array() &&
                   (*lp)["text_offset"].size() == (*lp)["token_logprobs"].size() && !(*lp)["text_offset"].empty() &&
                   (*lp)["text_offset"][0] == 0;
  if (!has)
    fail(ErrorKind::Unsupported,
         where +
             " does not return log-probabilities of the prompt's tokens with \"echo\": true and \"logprobs\" "
             "(needed for --score loglik); use --score generate, or a server that does (vLLM)");
  const json& offsets = (*lp)["text_offset"];
  const json& logprobs = (*lp)["token_logprobs"];
  const auto ctx = static_cast<int64_t>(code_points(context));
  const auto full = static_cast<int64_t>(code_points(context + continuation));
  size_t n_prompt = offsets.size();
  if (const json* usage = j.contains("usage") ? &j["usage"] : nullptr;
      usage && usage->is_object() && usage->contains("prompt_tokens") && (*usage)["prompt_tokens"].is_number_unsigned())
    n_prompt = std::min(n_prompt, (*usage)["prompt_tokens"].get<size_t>());
  double sum = 0;
  int counted = 0;
  for (size_t t = 0; t < offsets.size(); ++t) {
    const int64_t start = offsets[t].get<int64_t>();
    const int64_t end = t + 1 < offsets.size() ? offsets[t + 1].get<int64_t>() : INT64_MAX;
    const bool in_prompt = n_prompt < offsets.size() ? t < n_prompt : start < full;
    if (!in_prompt || end <= ctx) continue;
    if (!logprobs[t].is_number())
      fail(ErrorKind::BadInput, where + ": token " + std::to_string(t) + " of the continuation has no logprob");
    sum += logprobs[t].get<double>();
    ++counted;
  }
  if (counted == 0) fail(ErrorKind::BadInput, where + ": no token of the continuation in the echoed prompt");
  return sum;
}

}  // namespace hayate::eval
