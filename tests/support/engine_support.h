// What the engine's tests share: small synthetic llama models (random weights, 4 query heads
// sharing 2 KV heads, the built-in byte tokenizer; written to a temporary file and loaded with
// it) and greedy generation options.
#pragma once

#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/output.h"
#include "engine/request.h"
#include "engine/sampler.h"
#include "model/model.h"
#include "model/synth.h"
#include "support/test_util.h"
#include "tokenizer/tokenizer.h"

namespace hayate::test {

struct TinyModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
};

// Writes the model (and returns its path) without loading it: for tests that need no tokenizer.
inline std::string tiny_model_path(const std::string& file, int32_t n_embd = 128, int32_t n_layer = 2,
                                   int32_t n_ff = 256, int32_t n_ctx = 256, const std::string& file_type = "f16",
                                   bool tied = false) {
  SynthOptions o;
  o.n_embd = n_embd;
  o.n_layer = n_layer;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_ff = n_ff;
  o.n_ctx = n_ctx;
  o.file_type = file_type;
  o.tie_embeddings = tied;
  const std::string path = temp_path(file);
  std::ostringstream log;
  synth_model(o, path, log);
  return path;
}

inline TinyModel make_tiny_model(const std::string& file, int32_t n_embd = 128, int32_t n_layer = 2, int32_t n_ff = 256,
                                 int32_t n_ctx = 256, const std::string& file_type = "f16") {
  TinyModel m;
  m.model = Model::load(tiny_model_path(file, n_embd, n_layer, n_ff, n_ctx, file_type));
  m.tokenizer = Tokenizer::from_gguf(*m.model->file);
  return m;
}

inline GenerateOptions greedy(int32_t max_tokens, bool ignore_eos = false) {
  GenerateOptions o;
  o.max_tokens = max_tokens;
  o.sampling.temperature = 0;
  o.ignore_eos = ignore_eos;
  return o;
}

// The samples of each request's token events, in order, until its first other event (or a
// minute with none).
inline std::vector<std::vector<SampleResult>> token_samples(const std::vector<std::shared_ptr<RequestHandle>>& hs) {
  std::vector<std::vector<SampleResult>> out;
  for (const auto& h : hs) {
    out.emplace_back();
    while (auto e = h->next(std::chrono::seconds(60))) {
      if (e->kind != Event::Token) break;
      out.back().push_back(e->sample);
    }
  }
  return out;
}

}  // namespace hayate::test
