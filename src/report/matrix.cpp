// The configuration matrix and its Pareto fronts. A row is keyed by model, format and server;
// every figure in it is read from one measurement, never averaged across files, so a reader can
// find it again in the raw tables.
#include "report/matrix.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "report/svg.h"

namespace hayate::report {
namespace {

void keep_max(std::optional<double>& slot, std::optional<double> v) {
  if (v && (!slot || *v > *slot)) slot = v;
}
void keep_min(std::optional<double>& slot, std::optional<double> v) {
  if (v && (!slot || *v < *slot)) slot = v;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class Rows {
 public:
  Config& at(const std::string& model, const std::string& format, const std::string& server, const std::string& file) {
    for (Config& c : rows_)
      if (c.model == model && c.format == format && c.server == server) {
        if (c.source.find(file) == std::string::npos) c.source += ", " + file;
        return c;
      }
    Config c;
    c.model = model, c.format = format, c.server = server, c.source = file;
    rows_.push_back(std::move(c));
    return rows_.back();
  }
  std::vector<Config>& all() { return rows_; }

 private:
  std::vector<Config> rows_;
};

void add_serve(Rows& rows, const ResultFile& f, const ServeTarget& t) {
  const bool labelled = !t.label.empty() && t.label != t.url;
  Config& c = rows.at(t.model, t.format, labelled ? t.label : (t.server.empty() ? t.url : t.server), f.name);
  std::optional<double> lowest_summary_c;
  for (const ServeRun& r : t.runs) {
    const bool clean = r.errors == 0;
    if (clean) keep_max(c.best_tps, r.output_tokens_per_s);
    if (t.workload == "retention") keep_max(c.retention, r.retention_score);
    if (r.peak_gpu_mem_bytes) {
      if (c.memory_basis != "GPU") c.memory_bytes.reset();
      c.memory_basis = "GPU";
      keep_max(c.memory_bytes, static_cast<double>(*r.peak_gpu_mem_bytes));
    } else if (r.peak_rss_bytes && c.memory_basis != "GPU") {
      c.memory_basis = "RSS";
      keep_max(c.memory_bytes, static_cast<double>(*r.peak_rss_bytes));
    }
    keep_min(c.energy_per_token_j, r.energy_per_output_token_j);
    if (r.mode != "concurrency" || !r.concurrency || !clean) continue;
    // Long prompts: the summary workload's TTFT at its lowest concurrency stands for RAG.
    if (t.workload == "summary" && r.ttft.p90 && (!lowest_summary_c || *r.concurrency < *lowest_summary_c)) {
      lowest_summary_c = r.concurrency;
      c.ttft_p90_long_prompt = r.ttft.p90;
    }
    // One user and ten users are taken from the short-prompt workloads the ladder runs.
    if (t.workload == "summary" || t.workload == "retention") continue;
    if (*r.concurrency == 1) {
      keep_max(c.tps_1, r.output_tokens_per_s);
      if (r.ttft.p90 && (!c.ttft_p90_1 || *r.ttft.p90 < *c.ttft_p90_1)) c.ttft_p90_1 = r.ttft.p90;
    }
    if (*r.concurrency == 10) keep_max(c.tps_10, r.output_tokens_per_s);
  }
}

void add_model_rows(Rows& rows, const ResultFile& f) {
  for (const ModelRow& r : f.rows) {
    const std::string model = r.model_name.empty() ? r.model_file : r.model_name;
    std::string format = r.file_type.empty() ? detect_format(r.model_file) : r.file_type;
    Config& c = rows.at(model, format, "in-process (" + r.backend + ")", f.name);
    if (!r.is_prompt()) keep_max(c.tps_1, r.avg_ts), keep_max(c.best_tps, r.avg_ts);
    const std::optional<double> gpu =
        r.gpu_memory_bytes ? std::optional<double>(static_cast<double>(*r.gpu_memory_bytes)) : std::nullopt;
    if (gpu) {
      if (c.memory_basis != "GPU") c.memory_bytes.reset();
      c.memory_basis = "GPU";
      keep_max(c.memory_bytes, gpu);
    } else if (r.rss_peak_bytes && c.memory_basis != "GPU") {
      c.memory_basis = "RSS";
      keep_max(c.memory_bytes, static_cast<double>(r.rss_peak_bytes));
    }
  }
}

// An eval summary belongs to the rows of its model and format; where several servers share
// those, to the one its server names.
void add_eval(std::vector<Config>& rows, const EvalSummary& e) {
  const std::optional<double> score = e.score();
  if (!score) return;
  std::vector<Config*> same;
  for (Config& c : rows)
    if (lower(c.model) == lower(e.model) && lower(c.format) == lower(e.format)) same.push_back(&c);
  if (same.size() > 1 && !e.server.empty()) {
    std::vector<Config*> named;
    for (Config* c : same)
      if (lower(c->server).find(lower(e.server)) != std::string::npos) named.push_back(c);
    if (!named.empty()) same = named;
  }
  if (same.empty()) {  // a model measured for quality only: a row without speed, off the fronts
    Config c;
    c.model = e.model, c.format = e.format, c.server = e.server.empty() ? "eval" : e.server, c.source = "eval";
    c.quality[e.suite] = *score;
    rows.push_back(std::move(c));
    return;
  }
  for (Config* c : same) c->quality[e.suite] = *score;
}

}  // namespace

std::string Config::name() const {
  return (model.empty() ? std::string("?") : model) + " · " + (format.empty() ? std::string("?") : format) + " · " +
         server;
}

std::optional<double> Config::quality_mean() const {
  if (quality.empty()) return std::nullopt;
  double sum = 0;
  for (const auto& [suite, v] : quality) sum += v;
  return sum / static_cast<double>(quality.size());
}

std::optional<double> Config::tokens_per_s_per_gb() const {
  const auto s = speed();
  if (!s || !memory_bytes || *memory_bytes <= 0) return std::nullopt;
  return *s / (*memory_bytes / 1e9);
}

std::vector<size_t> pareto_front(const std::vector<std::optional<double>>& x,
                                 const std::vector<std::optional<double>>& y) {
  std::vector<size_t> front;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!x[i] || !y[i]) continue;
    bool beaten = false;
    for (size_t j = 0; j < x.size() && !beaten; ++j)
      beaten = j != i && x[j] && y[j] && *x[j] >= *x[i] && *y[j] >= *y[i] && (*x[j] > *x[i] || *y[j] > *y[i]);
    if (!beaten) front.push_back(i);
  }
  return front;
}

std::vector<Config> build_matrix(const std::vector<ResultFile>& files) {
  Rows rows;
  for (const ResultFile& f : files) {
    for (const ServeTarget& t : f.targets) add_serve(rows, f, t);
    add_model_rows(rows, f);
  }
  std::vector<Config>& out = rows.all();
  for (const ResultFile& f : files)
    for (const EvalSummary& e : f.evals) add_eval(out, e);
  std::vector<std::optional<double>> speed, quality, neg_memory;
  for (const Config& c : out) {
    speed.push_back(c.speed());
    quality.push_back(c.quality_mean());
    neg_memory.push_back(c.memory_bytes ? std::optional<double>(-*c.memory_bytes) : std::nullopt);
  }
  for (size_t i : pareto_front(speed, quality)) out[i].pareto_quality = true;
  for (size_t i : pareto_front(speed, neg_memory)) out[i].pareto_memory = true;
  return out;
}

}  // namespace hayate::report

namespace hayate::report {

MatrixTable matrix_table(const std::vector<Config>& rows) {
  std::set<std::string> suites;
  for (const Config& c : rows)
    for (const auto& [suite, v] : c.quality) suites.insert(suite);
  MatrixTable t;
  t.header = {"configuration (model · format · server)", "tok/s, 1 user", "tok/s each, 10 users", "TTFT p90, 1 user"};
  for (const std::string& s : suites) t.header.push_back(s);
  for (const char* h : {"mean quality", "peak memory", "tok/s per GB", "J per token", "retention", "Pareto front"})
    t.header.push_back(h);
  auto num = [](std::optional<double> v, const std::string& unit = "") {
    return v ? short_number(*v) + unit : std::string("–");
  };
  auto pct = [](std::optional<double> v) { return v ? short_number(*v * 100) + "%" : std::string("–"); };
  for (const Config& c : rows) {
    std::vector<std::string> r = {c.name(), num(c.tps_1), num(c.per_user_at_10()), num(c.ttft_p90_1, " ms")};
    for (const std::string& s : suites) {
      auto it = c.quality.find(s);
      r.push_back(it == c.quality.end() ? "–" : pct(it->second));
    }
    r.push_back(pct(c.quality_mean()));
    r.push_back(c.memory_bytes ? short_bytes(*c.memory_bytes) + " " + c.memory_basis : "–");
    r.push_back(num(c.tokens_per_s_per_gb()));
    r.push_back(num(c.energy_per_token_j));
    r.push_back(pct(c.retention));
    std::string front;
    if (c.pareto_quality) front = "★ speed×quality";
    if (c.pareto_memory) front += std::string(front.empty() ? "" : ", ") + "★ speed×memory";
    r.push_back(front.empty() ? "–" : front);
    t.cells.push_back(std::move(r));
    t.on_front.push_back(c.pareto_quality || c.pareto_memory);
  }
  return t;
}

}  // namespace hayate::report

namespace hayate::report {

std::string kind_name(const ResultFile& f) {
  if (f.kind == ResultKind::Serve) return "bench serve";
  if (f.kind == ResultKind::Model) return "bench model";
  return "eval " + (f.evals.empty() ? std::string() : f.evals.front().suite);
}

std::vector<std::string> measurement_notes(const std::vector<ResultFile>& files, const std::vector<Config>& rows) {
  std::vector<std::string> notes = {
      "tok/s, 1 user: output tokens/s at concurrency 1 (bench serve, short-prompt workloads) or the generation "
      "speed (bench model tg); tok/s each, 10 users: output tokens/s at concurrency 10 ÷ 10; peak memory: the GPU "
      "memory in use where NVML was sampled, else the server's resident memory (RSS); tok/s per GB: one user's "
      "tokens/s ÷ that memory in 10^9 bytes; quality: each suite's headline score (accuracy, pass@1 or exact "
      "match); the Pareto fronts hold the rows no other row beats on both speed and quality, or on both speed and "
      "(smaller) memory."};
  std::map<std::string, std::string> no_gpu;  // note -> the files that give it
  for (const ResultFile& f : files)
    if (f.kind == ResultKind::Serve && !f.gpu_note.empty())
      no_gpu[f.gpu_note] += (no_gpu[f.gpu_note].empty() ? "" : ", ") + f.name;
  for (const auto& [note, names] : no_gpu)
    notes.push_back(names + ": no GPU was sampled (" + note +
                    "), so power, temperature, energy per token and GPU memory are absent, not zero.");
  if (std::none_of(rows.begin(), rows.end(), [](const Config& c) { return c.energy_per_token_j.has_value(); }))
    notes.push_back("Energy per token: not measured (no GPU power samples in these files).");
  if (std::none_of(rows.begin(), rows.end(), [](const Config& c) { return !c.quality.empty(); }))
    notes.push_back(
        "Quality: no `hayate eval` summary among the files, so the fronts and picks judge speed and "
        "memory only.");
  return notes;
}

}  // namespace hayate::report
