#include "tokenizer/pair.h"

#include "core/error.h"

namespace hayate {

EncodedPair encode_pair(const Tokenizer& tokenizer, std::string_view first, std::string_view second) {
  const int32_t open = tokenizer.bos_id(), close = tokenizer.eos_id();
  if (open < 0 || close < 0)
    fail(ErrorKind::BadInput, "the tokenizer names no [CLS]/<s> or [SEP]/</s> token to join a query and a document");
  const std::vector<int32_t> a = tokenizer.encode(first, false, false);
  const std::vector<int32_t> b = tokenizer.encode(second, false, false);
  const bool bert = tokenizer.model_name() == "bert";
  EncodedPair p;
  p.ids.push_back(open);
  p.ids.insert(p.ids.end(), a.begin(), a.end());
  p.ids.push_back(close);
  if (!bert) p.ids.push_back(close);
  const size_t first_part = p.ids.size();
  p.ids.insert(p.ids.end(), b.begin(), b.end());
  p.ids.push_back(close);
  p.types.assign(p.ids.size(), 0);
  if (bert)
    for (size_t i = first_part; i < p.types.size(); ++i) p.types[i] = 1;
  return p;
}

}  // namespace hayate
