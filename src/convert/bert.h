// `hayate convert` for BERT-family encoders: BertModel / XLMRobertaModel (embeddings, with the
// sentence-transformers pooling of modules.json and 1_Pooling/config.json) and their
// *ForSequenceClassification cross-encoders (rerank). Writes GGUF "bert" as llama.cpp does.
#pragma once

#include <ostream>
#include <string>

#include "convert/convert.h"

namespace hayate::convert {

// Whether config.json's architectures names one of the classes convert_bert takes.
bool is_bert_class(const std::string& hf_architecture);

void convert_bert(const std::string& dir, const std::string& out_path, const Options& opt, std::ostream& log);

// tokenizer.json with a WordPiece or Unigram model -> tokenizer.* ("bert" / "t5"); called by
// add_tokenizer_metadata for those models.
void add_encoder_tokenizer_metadata(const std::string& dir, gguf::Writer& w, std::ostream& log);

}  // namespace hayate::convert
