// The quality suites of `hayate eval` (GSM8K, HumanEval, JGLUE) behind one interface: a suite
// reads its official file, builds each item's prompt and scores the answer; a LanguageModel
// answers (in this process through a Session, cli/eval_model.cpp, or through any
// OpenAI-compatible server, eval/openai_client.h). The runner (eval/run.h) fans items out, keeps
// the resumable results file and writes the summary.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hayate::eval {

struct GenerateRequest {
  std::string prompt;
  int max_tokens = 256;
  double temperature = 0;  // 0: greedy
  uint64_t seed = 0;       // for temperature > 0: each sample of an item asks a different one
  std::vector<std::string> stop;
};

// One worker's model: the runner gives each of its workers its own, so an implementation need
// not be thread-safe.
class LanguageModel {
 public:
  virtual ~LanguageModel() = default;
  // The text that follows the prompt, the stop string (if one ended it) left out.
  virtual std::string generate(const GenerateRequest& req) = 0;
  // Sum of the log-probabilities of the tokens of `continuation` after `context`. Throws
  // Error(Unsupported) naming what is missing where the model cannot say.
  virtual double loglikelihood(const std::string& context, const std::string& continuation) = 0;
};

// Over a suite's records: the share that is "correct" and the share whose "extracted" answer is
// null (the output named none); 0 for no records.
struct Shares {
  double correct = 0, unextracted = 0;
};
Shares record_shares(const std::vector<nlohmann::json>& records);

class Suite {
 public:
  virtual ~Suite() = default;
  virtual std::string name() const = 0;
  virtual size_t size() const = 0;
  virtual std::string id(size_t i) const = 0;  // unique in the file: the resume key
  // Scores item i: a record with "score" (0..1, the item's share of the main metric) and what
  // there is to inspect (prompt, output, extracted answer, correct). The runner adds "id" and
  // "suite".
  virtual nlohmann::json run(size_t i, LanguageModel& model) = 0;
  // The metrics over the records of every item of the run (resumed ones included), as
  // {"name": value}; the first is the main one.
  virtual nlohmann::ordered_json metrics(const std::vector<nlohmann::json>& records) const = 0;
  // What decides the scores (shots, samples, scoring mode, sandbox, ...), for the summary.
  virtual nlohmann::json settings() const { return nlohmann::json::object(); }
};

}  // namespace hayate::eval
