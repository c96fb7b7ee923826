// The in-process LanguageModel of `hayate eval`'s suites: a Session over a loaded model, greedy
// or sampled generation and log-likelihoods from the same forward pass as `hayate run`.
#pragma once

#include <string>

#include "cli/common.h"
#include "engine/logprobs.h"
#include "engine/session.h"
#include "eval/suite.h"

namespace hayate::cli {

class SessionModel : public eval::LanguageModel {
 public:
  explicit SessionModel(LoadedModel& lm);  // Error(BadInput) for a model without a tokenizer
  std::string generate(const eval::GenerateRequest& req) override;
  // The prompt's tokens and the whole text's share a prefix; the tokens after it are the
  // continuation's (one straddling the boundary included), each scored given all before it.
  double loglikelihood(const std::string& context, const std::string& continuation) override;

 private:
  LoadedModel& lm_;
  Session session_;
};

// "general.name" of the file (else its path) and the format ("general.file_type", else the type
// of the first layer's down projection), for the suite summary.
std::string model_label(const LoadedModel& lm, const ModelOptions& o);
std::string model_format(const LoadedModel& lm);

}  // namespace hayate::cli
