// libFuzzer target for the OpenAI request parsers: any bytes must parse into a request that the
// engine's own checks accept, or end in ApiError(400). Anything else escaping (a json exception,
// hayate::Error from SamplingParams::validate, a crash) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/openai.h"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hayate::api;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  Limits limits;
  limits.max_tokens = 1000;
  limits.max_n = 8;
  try {
    const ChatCompletionRequest r = parse_chat_request(body, limits);
    r.sampling.validate();
    require(!r.messages.empty() && r.n >= 1 && r.n <= limits.max_n && r.stop.size() <= 4);
    require(!r.max_tokens || (*r.max_tokens >= 1 && *r.max_tokens <= limits.max_tokens));
    require(r.extra_template_vars.is_object());
  } catch (const ApiError& e) {
    require(e.status == 400);
  }
  try {
    const CompletionRequest r = parse_completion_request(body, limits);
    r.sampling.validate();
    require(r.prompts.empty() != r.prompt_ids.empty());
    require(r.max_tokens && *r.max_tokens >= 1 && *r.max_tokens <= limits.max_tokens);
    for (const auto& ids : r.prompt_ids) require(!ids.empty());
  } catch (const ApiError& e) {
    require(e.status == 400);
  }
  try {
    const EmbeddingRequest r = parse_embedding_request(body);
    require(r.inputs.empty() != r.input_ids.empty());
    for (const auto& s : r.inputs) require(!s.empty());
  } catch (const ApiError& e) {
    require(e.status == 400);
  }
  return 0;
}
