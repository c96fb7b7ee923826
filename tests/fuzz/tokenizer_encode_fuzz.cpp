// Tokenizer input is untrusted (every request's text). Encodes arbitrary bytes with a
// SentencePiece and a byte-level BPE vocabulary, with and without special-token parsing, and
// checks what must always hold: ids inside the vocabulary, and the stream decoder agreeing with
// decode. Vocabularies: $HAYATE_FUZZ_VOCAB_DIR, default the shared test vocabularies.
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace {

struct Loaded {
  std::unique_ptr<hayate::gguf::File> file;
  std::unique_ptr<hayate::Tokenizer> tokenizer;
};

std::vector<Loaded>& tokenizers() {
  static std::vector<Loaded> all = [] {
    const char* env = std::getenv("HAYATE_FUZZ_VOCAB_DIR");
    const std::string dir = env ? env : HAYATE_SHARED_VOCAB;
    std::vector<Loaded> out;
    for (const char* name : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-deepseek-llm.gguf", "ggml-vocab-gpt-2.gguf"}) {
      Loaded l;
      l.file = hayate::gguf::File::open(dir + "/" + name);
      l.tokenizer = hayate::Tokenizer::from_gguf(*l.file);
      out.push_back(std::move(l));
    }
    return out;
  }();
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const bool parse_special = data[0] & 1, add_special = data[0] & 2;
  for (auto& t : tokenizers()) {
    const std::vector<int32_t> ids = t.tokenizer->encode(text, add_special, parse_special);
    for (int32_t id : ids)
      if (id < 0 || id >= t.tokenizer->n_vocab()) std::abort();
    hayate::StreamDecoder stream(*t.tokenizer, true);
    std::string streamed;
    for (int32_t id : ids) streamed += stream.push(id);
    streamed += stream.flush();
    (void)t.tokenizer->decode(ids, true);
  }
  return 0;
}
