#include "tokenizer/tokenizer.h"

#include "core/error.h"
#include "core/utf8.h"
#include "gguf/gguf.h"
#include "tokenizer/bpe.h"
#include "tokenizer/spm.h"
#include "tokenizer/unigram.h"
#include "tokenizer/vocab.h"
#include "tokenizer/wordpiece.h"

namespace hayate {
namespace {

std::unique_ptr<Tokenizer> make_bpe(const gguf::File& file, const std::string& pre) {
  std::unique_ptr<PreTokenizer> pretokenizer;
  try {
    pretokenizer = std::make_unique<PreTokenizer>(pre);
  } catch (const Error& e) {
    fail(e.kind(), file.name() + ": " + e.what());
  }
  Vocab vocab = Vocab::load(file, VocabKind::BytePairEncoding, pretokenizer->add_bos_default());

  const gguf::Value* merges_value = file.find("tokenizer.ggml.merges");
  if (merges_value == nullptr)
    fail(ErrorKind::BadInput, file.name() + ": tokenizer.ggml.model is gpt2 but tokenizer.ggml.merges is missing");
  const std::string what = file.name() + ": tokenizer.ggml.merges";
  const auto& items = merges_value->as_array(what);
  std::vector<std::string> merges;
  merges.reserve(items.size());
  for (const gguf::Value& item : items) merges.push_back(item.as_string(what));

  return std::make_unique<BpeTokenizer>(std::move(vocab), pre, std::move(pretokenizer), merges);
}

// BERT: [CLS] text [SEP] unless the file says otherwise (llama.cpp's keys, "seperator" spelt so).
std::unique_ptr<Tokenizer> make_wordpiece(const gguf::File& file, const std::string& pre) {
  Vocab vocab = Vocab::load(file, VocabKind::WordPiece, false);
  if (vocab.unk < 0) vocab.unk = vocab.find("[UNK]");
  vocab.add_space_prefix = true;  // every word-initial piece starts with a space; decode drops the first
  BertTextOptions text;
  text.lowercase = text.strip_accents = file.get_bool("tokenizer.ggml.bert.lowercase", true);
  return std::make_unique<WordPieceTokenizer>(std::move(vocab), pre, text);
}

// XLM-R / T5 Unigram. A SentencePiece character map (precompiled_charsmap) is refused: hayate
// does not apply it, and without it the ids would differ for text it maps.
std::unique_ptr<Tokenizer> make_unigram(const gguf::File& file, const std::string& pre) {
  if (const gguf::Value* map = file.find("tokenizer.ggml.precompiled_charsmap");
      map != nullptr && !map->as_array(file.name() + ": tokenizer.ggml.precompiled_charsmap").empty())
    fail(ErrorKind::Unsupported, file.name() +
                                     ": tokenizer.ggml.precompiled_charsmap (SentencePiece's normalisation "
                                     "map) is not supported yet");
  Vocab vocab = Vocab::load(file, VocabKind::BytePairEncoding, false);
  vocab.add_space_prefix = file.get_bool("tokenizer.ggml.add_space_prefix", true);
  return std::make_unique<UnigramTokenizer>(std::move(vocab), pre,
                                            file.get_bool("tokenizer.ggml.remove_extra_whitespaces", false),
                                            file.get_bool("tokenizer.ggml.byte_fallback", false));
}

// Moves the complete characters at the front of `pending` to the result. A sequence cut short by
// the end stays pending unless `final`; broken bytes become U+FFFD, so the result is valid UTF-8.
std::string take_complete(std::string& pending, bool final) {
  std::string out;
  size_t pos = 0;
  while (pos < pending.size()) {
    const utf8::Step step = utf8::next(pending, pos);
    if (step.status == utf8::Status::Incomplete && !final) break;
    if (step.status == utf8::Status::Valid) {
      out.append(pending, pos, step.length);
    } else {
      out += utf8::kReplacement;
    }
    pos += step.length;
  }
  pending.erase(0, pos);
  return out;
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const gguf::File& file) {
  const gguf::Value* model_value = file.find("tokenizer.ggml.model");
  if (model_value == nullptr)
    fail(ErrorKind::NotFound, file.name() + ": tokenizer.ggml.model is missing; the file carries no tokenizer");
  const std::string& model = model_value->as_string(file.name() + ": tokenizer.ggml.model");
  std::string pre = file.get_string("tokenizer.ggml.pre", "default");
  if (pre.empty()) pre = "default";

  if (model == "llama") return std::make_unique<SpmTokenizer>(Vocab::load(file, VocabKind::SentencePiece, true), pre);
  if (model == "gpt2") return make_bpe(file, pre);
  if (model == "bert") return make_wordpiece(file, pre);
  if (model == "t5") return make_unigram(file, pre);
  fail(ErrorKind::Unsupported, file.name() + ": tokenizer.ggml.model '" + model +
                                   "' is not supported; this build reads 'llama' (SentencePiece), 'gpt2' "
                                   "(byte-level BPE), 'bert' (WordPiece) and 't5' (Unigram) tokenizers");
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool special) : tokenizer_(tokenizer), special_(special) {}

std::string StreamDecoder::push(int32_t id) {
  pending_ += piece(id);
  return take_complete(pending_, false);
}

std::string StreamDecoder::piece(int32_t id) {
  std::string piece = tokenizer_.token_to_piece(id, special_);
  const TokenType type = tokenizer_.token_type(id);
  // The same rule as Tokenizer::decode: the first text token, and the first after each special
  // token, lose the space SentencePiece added in front of them.
  if (Vocab::is_control_like(type) || type == TokenType::UserDefined) {
    first_ = true;
  } else if (first_ && !piece.empty()) {
    first_ = false;
    if (tokenizer_.add_space_prefix() && piece[0] == ' ') piece.erase(0, 1);
  }
  return piece;
}

std::string StreamDecoder::flush() { return take_complete(pending_, true); }

}  // namespace hayate
