// Task file parsing and scoring (the rules are in tasks.h).
#include "eval/tasks.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "eval/jsonl.h"

namespace hayate::eval {
namespace {

using nlohmann::json;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// "B", "B)", "B.", "B:" (or lower case): the index of letter label B; nullopt otherwise.
std::optional<int> letter_label(const std::string& out, size_t n_choices) {
  if (out.empty() || !std::isalpha(static_cast<unsigned char>(out[0]))) return std::nullopt;
  if (out.size() > 1 && is_alnum(out[1])) return std::nullopt;
  const int index = std::toupper(static_cast<unsigned char>(out[0])) - 'A';
  if (index < 0 || static_cast<size_t>(index) >= n_choices) return std::nullopt;
  return index;
}

}  // namespace

std::string normalize(const std::string& text, const ScoreRules& rules) {
  size_t lo = 0, hi = text.size();
  while (lo < hi && is_space(text[lo])) ++lo;
  while (hi > lo && is_space(text[hi - 1])) --hi;
  std::string out = text.substr(lo, hi - lo);
  if (rules.ignore_case)
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<TaskItem> parse_task_items(std::istream& in, const std::string& path, const ScoreRules& rules) {
  std::vector<TaskItem> items;
  for_each_jsonl(in, path, [&](const json& j, int line_no) {
    const std::string where = path + ":" + std::to_string(line_no);
    auto bad = [&](const std::string& what) { fail(ErrorKind::BadInput, where + ": " + what); };
    if (!j.contains("prompt") || !j["prompt"].is_string()) bad("\"prompt\" must be a string");
    TaskItem it;
    it.prompt = j["prompt"];
    it.line = line_no;
    it.task = "all";
    if (j.contains("task")) {
      if (!j["task"].is_string()) bad("\"task\" must be a string");
      it.task = j["task"];
    }
    if (!j.contains("answer")) bad("missing \"answer\"");
    const json& answer = j["answer"];
    if (!j.contains("choices")) {
      if (!answer.is_string()) bad("\"answer\" must be a string (an integer answer needs \"choices\")");
      it.answer = answer;
      items.push_back(std::move(it));
      return;
    }
    const json& choices = j["choices"];
    if (!choices.is_array() || choices.size() < 2) bad("\"choices\" must be an array of at least 2 strings");
    for (const json& c : choices) {
      if (!c.is_string()) bad("\"choices\" must hold strings, got " + c.dump());
      const std::string norm = normalize(c, rules);
      if (norm.empty()) bad("a choice is empty");
      for (const std::string& prev : it.choices)
        if (normalize(prev, rules) == norm)
          bad("choices \"" + prev + "\" and \"" + c.get<std::string>() + "\" are the same");
      it.choices.push_back(c);
    }
    if (answer.is_number_integer()) {
      const int64_t i = answer.get<int64_t>();
      if (i < 0 || static_cast<size_t>(i) >= it.choices.size())
        bad("\"answer\" " + std::to_string(i) + " is not a choice index (0.." + std::to_string(it.choices.size() - 1) +
            ")");
      it.answer_index = static_cast<int>(i);
    } else if (answer.is_string()) {
      const std::string want = normalize(answer, rules);
      for (size_t i = 0; i < it.choices.size(); ++i)
        if (normalize(it.choices[i], rules) == want) it.answer_index = static_cast<int>(i);
      if (it.answer_index < 0) bad("\"answer\" \"" + answer.get<std::string>() + "\" is not one of the choices");
    } else {
      bad("\"answer\" must be a choice (string) or its 0-based index");
    }
    it.answer = it.choices[static_cast<size_t>(it.answer_index)];
    items.push_back(std::move(it));
  });
  if (items.empty()) fail(ErrorKind::BadInput, path + ": no items");
  return items;
}

std::vector<TaskItem> read_task_file(const std::string& path, const ScoreRules& rules) {
  std::ifstream f = open_input(path);
  return parse_task_items(f, path, rules);
}

ItemScore score_item(const TaskItem& item, const std::string& generated, const ScoreRules& rules) {
  ItemScore s;
  s.output = normalize(generated, rules);
  if (item.choices.empty()) {
    s.correct = s.output == normalize(item.answer, rules);
    return s;
  }
  size_t best_len = 0;
  for (size_t i = 0; i < item.choices.size(); ++i) {
    const std::string c = normalize(item.choices[i], rules);
    if (s.output == c) {
      s.picked = static_cast<int>(i);
      break;
    }
    const bool prefix = s.output.size() > c.size() && s.output.compare(0, c.size(), c) == 0 &&
                        (!is_alnum(s.output[c.size()]) || !is_alnum(c.back()));
    if (prefix && c.size() > best_len) best_len = c.size(), s.picked = static_cast<int>(i);
  }
  if (!s.picked) s.picked = letter_label(s.output, item.choices.size());
  s.correct = s.picked && *s.picked == item.answer_index;
  return s;
}

TaskSummary run_tasks(const std::vector<TaskItem>& items, const ScoreRules& rules,
                      const std::function<std::string(const TaskItem&)>& generate,
                      const std::function<void(size_t, const TaskItem&, const ItemScore&)>& on_item) {
  TaskSummary sum;
  for (size_t i = 0; i < items.size(); ++i) {
    const ItemScore s = score_item(items[i], generate(items[i]), rules);
    ++sum.items;
    sum.correct += s.correct;
    auto& [hit, n] = sum.per_task[items[i].task];
    hit += s.correct;
    ++n;
    if (on_item) on_item(i, items[i], s);
  }
  return sum;
}

}  // namespace hayate::eval
