// JGLUE's files, prompts and the two scorings (jglue.h). The prompts are this team's own wording.
#include "eval/jglue.h"

#include <cmath>
#include <fstream>
#include <set>

#include "core/error.h"
#include "eval/jsonl.h"

namespace hayate::eval {

using nlohmann::json;

namespace {

struct LabelSet {
  std::vector<std::string> english, japanese;
};
const LabelSet kNli{{"entailment", "contradiction", "neutral"}, {"含意", "矛盾", "中立"}};
const LabelSet kSentiment{{"positive", "negative"}, {"ポジティブ", "ネガティブ"}};

int label_index(const json& j, const LabelSet& labels, const std::string& where) {
  const std::string label = string_field(j, "label", where);
  for (size_t i = 0; i < labels.english.size(); ++i)
    if (labels.english[i] == label) return static_cast<int>(i);
  std::string known;
  for (const std::string& l : labels.english) known += (known.empty() ? "" : ", ") + l;
  fail(ErrorKind::BadInput, where + ": \"label\" \"" + label + "\" is not one of " + known);
}

std::string lower_ascii(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

}  // namespace

std::optional<JglueTask> jglue_task(const std::string& name) {
  if (name == "jcommonsenseqa") return JglueTask::JCommonsenseQA;
  if (name == "jnli") return JglueTask::Jnli;
  if (name == "marc-ja") return JglueTask::MarcJa;
  return std::nullopt;
}

const char* to_string(JglueTask task) {
  switch (task) {
    case JglueTask::JCommonsenseQA:
      return "jcommonsenseqa";
    case JglueTask::Jnli:
      return "jnli";
    case JglueTask::MarcJa:
      return "marc-ja";
  }
  return "?";
}

std::vector<JglueItem> parse_jglue(JglueTask task, std::istream& in, const std::string& path) {
  std::vector<JglueItem> items;
  std::set<std::string> seen;
  for_each_jsonl(in, path, [&](const json& j, int line) {
    const std::string where = path + ":" + std::to_string(line);
    JglueItem it;
    it.line = line;
    if (task == JglueTask::JCommonsenseQA) {
      it.id = id_field(j, "q_id", where);
      it.fields = {string_field(j, "question", where)};
      for (int c = 0; c < 5; ++c) it.choices.push_back(string_field(j, ("choice" + std::to_string(c)).c_str(), where));
      it.aliases.assign(5, "");
      const auto label = j.find("label");
      if (label == j.end() || !label->is_number_integer() || label->get<int64_t>() < 0 || label->get<int64_t>() > 4)
        fail(ErrorKind::BadInput, where + ": \"label\" must be a choice number 0..4");
      it.label = label->get<int>();
    } else if (task == JglueTask::Jnli) {
      it.id = id_field(j, "sentence_pair_id", where);
      it.fields = {string_field(j, "sentence1", where), string_field(j, "sentence2", where)};
      it.choices = kNli.japanese;
      it.aliases = kNli.english;
      it.label = label_index(j, kNli, where);
    } else {
      it.id = j.contains("review_id") ? id_field(j, "review_id", where) : "line-" + std::to_string(line);
      it.fields = {string_field(j, "sentence", where)};
      it.choices = kSentiment.japanese;
      it.aliases = kSentiment.english;
      it.label = label_index(j, kSentiment, where);
    }
    if (!seen.insert(it.id).second) fail(ErrorKind::BadInput, where + ": id \"" + it.id + "\" appears twice");
    items.push_back(std::move(it));
  });
  if (items.empty()) fail(ErrorKind::BadInput, path + ": no items");
  return items;
}

std::vector<JglueItem> read_jglue(JglueTask task, const std::string& path) {
  std::ifstream f = open_input(path);
  return parse_jglue(task, f, path);
}

std::string jglue_prompt(JglueTask task, const JglueItem& item, ChoiceScoring scoring) {
  const bool gen = scoring == ChoiceScoring::Generate;
  switch (task) {
    case JglueTask::JCommonsenseQA: {
      std::string p = "質問：" + item.fields[0] + "\n";
      if (gen) {
        p += "選択肢：";
        for (size_t c = 0; c < item.choices.size(); ++c)
          p += (c ? "、" : "") + std::to_string(c) + "." + item.choices[c];
        p += "\n";
      }
      return p + "答え：";
    }
    case JglueTask::Jnli:
      return "前提：" + item.fields[0] + "\n仮説：" + item.fields[1] + "\n関係（含意・矛盾・中立）：";
    case JglueTask::MarcJa:
      return "レビュー：" + item.fields[0] + "\n評価（ポジティブ・ネガティブ）：";
  }
  return "";
}

std::optional<int> jglue_pick(JglueTask task, const JglueItem& item, const std::string& output) {
  const size_t start = output.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return std::nullopt;
  const std::string text = lower_ascii(output.substr(start));
  if (task == JglueTask::JCommonsenseQA && text[0] >= '0' && text[0] <= '4' &&
      (text.size() == 1 || !(text[1] >= '0' && text[1] <= '9')))
    return text[0] - '0';
  // The earliest mention wins; at the same place, the longer name.
  std::optional<int> best;
  size_t best_at = std::string::npos, best_len = 0;
  for (size_t c = 0; c < item.choices.size(); ++c)
    for (const std::string& name : {item.choices[c], lower_ascii(item.aliases[c])}) {
      if (name.empty()) continue;
      const size_t at = text.find(name);
      if (at == std::string::npos) continue;
      if (at < best_at || (at == best_at && name.size() > best_len))
        best = static_cast<int>(c), best_at = at, best_len = name.size();
    }
  return best;
}

JglueSuite::JglueSuite(JglueTask task, std::vector<JglueItem> items, ChoiceScoring scoring, int max_tokens)
    : task_(task), items_(std::move(items)), scoring_(scoring), max_tokens_(max_tokens) {}

json JglueSuite::run(size_t i, LanguageModel& model) {
  const JglueItem& item = items_[i];
  const std::string prompt = jglue_prompt(task_, item, scoring_);
  json r = {{"line", item.line}, {"prompt", prompt}, {"answer", item.label}};
  std::optional<int> picked;
  if (scoring_ == ChoiceScoring::LogLikelihood) {
    json lls = json::array();
    double best = -INFINITY;
    for (size_t c = 0; c < item.choices.size(); ++c) {
      const double ll = model.loglikelihood(prompt, item.choices[c]);
      lls.push_back(ll);
      if (!picked || ll > best) best = ll, picked = static_cast<int>(c);
    }
    r["loglikelihoods"] = lls;
  } else {
    GenerateRequest req;
    req.prompt = prompt;
    req.max_tokens = max_tokens_;
    req.stop = {"\n"};
    const std::string output = model.generate(req);
    r["output"] = output;
    picked = jglue_pick(task_, item, output);
  }
  const bool correct = picked && *picked == item.label;
  r["extracted"] = picked ? json(*picked) : json(nullptr);
  r["correct"] = correct;
  r["score"] = correct ? 1 : 0;
  return r;
}

nlohmann::ordered_json JglueSuite::metrics(const std::vector<json>& records) const {
  const Shares shares = record_shares(records);
  nlohmann::ordered_json m = {{"accuracy", shares.correct}};
  if (scoring_ == ChoiceScoring::Generate) m["no_label"] = shares.unextracted;
  return m;
}

json JglueSuite::settings() const {
  json s = {{"scoring", scoring_ == ChoiceScoring::LogLikelihood ? "loglik" : "generate"}};
  if (scoring_ == ChoiceScoring::Generate) s["max_tokens"] = max_tokens_;
  return s;
}

}  // namespace hayate::eval
