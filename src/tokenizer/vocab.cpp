#include "tokenizer/vocab.h"

#include "core/error.h"
#include "gguf/gguf.h"

namespace hayate {
namespace {

std::string where(const Vocab& vocab, std::string_view key) { return vocab.source + ": " + std::string(key); }

const std::vector<gguf::Value>* optional_array(const gguf::File& file, const Vocab& vocab, std::string_view key,
                                               size_t expected) {
  const gguf::Value* value = file.find(key);
  if (value == nullptr) return nullptr;
  const auto& items = value->as_array(where(vocab, key));
  if (items.size() != expected) {
    fail(ErrorKind::BadInput, where(vocab, key) + " has " + std::to_string(items.size()) +
                                  " entries but tokenizer.ggml.tokens has " + std::to_string(expected) +
                                  "; the tokenizer metadata is inconsistent, convert the model again");
  }
  return &items;
}

// A special id from the metadata, or `fallback` when the key is absent. An id outside the
// vocabulary is an error when the id matters for encoding, and ignored otherwise.
int32_t read_id(const gguf::File& file, const Vocab& vocab, std::string_view key, int32_t fallback, bool strict) {
  const gguf::Value* value = file.find(key);
  if (value == nullptr) return fallback < vocab.size() ? fallback : -1;
  const uint64_t id = value->as_u64(where(vocab, key));
  if (id < static_cast<uint64_t>(vocab.size())) return static_cast<int32_t>(id);
  if (!strict) return -1;
  fail(ErrorKind::BadInput, where(vocab, key) + " is " + std::to_string(id) + " but the vocabulary has only " +
                                std::to_string(vocab.size()) + " tokens");
}

TokenType to_token_type(int64_t raw) {
  if (raw < static_cast<int64_t>(TokenType::Undefined) || raw > static_cast<int64_t>(TokenType::Byte))
    return TokenType::Undefined;
  return static_cast<TokenType>(raw);
}

// Texts that end a turn in the chat formats of common model families (as llama.cpp lists them).
constexpr std::string_view kEndOfTurnTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<|eom_id|>", "<EOT>",
};

}  // namespace

Vocab Vocab::load(const gguf::File& file, VocabKind kind, bool add_bos_default) {
  Vocab vocab;
  vocab.source = file.name();

  const gguf::Value* tokens = file.find("tokenizer.ggml.tokens");
  if (tokens == nullptr)
    fail(ErrorKind::NotFound, where(vocab, "tokenizer.ggml.tokens") + " is missing; the file carries no vocabulary");
  const auto& items = tokens->as_array(where(vocab, "tokenizer.ggml.tokens"));
  if (items.empty() || items.size() > static_cast<size_t>(INT32_MAX))
    fail(ErrorKind::BadInput, where(vocab, "tokenizer.ggml.tokens") + " has " + std::to_string(items.size()) +
                                  " entries; a vocabulary needs between 1 and 2^31-1 tokens");
  const size_t n = items.size();

  vocab.texts.reserve(n);
  vocab.ids.reserve(n);
  const std::string tokens_what = where(vocab, "tokenizer.ggml.tokens");
  for (size_t i = 0; i < n; ++i) {
    vocab.texts.push_back(items[i].as_string(tokens_what));
    // An empty text can never be matched; a repeated text keeps its first id.
    if (!vocab.texts.back().empty()) vocab.ids.emplace(vocab.texts.back(), static_cast<int32_t>(i));
  }

  vocab.scores.assign(n, 0.0f);
  if (const auto* scores = optional_array(file, vocab, "tokenizer.ggml.scores", n)) {
    const std::string what = where(vocab, "tokenizer.ggml.scores");
    for (size_t i = 0; i < n; ++i) vocab.scores[i] = static_cast<float>((*scores)[i].as_f64(what));
  }

  vocab.types.assign(n, TokenType::Normal);
  if (const auto* types = optional_array(file, vocab, "tokenizer.ggml.token_type", n)) {
    const std::string what = where(vocab, "tokenizer.ggml.token_type");
    for (size_t i = 0; i < n; ++i) vocab.types[i] = to_token_type((*types)[i].as_i64(what));
  }

  const bool spm = kind == VocabKind::SentencePiece;
  const bool wpm = kind == VocabKind::WordPiece;
  const int32_t cls = wpm ? read_id(file, vocab, "tokenizer.ggml.cls_token_id", vocab.find("[CLS]"), true) : -1;
  const int32_t sep = wpm ? read_id(file, vocab, "tokenizer.ggml.seperator_token_id", vocab.find("[SEP]"), true) : -1;
  vocab.bos = read_id(file, vocab, "tokenizer.ggml.bos_token_id", spm ? 1 : cls, true);
  vocab.eos = read_id(file, vocab, "tokenizer.ggml.eos_token_id", spm ? 2 : sep, true);
  vocab.unk = read_id(file, vocab, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, true);
  vocab.eot = read_id(file, vocab, "tokenizer.ggml.eot_token_id", -1, true);
  vocab.eom = read_id(file, vocab, "tokenizer.ggml.eom_token_id", -1, true);
  vocab.pad = read_id(file, vocab, "tokenizer.ggml.padding_token_id", -1, false);

  vocab.add_bos = file.get_bool("tokenizer.ggml.add_bos_token", spm || add_bos_default || (wpm && vocab.bos >= 0));
  vocab.add_eos = file.get_bool("tokenizer.ggml.add_eos_token", wpm && vocab.eos >= 0);
  // Byte-level BPE keeps every space in the bytes themselves; only SentencePiece adds one.
  vocab.add_space_prefix = spm && file.get_bool("tokenizer.ggml.add_space_prefix", true);
  if (vocab.add_bos && vocab.bos < 0)
    fail(ErrorKind::BadInput,
         where(vocab, "tokenizer.ggml.add_bos_token") + " is true but the file names no BOS token");
  if (vocab.add_eos && vocab.eos < 0)
    fail(ErrorKind::BadInput,
         where(vocab, "tokenizer.ggml.add_eos_token") + " is true but the file names no EOS token");

  vocab.end_of_generation.assign(n, false);
  for (int32_t id : {vocab.eos, vocab.eot, vocab.eom})
    if (id >= 0) vocab.end_of_generation[id] = true;
  for (std::string_view text : kEndOfTurnTexts) {
    const int32_t id = vocab.find(text);
    if (id >= 0 && (vocab.types[id] == TokenType::Control || vocab.types[id] == TokenType::UserDefined))
      vocab.end_of_generation[id] = true;
  }
  return vocab;
}

}  // namespace hayate
