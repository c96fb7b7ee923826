// JGLUE's multiple-choice and classification tasks, in their official JSONL files:
//   JCommonsenseQA {"q_id", "question", "choice0".."choice4", "label": 0..4}
//   JNLI           {"sentence_pair_id", "sentence1", "sentence2", "label": "entailment" | "contradiction" | "neutral"}
//   MARC-ja        {"sentence", "label": "positive" | "negative"} (id: "review_id" if there, else the line)
// Scored two ways, accuracy either way:
//   loglik:   the choice whose text has the highest log-likelihood after the prompt (JNLI's and
//             MARC-ja's choices are Japanese label words: 含意/矛盾/中立, ポジティブ/ネガティブ);
//   generate: a greedy answer, the label read from it: the choice (or, for JNLI and MARC-ja, the
//             English label) that appears first in the output, or for JCommonsenseQA a leading
//             choice number 0-4.
#pragma once

#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "eval/suite.h"

namespace hayate::eval {

enum class JglueTask { JCommonsenseQA, Jnli, MarcJa };
enum class ChoiceScoring { LogLikelihood, Generate };

// "jcommonsenseqa", "jnli", "marc-ja"; nullopt for another name.
std::optional<JglueTask> jglue_task(const std::string& name);
const char* to_string(JglueTask task);

struct JglueItem {
  std::string id;
  std::vector<std::string> fields;   // question, or sentence1 + sentence2, or sentence
  std::vector<std::string> choices;  // what log-likelihood scores
  std::vector<std::string> aliases;  // other names of each choice a generated answer may use ("" none)
  int label = -1;
  int line = 0;
};

// Throws Error(BadInput) naming path:line and the field (missing, wrong type, unknown label).
std::vector<JglueItem> parse_jglue(JglueTask task, std::istream& in, const std::string& path);
std::vector<JglueItem> read_jglue(JglueTask task, const std::string& path);

// The prompt the choice follows (loglik) or that asks for an answer (generate).
std::string jglue_prompt(JglueTask task, const JglueItem& item, ChoiceScoring scoring);
// The choice a generated answer names; nullopt when it names none.
std::optional<int> jglue_pick(JglueTask task, const JglueItem& item, const std::string& output);

class JglueSuite : public Suite {
 public:
  JglueSuite(JglueTask task, std::vector<JglueItem> items, ChoiceScoring scoring, int max_tokens = 16);
  std::string name() const override { return to_string(task_); }
  size_t size() const override { return items_.size(); }
  std::string id(size_t i) const override { return items_[i].id; }
  nlohmann::json run(size_t i, LanguageModel& model) override;
  nlohmann::ordered_json metrics(const std::vector<nlohmann::json>& records) const override;
  nlohmann::json settings() const override;

 private:
  JglueTask task_;
  std::vector<JglueItem> items_;
  ChoiceScoring scoring_;
  int max_tokens_;
};

}  // namespace hayate::eval
