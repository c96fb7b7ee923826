// Task files for `hayate eval tasks` and their scoring, independent of what generates the
// answers (the in-process Session or an OpenAI-compatible server), so the rules are tested once.
//
// A task file is JSONL, one item per line, blank lines skipped:
//   {"prompt": str, "answer": str, "task": str (optional, default "all")}              exact match
//   {"prompt": str, "choices": [str, ≥2], "answer": str (one of them) or int (0-based)} choice
// Both compare after normalize(): surrounding whitespace removed, inner runs of whitespace kept as
// they are; with ignore_case, ASCII letters compared in lower case. An empty answer is allowed
// and matches an output that is empty or only whitespace.
#pragma once

#include <functional>
#include <istream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hayate::eval {

struct TaskItem {
  std::string prompt, answer, task;
  std::vector<std::string> choices;  // empty: exact match
  int answer_index = -1;             // choice items: which choice is right
  int line = 0;                      // in its file, for messages
};

struct ScoreRules {
  bool ignore_case = false;
};

std::string normalize(const std::string& text, const ScoreRules& rules);

// Throws Error(BadInput) naming path:line and what is wrong.
std::vector<TaskItem> parse_task_items(std::istream& in, const std::string& path, const ScoreRules& rules);
std::vector<TaskItem> read_task_file(const std::string& path, const ScoreRules& rules);

struct ItemScore {
  bool correct = false;
  std::string output;         // normalized generated text
  std::optional<int> picked;  // choice items: the choice the output names, if any
};

// Choice items: the output picks the choice it equals; else the longest choice it starts with,
// followed by a non-alphanumeric character or the end; else a letter label ("B", "B)", "b.")
// counting choices from A. No pick is wrong.
ItemScore score_item(const TaskItem& item, const std::string& generated, const ScoreRules& rules);

struct TaskSummary {
  int items = 0, correct = 0;
  std::map<std::string, std::pair<int, int>> per_task;  // task -> (correct, items)
  double accuracy() const { return items ? static_cast<double>(correct) / items : 0; }
};

// Greedy answers from `generate` for each item, scored; per-item results go to `on_item`.
TaskSummary run_tasks(const std::vector<TaskItem>& items, const ScoreRules& rules,
                      const std::function<std::string(const TaskItem&)>& generate,
                      const std::function<void(size_t, const TaskItem&, const ItemScore&)>& on_item);

}  // namespace hayate::eval
