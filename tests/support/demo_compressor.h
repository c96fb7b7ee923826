// The embedded demo model (assets/demo-q8_0.gguf) loaded for compression tests: a Compressor on
// the CPU backend and, for semantic files and embeddings, an engine on a second one.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "compress/compressor.h"
#include "engine/engine.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace hayate::test {

struct DemoModel {
  std::unique_ptr<Model> model = Model::load(HAYATE_SOURCE_DIR "/assets/demo-q8_0.gguf");
  std::unique_ptr<Tokenizer> tokenizer = Tokenizer::from_gguf(*model->file);
};

inline const DemoModel& demo_model() {
  static DemoModel d;
  return d;
}

struct DemoCompressor {
  explicit DemoCompressor(bool with_engine, int threads = 2) {
    const DemoModel& d = demo_model();
    if (with_engine) {
      auto be = make_backend("cpu", threads);
      be->prepare(*d.model);
      EngineConfig ec;
      ec.n_ctx = 512;
      engine = std::make_unique<Engine>(*d.model, std::move(be), d.tokenizer.get(), ec);
    }
    auto be = make_backend("cpu", threads);
    be->prepare(*d.model);
    compressor = std::make_unique<compress::Compressor>(*d.model, *d.tokenizer, std::move(be), engine.get());
  }
  std::unique_ptr<Engine> engine;
  std::unique_ptr<compress::Compressor> compressor;
};

}  // namespace hayate::test
