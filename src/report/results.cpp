// Parsing of the two result formats. Readers must accept unknown fields and null or absent
// optional ones (SERVE schema contract), but a field that is present with the wrong type is an
// error that names it, so a broken file is not silently charted as zeros.
#include "report/results.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace hayate::report {
namespace {

using nlohmann::json;

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void bad(const std::string& where, const std::string& what) const {
    fail(ErrorKind::BadInput, path_ + ": " + where + ": " + what);
  }

  std::optional<double> num(const json& j, const char* key, const std::string& where) const {
    if (!j.is_object() || !j.contains(key) || j[key].is_null()) return std::nullopt;
    if (!j[key].is_number()) bad(where + "." + key, "expected a number, got " + j[key].dump());
    return j[key].get<double>();
  }
  std::string str(const json& j, const char* key, const std::string& where) const {
    if (!j.is_object() || !j.contains(key) || j[key].is_null()) return "";
    if (!j[key].is_string()) bad(where + "." + key, "expected a string, got " + j[key].dump());
    return j[key].get<std::string>();
  }
  const json* obj(const json& j, const char* key, const std::string& where) const {
    if (!j.is_object() || !j.contains(key) || j[key].is_null()) return nullptr;
    if (!j[key].is_object()) bad(where + "." + key, "expected an object");
    return &j[key];
  }
  const json* arr(const json& j, const char* key, const std::string& where) const {
    if (!j.is_object() || !j.contains(key) || j[key].is_null()) return nullptr;
    if (!j[key].is_array()) bad(where + "." + key, "expected an array");
    return &j[key];
  }
  std::vector<double> numbers(const json& j, const char* key, const std::string& where) const {
    std::vector<double> out;
    if (const json* a = arr(j, key, where))
      for (const json& v : *a) {
        if (!v.is_number()) bad(where + "." + key, "expected numbers, got " + v.dump());
        out.push_back(v.get<double>());
      }
    return out;
  }

  Percentiles pct(const json& j, const char* key, const std::string& where) const {
    Percentiles p;
    const json* o = obj(j, key, where);
    if (!o) return p;
    const std::string w = where + "." + key;
    p.mean = num(*o, "mean", w);
    p.p50 = num(*o, "p50", w);
    p.p90 = num(*o, "p90", w);
    p.p95 = num(*o, "p95", w);
    p.p99 = num(*o, "p99", w);
    p.min = num(*o, "min", w);
    p.max = num(*o, "max", w);
    if (auto c = num(*o, "count", w)) p.count = static_cast<int64_t>(*c);
    return p;
  }

  void system(const json& root, ResultFile& f) const {
    const json* s = obj(root, "system", "system");
    if (!s) return;
    f.cpu_model = str(*s, "cpu_model", "system");
    f.load_average = numbers(*s, "load_average", "system");
    if (f.timestamp.empty()) f.timestamp = str(*s, "timestamp", "system");
  }

  ServeRun run(const json& j, const std::string& where) const {
    if (!j.is_object()) bad(where, "expected an object");
    ServeRun r;
    r.mode = str(j, "mode", where);
    r.concurrency = num(j, "concurrency", where);
    r.rate_rps = num(j, "rate_rps", where);
    r.duration_s = num(j, "duration_s", where);
    if (const json* q = obj(j, "requests", where)) {
      r.sent = static_cast<int64_t>(num(*q, "sent", where + ".requests").value_or(0));
      r.ok = static_cast<int64_t>(num(*q, "ok", where + ".requests").value_or(0));
      if (const json* e = obj(*q, "errors", where + ".requests"))
        for (const auto& [name, v] : e->items()) {
          if (!v.is_number()) bad(where + ".requests.errors." + name, "expected a count");
          r.errors += v.get<int64_t>();
        }
    }
    if (const json* t = obj(j, "throughput", where)) {
      r.requests_per_s = num(*t, "requests_per_s", where + ".throughput");
      r.output_tokens_per_s = num(*t, "output_tokens_per_s", where + ".throughput");
      r.total_tokens_per_s = num(*t, "total_tokens_per_s", where + ".throughput");
    }
    if (const json* l = obj(j, "latency_ms", where)) {
      r.ttft = pct(*l, "ttft", where + ".latency_ms");
      r.tpot = pct(*l, "tpot", where + ".latency_ms");
      r.itl = pct(*l, "itl", where + ".latency_ms");
      r.e2e = pct(*l, "e2e", where + ".latency_ms");
    }
    r.ttft_samples_ms = numbers(j, "ttft_samples_ms", where);
    r.degradation_vs_c1 = num(j, "degradation_vs_c1", where);
    if (const json* res = obj(j, "resources", where))
      if (const json* samples = arr(*res, "samples", where + ".resources"))
        for (const json& s : *samples) {
          const std::string w = where + ".resources.samples";
          if (auto rss = num(s, "rss_bytes", w))
            r.peak_rss_bytes = std::max<uint64_t>(r.peak_rss_bytes.value_or(0), static_cast<uint64_t>(*rss));
          if (auto gpu = num(s, "gpu_mem_bytes", w))
            r.peak_gpu_mem_bytes = std::max<uint64_t>(r.peak_gpu_mem_bytes.value_or(0), static_cast<uint64_t>(*gpu));
        }
    if (const json* s = obj(j, "resource_summary", where)) {
      const std::string w = where + ".resource_summary";
      r.energy_per_output_token_j = num(*s, "energy_per_output_token_j", w);
      r.mean_gpu_power_w = num(*s, "mean_gpu_power_w", w);
      r.peak_gpu_temp_c = num(*s, "peak_gpu_temp_c", w);
      r.tokens_per_s_per_gb = num(*s, "output_tokens_per_s_per_gb", w);
    }
    if (const json* c = obj(j, "context_retention", where))
      r.retention_score = num(*c, "score", where + ".context_retention");
    return r;
  }

  void serve(const json& root, ResultFile& f) const {
    f.kind = ResultKind::Serve;
    f.timestamp = str(root, "started_at", "started_at");
    f.gpu_note = str(root, "gpu_note", "gpu_note");
    system(root, f);
    const json* targets = arr(root, "targets", "targets");
    if (!targets) bad("targets", "missing: a serve result needs a \"targets\" array");
    for (size_t i = 0; i < targets->size(); ++i) {
      const json& t = (*targets)[i];
      const std::string where = "targets[" + std::to_string(i) + "]";
      if (!t.is_object()) bad(where, "expected an object");
      ServeTarget target;
      target.url = str(t, "url", where);
      target.label = str(t, "label", where);
      if (target.label.empty()) target.label = target.url.empty() ? "target " + std::to_string(i + 1) : target.url;
      target.server = str(t, "server", where);
      target.model = str(t, "model", where);
      target.format = str(t, "format", where);
      if (target.format.empty()) target.format = detect_format(target.model);
      if (target.format.empty()) target.format = detect_format(target.label);
      if (const json* w = obj(t, "workload", where)) target.workload = str(*w, "name", where + ".workload");
      if (const json* runs = arr(t, "runs", where))
        for (size_t k = 0; k < runs->size(); ++k)
          target.runs.push_back(run((*runs)[k], where + ".runs[" + std::to_string(k) + "]"));
      f.targets.push_back(std::move(target));
    }
  }

  void eval(const json& root, ResultFile& f) const {
    f.kind = ResultKind::Eval;
    EvalSummary e;
    e.suite = str(root, "suite", "suite");
    if (e.suite.empty()) bad("suite", "missing: an eval summary names its suite");
    e.model = str(root, "model", "model");
    e.format = str(root, "format", "format");
    if (e.format.empty()) e.format = detect_format(e.model);
    e.server = str(root, "server", "server");
    e.items = static_cast<int64_t>(num(root, "items", "items").value_or(0));
    e.wall_s = num(root, "wall_s", "wall_s");
    for (const auto& [name, v] : root["metrics"].items()) {
      if (v.is_null()) continue;
      if (!v.is_number()) bad("metrics." + name, "expected a number, got " + v.dump());
      e.metrics.emplace_back(name, v.get<double>());
    }
    f.timestamp = str(root, "started_at", "started_at");
    f.evals.push_back(std::move(e));
  }

  void model(const json& root, ResultFile& f) const {
    f.kind = ResultKind::Model;
    system(root, f);
    const json& results = root["results"];
    for (size_t i = 0; i < results.size(); ++i) {
      const json& j = results[i];
      const std::string where = "results[" + std::to_string(i) + "]";
      if (!j.is_object()) bad(where, "expected an object");
      ModelRow r;
      r.model_file = str(j, "model_file", where);
      r.model_name = str(j, "model_name", where);
      r.arch = str(j, "arch", where);
      r.file_type = str(j, "file_type", where);
      r.backend = str(j, "backend", where);
      r.device = str(j, "device", where);
      r.test = str(j, "test", where);
      if (r.test.empty()) bad(where + ".test", "missing");
      r.n_threads = static_cast<int>(num(j, "n_threads", where).value_or(0));
      r.n_prompt = static_cast<int32_t>(num(j, "n_prompt", where).value_or(0));
      r.n_gen = static_cast<int32_t>(num(j, "n_gen", where).value_or(0));
      r.model_size_bytes = static_cast<uint64_t>(num(j, "model_size_bytes", where).value_or(0));
      r.n_params = static_cast<uint64_t>(num(j, "n_params", where).value_or(0));
      const auto avg = num(j, "avg_ts", where);
      if (!avg) bad(where + ".avg_ts", "missing: each result needs its tokens per second");
      r.avg_ts = *avg;
      r.stddev_ts = num(j, "stddev_ts", where).value_or(0);
      r.rss_peak_bytes = static_cast<uint64_t>(num(j, "rss_peak_bytes", where).value_or(0));
      if (auto g = num(j, "gpu_memory_bytes", where)) r.gpu_memory_bytes = static_cast<uint64_t>(*g);
      f.rows.push_back(std::move(r));
    }
  }

 private:
  std::string path_;
};

}  // namespace

std::string detect_format(const std::string& text) {
  std::string upper;
  for (char c : text) upper += static_cast<char>(c == '-' ? '_' : std::toupper(static_cast<unsigned char>(c)));
  // Longer names first, so "Q4_K_M" is not taken for "Q4_K".
  static const char* kFormats[] = {"Q4_K_M", "Q4_K_S", "Q5_K_M", "Q5_K_S", "Q3_K_M", "Q3_K_S", "Q3_K_L",
                                   "Q2_K",   "Q6_K",   "Q4_K",   "Q5_K",   "Q8_0",   "Q4_0",   "Q4_1",
                                   "Q5_0",   "Q5_1",   "IQ4_XS", "BF16",   "FP16",   "F16",    "F32"};
  for (const char* f : kFormats) {
    const size_t at = upper.find(f);
    if (at == std::string::npos) continue;
    const size_t end = at + std::strlen(f);
    // Whole names only: "F16" inside "Q4_F16X" or a word like "OFF16" is not a format.
    const bool left_ok = at == 0 || !std::isalnum(static_cast<unsigned char>(upper[at - 1]));
    const bool right_ok = end == upper.size() || !std::isalnum(static_cast<unsigned char>(upper[end]));
    if (left_ok && right_ok) return std::string(f) == "FP16" ? "F16" : f;
  }
  return "";
}

std::optional<double> EvalSummary::score() const {
  if (metrics.empty()) return std::nullopt;
  double v = metrics.front().second;
  for (const char* headline : {"accuracy", "pass@1", "exact_match"}) {
    auto it = std::find_if(metrics.begin(), metrics.end(), [&](const auto& m) { return m.first == headline; });
    if (it != metrics.end()) {
      v = it->second;
      break;
    }
  }
  return v > 1.0 ? v / 100.0 : v;
}

std::string ModelRow::config() const {
  std::string name = model_name.empty() ? model_file : model_name;
  return name + " · " + file_type + " · " + backend + " · " + std::to_string(n_threads) +
         (n_threads == 1 ? " thread" : " threads");
}

ResultFile parse_result(const std::string& text, const std::string& path) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    fail(ErrorKind::BadInput, path + ": not JSON (" + e.what() + ")");
  }
  ResultFile f;
  f.path = path;
  f.name = std::filesystem::path(path).filename().string();
  Reader reader(path);
  if (root.is_object() && root.contains("suite") && root.contains("metrics")) {
    if (!root["metrics"].is_object()) fail(ErrorKind::BadInput, path + ": metrics: expected an object {name: value}");
    reader.eval(root, f);
    return f;
  }
  if (root.is_object() && root.contains("schema") && root["schema"].is_string()) {
    const std::string schema = root["schema"];
    if (schema == "hayate.bench.serve/1") {
      reader.serve(root, f);
      return f;
    }
    if (schema.rfind("hayate.bench.serve/", 0) == 0)
      fail(ErrorKind::Unsupported,
           path + ": schema \"" + schema + "\" is newer than this report reads (hayate.bench.serve/1)");
    fail(ErrorKind::BadInput, path + ": unknown schema \"" + schema + "\"");
  }
  if (root.is_object() && root.contains("results") && root["results"].is_array()) {
    reader.model(root, f);
    return f;
  }
  fail(ErrorKind::BadInput,
       path +
           ": neither a `hayate bench serve` result (\"schema\": \"hayate.bench.serve/1\") nor a "
           "`hayate bench model -o json` result (\"results\": [...]) nor a `hayate eval` summary (\"suite\", "
           "\"metrics\": {...})");
}

ResultFile load_result_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::NotFound, path + ": cannot open");
  return parse_result(std::string(std::istreambuf_iterator<char>(in), {}), path);
}

}  // namespace hayate::report
