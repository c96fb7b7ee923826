#include "compress/compressor.h"

#include "core/error.h"

namespace hayate::compress {

Compressor::Compressor(const Model& model, const Tokenizer& tokenizer, std::unique_ptr<Backend> backend, Engine* engine,
                       const ModelLogitsOptions& options)
    : tokenizer_(tokenizer), alphabet_(tokenizer), backend_(std::move(backend)), engine_(engine) {
  source_ = std::make_unique<ModelLogits>(model, *backend_, alphabet_, options);
}

Engine& Compressor::need_engine(const char* what) {
  if (!engine_) fail(ErrorKind::Internal, std::string(what) + " needs an engine, and this compressor has none");
  return *engine_;
}

std::vector<uint8_t> Compressor::compress(std::string_view text) {
  std::lock_guard lk(mu_);
  return compress_lossless(text, *source_, alphabet_);
}

std::vector<std::vector<uint8_t>> Compressor::compress(std::span<const std::string_view> texts) {
  std::lock_guard lk(mu_);
  return compress_lossless(texts, *source_, alphabet_);
}

std::string Compressor::decompress(std::span<const uint8_t> file) {
  const Container c = read_container(file);
  if (c.method == Method::Semantic) {
    SemanticModel m{*source_, alphabet_, tokenizer_, need_engine("reconstructing a semantic file"), &mu_};
    return reconstruct(c, m);
  }
  std::lock_guard lk(mu_);
  return compress::decompress(c, source_.get(), &alphabet_);
}

SemanticResult Compressor::compress_semantic(std::string_view text, const SemanticOptions& options) {
  SemanticModel m{*source_, alphabet_, tokenizer_, need_engine("semantic compression"), &mu_};
  return compress::compress_semantic(text, m, options);
}

std::vector<std::vector<float>> Compressor::embed(const std::vector<std::string>& texts) {
  return embed_texts(texts, need_engine("embedding"), tokenizer_);
}

}  // namespace hayate::compress
