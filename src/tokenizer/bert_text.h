// BERT's text preparation, as Hugging Face's BertNormalizer (clean text, CJK split, accent
// stripping, lower-casing) and BertPreTokenizer (split on whitespace, punctuation isolated) do it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hayate {

// Uncased models fold case and strip accents together (the table does both at once); cased ones
// do neither. Other mixes are refused where the tokenizer is built.
struct BertTextOptions {
  bool lowercase = true;
  bool strip_accents = true;  // HF: strip_accents null follows lowercase
};

// The words of `text` after normalisation, in order. Invalid UTF-8 bytes are dropped.
std::vector<std::string> bert_words(std::string_view text, const BertTextOptions& options = {});

}  // namespace hayate
