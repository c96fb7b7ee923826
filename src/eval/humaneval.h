// HumanEval: the model completes a Python function from its signature and docstring; the
// completion passes when the task's unit tests run clean in the sandbox (eval/sandbox.h).
//
// Official file: JSONL, {"task_id", "prompt", "canonical_solution", "test", "entry_point"}
// (canonical_solution is not used). A completion is cut at the first of "\ndef", "\nclass",
// "\nif __name__", "\nprint", "\n#"; the program run is prompt + completion + "\n" + test +
// "\ncheck(entry_point)\n". With n samples per task and c of them passing, pass@k is the
// unbiased estimator 1 - C(n-c, k) / C(n, k), averaged over tasks.
#pragma once

#include <atomic>
#include <istream>
#include <string>
#include <vector>

#include "eval/sandbox.h"
#include "eval/suite.h"

namespace hayate::eval {

struct HumanEvalItem {
  std::string task_id, prompt, test, entry_point;
  int line = 0;
};

// Throws Error(BadInput) naming path:line and the missing field, or a repeated task_id.
std::vector<HumanEvalItem> parse_humaneval(std::istream& in, const std::string& path);
std::vector<HumanEvalItem> read_humaneval(const std::string& path);

const std::vector<std::string>& humaneval_stops();
std::string truncate_completion(const std::string& completion);
std::string humaneval_program(const HumanEvalItem& item, const std::string& completion);

// 1 - C(n-c, k) / C(n, k); 1 when n - c < k. Error(BadInput) for k > n.
double pass_at_k(int n, int c, int k);

struct HumanEvalOptions {
  int samples = 1;
  double temperature = 0;
  int max_tokens = 512;
  uint64_t seed = 1234;
  std::vector<int> ks = {1};  // those above `samples` are left out of the metrics
  SandboxLimits limits;
  std::string python;  // "" : find_python()
};

class HumanEvalSuite : public Suite {
 public:
  HumanEvalSuite(std::vector<HumanEvalItem> items, HumanEvalOptions options);  // Error(NotFound): no python3
  std::string name() const override { return "humaneval"; }
  size_t size() const override { return items_.size(); }
  std::string id(size_t i) const override { return items_[i].task_id; }
  nlohmann::json run(size_t i, LanguageModel& model) override;
  nlohmann::ordered_json metrics(const std::vector<nlohmann::json>& records) const override;
  nlohmann::json settings() const override;

 private:
  std::vector<HumanEvalItem> items_;
  HumanEvalOptions o_;
  std::atomic<NetworkBlock> network_{NetworkBlock::Namespace};  // as the last sandbox run reported
};

}  // namespace hayate::eval
