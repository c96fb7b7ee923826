// A small blocking client for an OpenAI-compatible server (hayate serve, llama.cpp's server,
// vLLM, …) that `hayate eval tasks --url` scores through. Plain HTTP only: a base URL like
// http://127.0.0.1:8080 (or with a path prefix such as http://host:8000/api).
#pragma once

#include <chrono>
#include <memory>
#include <string>

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

 private:
  ClientOptions options_;
  std::unique_ptr<net::Client> http_;
};

}  // namespace hayate::eval
