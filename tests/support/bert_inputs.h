// What the encoder tests feed a synthetic BERT-family model (support/bert_synth.h): its folder
// converted to an f32 GGUF, and inputs of given lengths with ids spread over the vocabulary. The
// test that includes this links convert/, model/ and forward/ itself.
#pragma once

#include <sstream>
#include <span>
#include <string>
#include <vector>

#include "convert/convert.h"
#include "forward/encoder.h"
#include "model/bert.h"
#include "support/bert_synth.h"

namespace hayate::test {

inline std::string convert_f32(const Synthetic& s) {
  const std::string out = s.dir + ".gguf";
  convert::Options opt;
  opt.out_type = "f32";
  std::ostringstream log;
  convert::convert_hf(s.dir, out, opt, log);
  return out;
}

// Inputs of the given lengths, ids spread over the vocabulary.
inline std::vector<std::vector<int32_t>> make_inputs(const BertModel& m, const std::vector<int32_t>& lengths) {
  std::vector<std::vector<int32_t>> out;
  for (size_t i = 0; i < lengths.size(); ++i) {
    std::vector<int32_t> ids;
    for (int32_t t = 0; t < lengths[i]; ++t)
      ids.push_back(
          static_cast<int32_t>((i * 13 + static_cast<size_t>(t) * 7 + 2) % static_cast<size_t>(m.hp.n_vocab)));
    out.push_back(ids);
  }
  return out;
}

inline std::vector<EncoderInput> as_inputs(const std::vector<std::vector<int32_t>>& ids,
                                           const std::vector<std::vector<int32_t>>& types = {}) {
  std::vector<EncoderInput> out;
  for (size_t i = 0; i < ids.size(); ++i)
    out.push_back({ids[i], types.empty() ? std::span<const int32_t>{} : types[i]});
  return out;
}

}  // namespace hayate::test
