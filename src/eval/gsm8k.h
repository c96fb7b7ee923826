// GSM8K: grade-school word problems, scored by exact match of the final number.
//
// Official file: JSONL, {"question": str, "answer": str ending in "#### N"} (the reasoning, then
// the number). The prompt is k worked examples ("Q: ...\nA: <reasoning> The answer is N.\n\n"),
// from a train file of the same format or built in (written by this team), then the question.
// The number extracted from an output is the first after the last "The answer is", else the
// last number in it; both sides are normalised (commas, "$", a trailing ".", leading zeros and
// trailing decimal zeros dropped: "$1,200.50" -> "1200.5", "-3.0" -> "-3").
#pragma once

#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "eval/suite.h"

namespace hayate::eval {

struct Gsm8kItem {
  std::string question, reasoning, target;  // reasoning: the answer before "####"; target normalised
  int line = 0;
};

// Throws Error(BadInput) naming path:line (no question, no "#### N", N not a number).
std::vector<Gsm8kItem> parse_gsm8k(std::istream& in, const std::string& path);
std::vector<Gsm8kItem> read_gsm8k(const std::string& path);

const std::vector<Gsm8kItem>& gsm8k_builtin_shots();  // 8 examples

std::optional<std::string> normalize_number(const std::string& text);  // nullopt: not a number
std::optional<std::string> extract_gsm8k_answer(const std::string& output);

class Gsm8kSuite : public Suite {
 public:
  // shots: the first `k` are used; fewer than k is an Error(BadInput).
  Gsm8kSuite(std::vector<Gsm8kItem> items, std::vector<Gsm8kItem> shots, int k, int max_tokens);
  std::string name() const override { return "gsm8k"; }
  size_t size() const override { return items_.size(); }
  std::string id(size_t i) const override;
  nlohmann::json run(size_t i, LanguageModel& model) override;
  nlohmann::ordered_json metrics(const std::vector<nlohmann::json>& records) const override;
  nlohmann::json settings() const override;
  std::string prompt(size_t i) const;

 private:
  std::vector<Gsm8kItem> items_;
  std::string preamble_;  // the shots
  int k_, max_tokens_;
};

}  // namespace hayate::eval
