// A small blocking client for an OpenAI-compatible server (hayate serve, llama.cpp's server,
// vLLM, …) that `hayate eval tasks --url` scores through. Plain HTTP only: a base URL like
// http://127.0.0.1:8080 (or with a path prefix such as http://host:8000/api).
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "eval/suite.h"

namespace hayate::net {
class Client;
}

namespace hayate::eval {

enum class CompletionApi { Completions, Chat };  // /v1/completions or /v1/chat/completions

struct ClientOptions {
  std::string url, api_key, model;  // model: "" sends none (the server's default)
  CompletionApi api = CompletionApi::Completions;
  std::chrono::seconds timeout{300};
};

// Requests go one after another on one kept-alive connection.
class OpenAiClient {
 public:
  // Throws Error: BadInput for a malformed URL or a host that does not resolve, Unsupported for https.
  explicit OpenAiClient(ClientOptions options);
  ~OpenAiClient();
  // Greedy (temperature 0) text for one prompt: the prompt as given to /v1/completions, or as one
  // user message to /v1/chat/completions. Throws Error naming the URL and the server's answer.
  std::string complete(const std::string& prompt, int max_tokens);
  // The same with sampling (temperature, seed) and stop strings: the first 4 are sent (the API's
  // limit), every one is applied to the text returned.
  std::string complete(const GenerateRequest& req);
  // The log-likelihood of `continuation` after `context` from /v1/completions with echo and
  // logprobs (the prompt's own tokens' log-probabilities, as hayate's server and vLLM return
  // them). A server that does not return them (llama.cpp's) is an Error(Unsupported) that says so.
  double loglikelihood(const std::string& context, const std::string& continuation);
  const std::string& url() const { return options_.url; }

 private:
  nlohmann::json post(const std::string& path, nlohmann::json body);
  ClientOptions options_;
  std::unique_ptr<net::Client> http_;
};

// A suite's LanguageModel over one client (one connection: the runner makes one per worker).
class OpenAiModel : public LanguageModel {
 public:
  explicit OpenAiModel(ClientOptions options) : client_(std::move(options)) {}
  std::string generate(const GenerateRequest& req) override { return client_.complete(req); }
  double loglikelihood(const std::string& context, const std::string& continuation) override {
    return client_.loglikelihood(context, continuation);
  }

 private:
  OpenAiClient client_;
};

}  // namespace hayate::eval
