// HumanEval's file, completion rule, sandboxed check and pass@k (humaneval.h).
#include "eval/humaneval.h"

#include <fstream>
#include <set>

#include "core/error.h"
#include "eval/jsonl.h"

namespace hayate::eval {

using nlohmann::json;

std::vector<HumanEvalItem> parse_humaneval(std::istream& in, const std::string& path) {
  std::vector<HumanEvalItem> items;
  std::set<std::string> seen;
  for_each_jsonl(in, path, [&](const json& j, int line) {
    const std::string where = path + ":" + std::to_string(line);
    HumanEvalItem it{string_field(j, "task_id", where), string_field(j, "prompt", where),
                     string_field(j, "test", where), string_field(j, "entry_point", where), line};
    if (it.entry_point.empty()) fail(ErrorKind::BadInput, where + ": \"entry_point\" is empty");
    if (!seen.insert(it.task_id).second)
      fail(ErrorKind::BadInput, where + ": task_id \"" + it.task_id + "\" appears twice");
    items.push_back(std::move(it));
  });
  if (items.empty()) fail(ErrorKind::BadInput, path + ": no items");
  return items;
}

std::vector<HumanEvalItem> read_humaneval(const std::string& path) {
  std::ifstream f = open_input(path);
  return parse_humaneval(f, path);
}

const std::vector<std::string>& humaneval_stops() {
  static const std::vector<std::string> stops = {"\ndef", "\nclass", "\nif __name__", "\nprint", "\n#"};
  return stops;
}

std::string truncate_completion(const std::string& completion) {
  size_t cut = completion.size();
  for (const std::string& s : humaneval_stops()) cut = std::min(cut, completion.find(s));
  return completion.substr(0, cut);
}

std::string humaneval_program(const HumanEvalItem& item, const std::string& completion) {
  return item.prompt + completion + "\n" + item.test + "\ncheck(" + item.entry_point + ")\n";
}

double pass_at_k(int n, int c, int k) {
  if (k < 1 || k > n)
    fail(ErrorKind::BadInput, "pass@" + std::to_string(k) + " needs at least " + std::to_string(k) +
                                  " samples per task (--samples), not " + std::to_string(n));
  if (n - c < k) return 1.0;
  // C(n-c, k) / C(n, k) = prod_{i = n-c+1}^{n} (1 - k / i), stable for large n.
  double miss = 1.0;
  for (int i = n - c + 1; i <= n; ++i) miss *= 1.0 - static_cast<double>(k) / i;
  return 1.0 - miss;
}

HumanEvalSuite::HumanEvalSuite(std::vector<HumanEvalItem> items, HumanEvalOptions options)
    : items_(std::move(items)), o_(std::move(options)) {
  if (o_.samples < 1) fail(ErrorKind::BadInput, "--samples must be at least 1");
  if (o_.python.empty()) o_.python = find_python();
  if (o_.python.empty())
    fail(ErrorKind::NotFound, "humaneval needs python3 (in /usr/bin or /usr/local/bin, or $HAYATE_PYTHON)");
  for (int k : o_.ks)
    if (k < 1) fail(ErrorKind::BadInput, "--k " + std::to_string(k) + ": k must be at least 1");
}

json HumanEvalSuite::run(size_t i, LanguageModel& model) {
  const HumanEvalItem& item = items_[i];
  json samples = json::array();
  int passed = 0;
  for (int s = 0; s < o_.samples; ++s) {
    GenerateRequest req;
    req.prompt = item.prompt;
    req.max_tokens = o_.max_tokens;
    req.temperature = o_.temperature;
    req.seed = o_.seed + static_cast<uint64_t>(s);
    req.stop = humaneval_stops();
    const std::string raw = model.generate(req);
    const std::string completion = truncate_completion(raw);
    const SandboxResult r = run_python_sandboxed(o_.python, humaneval_program(item, completion), o_.limits);
    network_ = r.network;
    passed += r.passed;
    json sample = {{"output", raw},
                   {"completion", completion},
                   {"passed", r.passed},
                   {"timed_out", r.timed_out},
                   {"exit_code", r.exit_code},
                   {"signal", r.signal},
                   {"sandbox", to_string(r.network)}};
    if (!r.passed) sample["stderr_tail"] = r.output.size() > 600 ? r.output.substr(r.output.size() - 600) : r.output;
    samples.push_back(std::move(sample));
  }
  return {{"line", item.line},
          {"prompt", item.prompt},
          {"samples", samples},
          {"n", o_.samples},
          {"passed", passed},
          {"correct", passed == o_.samples},
          {"score", static_cast<double>(passed) / o_.samples}};
}

nlohmann::ordered_json HumanEvalSuite::metrics(const std::vector<json>& records) const {
  nlohmann::ordered_json m;
  for (int k : o_.ks) {
    if (k > o_.samples) continue;
    double sum = 0;
    for (const json& r : records) sum += pass_at_k(r.value("n", o_.samples), r.value("passed", 0), k);
    m["pass@" + std::to_string(k)] = records.empty() ? 0.0 : sum / static_cast<double>(records.size());
  }
  return m;
}

json HumanEvalSuite::settings() const {
  return {{"samples", o_.samples},
          {"temperature", o_.temperature},
          {"max_tokens", o_.max_tokens},
          {"stop", humaneval_stops()},
          {"sandbox",
           {{"network", to_string(network_.load())},
            {"wall_ms", o_.limits.wall.count()},
            {"cpu_seconds", o_.limits.cpu_seconds},
            {"address_space_bytes", o_.limits.address_space},
            {"file_size_bytes", o_.limits.file_size},
            {"processes", o_.limits.processes}}}};
}

}  // namespace hayate::eval
