// GSM8K's file, prompt and final-number rule (gsm8k.h).
#include "eval/gsm8k.h"

#include <cctype>
#include <fstream>

#include "core/error.h"
#include "eval/jsonl.h"

namespace hayate::eval {

using nlohmann::json;

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A number starting at text[at] ("-", "$" or a digit): digits with commas between them, then
// "." and digits. Sets `end`; nullopt when there is no digit.
std::optional<std::string> number_at(const std::string& text, size_t at, size_t* end) {
  size_t i = at;
  std::string raw;
  if (i < text.size() && text[i] == '-') raw += text[i++];
  if (i < text.size() && text[i] == '$') ++i;
  if (i >= text.size() || !is_digit(text[i])) return std::nullopt;
  while (i < text.size() && (is_digit(text[i]) || (text[i] == ',' && i + 1 < text.size() && is_digit(text[i + 1]))))
    raw += text[i++];
  if (i + 1 < text.size() && text[i] == '.' && is_digit(text[i + 1])) {
    raw += text[i++];
    while (i < text.size() && is_digit(text[i])) raw += text[i++];
  }
  *end = i;
  return normalize_number(raw);
}

// Each number in order (a "-" counts only where no digit or letter precedes it: "3-4" is 3, 4).
std::vector<std::string> numbers_in(const std::string& text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size();) {
    const bool starts = is_digit(text[i]) || text[i] == '$' ||
                        (text[i] == '-' && (i == 0 || !std::isalnum(static_cast<unsigned char>(text[i - 1]))));
    size_t end = i;
    if (starts && (i == 0 || !is_digit(text[i - 1]))) {
      if (auto n = number_at(text, i, &end)) {
        out.push_back(*n);
        i = end;
        continue;
      }
    }
    ++i;
  }
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::optional<std::string> normalize_number(const std::string& text) {
  std::string s;
  for (char c : text)
    if (c != ',' && c != '$' && c != ' ') s += c;
  while (!s.empty() && s.back() == '.') s.pop_back();
  bool negative = !s.empty() && s[0] == '-';
  if (negative) s.erase(0, 1);
  if (s.empty() || !is_digit(s[0])) return std::nullopt;
  const size_t dot = s.find('.');
  for (size_t i = 0; i < s.size(); ++i)
    if (!is_digit(s[i]) && i != dot) return std::nullopt;
  if (dot != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  const size_t first = s.find_first_not_of('0');
  s = first == std::string::npos ? "0" : s[first] == '.' ? s.substr(first - 1) : s.substr(first);
  if (s == "0") negative = false;
  return negative ? "-" + s : s;
}

std::optional<std::string> extract_gsm8k_answer(const std::string& output) {
  const std::string low = lower(output);
  const size_t marker = low.rfind("the answer is");
  if (marker != std::string::npos) {
    const std::vector<std::string> after = numbers_in(output.substr(marker + 13));
    if (!after.empty()) return after.front();
  }
  const std::vector<std::string> all = numbers_in(output);
  if (all.empty()) return std::nullopt;
  return all.back();
}

std::vector<Gsm8kItem> parse_gsm8k(std::istream& in, const std::string& path) {
  std::vector<Gsm8kItem> items;
  for_each_jsonl(in, path, [&](const json& j, int line) {
    const std::string where = path + ":" + std::to_string(line);
    Gsm8kItem it;
    it.line = line;
    it.question = string_field(j, "question", where);
    const std::string answer = string_field(j, "answer", where);
    const size_t mark = answer.rfind("####");
    if (mark == std::string::npos) fail(ErrorKind::BadInput, where + ": \"answer\" has no \"#### N\" final line");
    std::optional<std::string> target = normalize_number(answer.substr(mark + 4));
    if (!target) fail(ErrorKind::BadInput, where + ": the text after \"####\" is not a number");
    it.target = *target;
    it.reasoning = answer.substr(0, mark);
    while (!it.reasoning.empty() && std::isspace(static_cast<unsigned char>(it.reasoning.back())))
      it.reasoning.pop_back();
    items.push_back(std::move(it));
  });
  if (items.empty()) fail(ErrorKind::BadInput, path + ": no items");
  return items;
}

std::vector<Gsm8kItem> read_gsm8k(const std::string& path) {
  std::ifstream f = open_input(path);
  return parse_gsm8k(f, path);
}

const std::vector<Gsm8kItem>& gsm8k_builtin_shots() {
  static const std::vector<Gsm8kItem> shots = {
      {"A baker fills 6 trays with 14 rolls each and sells 50 rolls by noon. How many rolls are left?",
       "The trays hold 6 * 14 = 84 rolls. After selling 50, 84 - 50 = 34 rolls are left.", "34"},
      {"Mina reads 12 pages on Monday and twice as many on Tuesday. How many pages did she read in the two days?",
       "On Tuesday she reads 2 * 12 = 24 pages. Together that is 12 + 24 = 36 pages.", "36"},
      {"A ticket costs $8 for adults and $5 for children. What do 3 adults and 4 children pay?",
       "Adults pay 3 * 8 = 24 dollars and children pay 4 * 5 = 20 dollars, so 24 + 20 = 44 dollars.", "44"},
      {"A tank holds 250 litres. A pump removes 15 litres a minute for 9 minutes. How many litres remain?",
       "The pump removes 15 * 9 = 135 litres, so 250 - 135 = 115 litres remain.", "115"},
      {"Kenji has 45 marbles and gives a third of them to his sister. How many does he keep?",
       "A third of 45 is 45 / 3 = 15, so he keeps 45 - 15 = 30 marbles.", "30"},
      {"A cyclist rides 18 km each day for 5 days, then 7 km on the sixth day. How far did she ride in all?",
       "In five days she rides 5 * 18 = 90 km. Adding the sixth day gives 90 + 7 = 97 km.", "97"},
      {"Four friends share a bill of $96 equally and each also leaves a $3 tip. How much does each pay?",
       "Each share of the bill is 96 / 4 = 24 dollars; with the tip each pays 24 + 3 = 27 dollars.", "27"},
      {"A garden has 7 rows of 9 tulips. Rabbits eat 8 tulips. How many tulips are left?",
       "There are 7 * 9 = 63 tulips, and 63 - 8 = 55 are left after the rabbits.", "55"},
  };
  return shots;
}

Gsm8kSuite::Gsm8kSuite(std::vector<Gsm8kItem> items, std::vector<Gsm8kItem> shots, int k, int max_tokens)
    : items_(std::move(items)), k_(k), max_tokens_(max_tokens) {
  if (k < 0 || static_cast<size_t>(k) > shots.size())
    fail(ErrorKind::BadInput,
         "--shots " + std::to_string(k) + ": only " + std::to_string(shots.size()) + " examples are available");
  for (int s = 0; s < k; ++s)
    preamble_ += "Q: " + shots[static_cast<size_t>(s)].question + "\nA: " + shots[static_cast<size_t>(s)].reasoning +
                 " The answer is " + shots[static_cast<size_t>(s)].target + ".\n\n";
}

std::string Gsm8kSuite::id(size_t i) const { return "line-" + std::to_string(items_[i].line); }

std::string Gsm8kSuite::prompt(size_t i) const { return preamble_ + "Q: " + items_[i].question + "\nA:"; }

json Gsm8kSuite::run(size_t i, LanguageModel& model) {
  GenerateRequest req;
  req.prompt = prompt(i);
  req.max_tokens = max_tokens_;
  req.stop = {"\nQ:", "\n\n\n"};
  const std::string output = model.generate(req);
  const std::optional<std::string> got = extract_gsm8k_answer(output);
  const bool correct = got && *got == items_[i].target;
  return {{"line", items_[i].line},     {"prompt", req.prompt},
          {"output", output},           {"extracted", got ? json(*got) : json(nullptr)},
          {"answer", items_[i].target}, {"correct", correct},
          {"score", correct ? 1 : 0}};
}

nlohmann::ordered_json Gsm8kSuite::metrics(const std::vector<json>& records) const {
  const Shares shares = record_shares(records);
  return {{"exact_match", shares.correct}, {"no_number", shares.unextracted}};
}

json Gsm8kSuite::settings() const { return {{"shots", k_}, {"max_tokens", max_tokens_}, {"stop", {"\nQ:", "\n\n\n"}}}; }

}  // namespace hayate::eval
