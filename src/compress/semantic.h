// Semantic (lossy) compression: keep a summary, let the model write the rest again. The summary
// is coded losslessly with the model (lossless.h), so the file is a few bytes per paragraph.
//
// Summary methods (the container's summary_method; docs/compress-format.md spells the prompts):
//   Lead    the first sentence of each paragraph, at most lead_tokens tokens; reconstruction
//           continues each lead greedily from the start token (any language model can).
//   Prompt  the model's own summary through its chat template ("Summarize ..."), expanded again
//           by a second prompt: for instruction-tuned models.
// Quality: the mean cosine of the model's embeddings of each original paragraph and its
// reconstruction, and the word-level ("token") F1 of the whole texts. Below min_length bytes, or
// when the summary's file would be no smaller than the exact one, the text is kept whole
// (a lossless file) instead.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "compress/alphabet.h"
#include "compress/container.h"
#include "compress/logit_source.h"
#include "engine/engine.h"
#include "tokenizer/tokenizer.h"

namespace hayate::compress {

enum class SummaryMethod : uint8_t { Lead = 0, Prompt = 1 };
const char* summary_method_name(SummaryMethod m);

struct SemanticOptions {
  SummaryMethod method = SummaryMethod::Lead;
  int32_t lead_tokens = 24;        // Lead: most tokens kept of each paragraph
  int32_t max_summary_tokens = 0;  // the whole summary; 0: no limit beyond lead_tokens
  double target_ratio = 0;         // > 0: shorten the leads until the file is this much smaller
  size_t min_length = 200;         // shorter texts are kept whole (lossless)
};

struct Quality {
  double cosine = 0;   // mean over paragraphs of the embeddings' cosine
  double word_f1 = 0;  // word-level F1 of reconstruction against original
};

struct SemanticResult {
  std::vector<uint8_t> file;
  bool kept_whole = false;  // a lossless file: below min_length, or no larger than the summary's
  std::string summary, reconstruction;
  int32_t summary_tokens = 0, original_tokens = 0;
  Quality quality;
};

// What semantic compression needs: the coder's source and alphabet, and an engine on the same
// model for generation and embeddings (continuous batching: every paragraph is one request).
struct SemanticModel {
  LogitSource& source;
  const Alphabet& alphabet;
  const Tokenizer& tokenizer;
  Engine& engine;
  std::mutex* source_mutex = nullptr;  // held while the source codes, when several threads share it
};

SemanticResult compress_semantic(std::string_view text, SemanticModel& m, const SemanticOptions& options = {});
// The text a semantic file stands for (generated again: greedy, so the same on one machine).
std::string reconstruct(const Container& c, SemanticModel& m);

Quality measure_quality(std::string_view original, std::string_view reconstruction, Engine& engine,
                        const Tokenizer& tokenizer);
double word_f1(std::string_view original, std::string_view reconstruction);

// The model's mean-pooled, unit-length embedding of each text (through the engine; texts longer
// than its context are cut).
std::vector<std::vector<float>> embed_texts(const std::vector<std::string>& texts, Engine& engine,
                                            const Tokenizer& tokenizer);
double cosine(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace hayate::compress
