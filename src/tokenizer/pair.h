// A (query, document) pair as a cross-encoder reads it: BERT's "[CLS] a [SEP] b [SEP]" with
// token types 0 for the first part and 1 for the second; RoBERTa's / XLM-R's
// "<s> a </s></s> b </s>" (as Unigram vocabularies use) with types all 0.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace hayate {

struct EncodedPair {
  std::vector<int32_t> ids;
  std::vector<int32_t> types;
};

// Error(BadInput) when the tokenizer names no BOS/CLS or EOS/SEP token.
EncodedPair encode_pair(const Tokenizer& tokenizer, std::string_view first, std::string_view second);

}  // namespace hayate
