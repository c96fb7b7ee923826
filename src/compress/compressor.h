// Everything compression needs around one model, for the CLI and the server: the alphabet, the
// coder's source on a backend of its own, and (for semantic files and for grouping a batch by
// similarity) an engine on the same model. Thread-safe: the coder runs one call at a time.
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.h"
#include "compress/alphabet.h"
#include "compress/container.h"
#include "compress/lossless.h"
#include "compress/model_logits.h"
#include "compress/semantic.h"
#include "engine/engine.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace hayate::compress {

class Compressor {
 public:
  // `backend` is prepared for the model and becomes the coder's; `engine` may be null (then
  // semantic files and embeddings are refused). The model, tokenizer and engine must outlive it.
  Compressor(const Model& model, const Tokenizer& tokenizer, std::unique_ptr<Backend> backend, Engine* engine,
             const ModelLogitsOptions& options = {});

  std::vector<uint8_t> compress(std::string_view text);
  // Each text its own file; the texts share forward steps.
  std::vector<std::vector<uint8_t>> compress(std::span<const std::string_view> texts);
  // A lossless file's bytes, or a semantic file's reconstruction.
  std::string decompress(std::span<const uint8_t> file);
  SemanticResult compress_semantic(std::string_view text, const SemanticOptions& options);
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts);

  const LogitSource& source() const { return *source_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  Engine* engine() { return engine_; }

 private:
  Engine& need_engine(const char* what);

  const Tokenizer& tokenizer_;
  Alphabet alphabet_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<ModelLogits> source_;
  Engine* engine_;
  std::mutex mu_;
};

}  // namespace hayate::compress
