// The two reports of serve_bench.h: the results JSON (docs/bench-serve-results.md) and a
// Markdown table per target.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bench/serve_bench.h"

namespace hayate::bench {
namespace {

using Json = nlohmann::ordered_json;

template <typename T>
Json optional_json(const std::optional<T>& v) {
  return v ? Json(*v) : Json(nullptr);
}

// Writes the fields that were measured and leaves the others out, so nothing reads as a zero.
template <typename S, typename T, size_t N>
void put_measured(Json& j, const S& from, const std::pair<const char*, std::optional<T> S::*> (&fields)[N]) {
  for (const auto& [key, field] : fields)
    if (from.*field) j[key] = *(from.*field);
}

Json summary_json(const ResourceSummary& r) {
  Json j = Json::object();
  const std::pair<const char*, std::optional<uint64_t> ResourceSummary::*> bytes[] = {
      {"peak_rss_bytes", &ResourceSummary::peak_rss_bytes},
      {"peak_gpu_mem_bytes", &ResourceSummary::peak_gpu_mem_bytes}};
  const std::pair<const char*, std::optional<double> ResourceSummary::*> figures[] = {
      {"cpu_time_s", &ResourceSummary::cpu_time_s},
      {"mean_gpu_util_pct", &ResourceSummary::mean_gpu_util_pct},
      {"mean_gpu_mem_util_pct", &ResourceSummary::mean_gpu_mem_util_pct},
      {"peak_gpu_temp_c", &ResourceSummary::peak_gpu_temp_c},
      {"mean_gpu_power_w", &ResourceSummary::mean_gpu_power_w},
      {"energy_j", &ResourceSummary::energy_j},
      {"energy_per_output_token_j", &ResourceSummary::energy_per_output_token_j},
      {"output_tokens_per_s_per_gb", &ResourceSummary::output_tokens_per_s_per_gb}};
  put_measured(j, r, bytes);
  put_measured(j, r, figures);
  if (!r.memory_basis.empty()) j["memory_basis"] = r.memory_basis;
  return j;
}

Json percentiles_json(const Percentiles& p) {
  if (p.count == 0)
    return {{"mean", nullptr}, {"p50", nullptr}, {"p90", nullptr}, {"p95", nullptr},
            {"p99", nullptr},  {"min", nullptr}, {"max", nullptr}, {"count", 0}};
  return {{"mean", p.mean}, {"p50", p.p50}, {"p90", p.p90}, {"p95", p.p95},
          {"p99", p.p99},   {"min", p.min}, {"max", p.max}, {"count", p.count}};
}

Json errors_json(const ErrorCounts& e) {
  return {{"http_4xx", e.http_4xx}, {"http_5xx", e.http_5xx}, {"http_429", e.http_429},
          {"timeout", e.timeout},   {"connect", e.connect},   {"protocol", e.protocol}};
}

Json latency_json(const RunFigures& f) {
  Json j = {{"ttft", percentiles_json(f.ttft)},
            {"tpot", percentiles_json(f.tpot)},
            {"itl", percentiles_json(f.itl)},
            {"e2e", percentiles_json(f.e2e)}};
  // The server's own stage timings (RAG), present only when its answers carried them.
  if (!f.stages.empty()) {
    Json stages = Json::object();
    for (const auto& [stage, p] : f.stages) stages[stage] = percentiles_json(p);
    j["stages"] = std::move(stages);
  }
  return j;
}

Json throughput_json(const RunFigures& f) {
  return {{"requests_per_s", f.requests_per_s},
          {"output_tokens_per_s", f.output_tokens_per_s},
          {"total_tokens_per_s", f.total_tokens_per_s}};
}

Json run_json(const RunResult& r) {
  const RunFigures& f = r.figures;
  Json j;
  j["mode"] = r.mode;
  j["concurrency"] = optional_json(r.concurrency);
  j["rate_rps"] = optional_json(r.rate_rps);
  j["duration_s"] = r.duration_s;
  j["requests"] = {{"sent", f.sent}, {"ok", f.ok}, {"cancelled", f.cancelled}, {"errors", errors_json(f.errors)}};
  j["tokens"] = {{"prompt", f.prompt_tokens}, {"output", f.output_tokens}};
  j["throughput"] = throughput_json(f);
  j["latency_ms"] = latency_json(f);
  j["ttft_samples_ms"] = r.ttft_samples_ms;
  j["e2e_samples_ms"] = r.e2e_samples_ms;
  j["degradation_vs_c1"] = optional_json(r.degradation_vs_c1);
  Json samples = Json::array();
  for (const ResourceSample& s : r.resources) {
    // No GPU: no gpu_* field at all (docs/bench-serve-results.md).
    Json sj = {{"t_s", s.t_s}, {"cpu_pct", optional_json(s.cpu_pct)}, {"rss_bytes", optional_json(s.rss_bytes)}};
    static const std::pair<const char*, std::optional<double> ResourceSample::*> figures[] = {
        {"cpu_time_s", &ResourceSample::cpu_time_s},
        {"gpu_util_pct", &ResourceSample::gpu_util_pct},
        {"gpu_mem_util_pct", &ResourceSample::gpu_mem_util_pct},
        {"gpu_power_w", &ResourceSample::gpu_power_w},
        {"gpu_temp_c", &ResourceSample::gpu_temp_c}};
    static const std::pair<const char*, std::optional<uint64_t> ResourceSample::*> bytes[] = {
        {"gpu_mem_bytes", &ResourceSample::gpu_mem_bytes}};
    put_measured(sj, s, figures);
    put_measured(sj, s, bytes);
    samples.push_back(std::move(sj));
  }
  j["resources"] = {{"pid", nullptr}, {"samples", samples}};  // pid: set by the caller
  j["resource_summary"] = summary_json(r.resource_summary);
  if (r.retention)
    j["context_retention"] = {{"conversations", r.retention->conversations},
                              {"retained", r.retention->retained},
                              {"score", r.retention->conversations > 0 ? Json(r.retention->share()) : Json(nullptr)}};
  if (r.server_metrics)
    j["server_metrics"] = {{"requests_total", r.server_metrics->requests_total},
                           {"generated_tokens_total", r.server_metrics->generated_tokens_total},
                           {"prompt_tokens_total", r.server_metrics->prompt_tokens_total},
                           {"window_s", r.server_metrics->window_s}};
  else
    j["server_metrics"] = nullptr;
  Json snaps = Json::array();
  for (const Snapshot& s : r.snapshots) {
    Json sj = {{"t_s", s.t_s},
               {"requests", {{"sent", s.figures.sent}, {"ok", s.figures.ok}, {"cancelled", s.figures.cancelled}}},
               {"throughput", throughput_json(s.figures)},
               {"latency_ms", latency_json(s.figures)},
               {"errors", errors_json(s.figures.errors)}};
    if (r.mode == "soak")
      sj["server"] = {{"rss_bytes", optional_json(s.server.rss_bytes)},
                      {"open_fds", optional_json(s.server.open_fds)},
                      {"kv_blocks_active", optional_json(s.server.kv_blocks_active)}};
    snaps.push_back(std::move(sj));
  }
  j["snapshots"] = snaps;
  if (r.mode == "soak") {
    Json checks = Json::array();
    std::optional<bool> passed;
    for (const SoakCheck& c : r.soak_checks) {
      checks.push_back({{"name", c.name}, {"passed", optional_json(c.passed)}, {"detail", c.detail}});
      if (c.passed) passed = passed.value_or(true) && *c.passed;
    }
    j["soak"] = {{"resumed_from_s", r.resumed_from_s},
                 {"kv_blocks_at_end", optional_json(r.kv_blocks_at_end)},
                 {"passed", optional_json(passed)},
                 {"checks", checks}};
  }
  if (r.onset_concurrency)
    j["error_onset"] = {{"concurrency", *r.onset_concurrency}, {"error_rate", r.onset_error_rate}};
  else if (r.onset_rate_rps)
    j["error_onset"] = {{"rate_rps", *r.onset_rate_rps}, {"error_rate", r.onset_error_rate}};
  else
    j["error_onset"] = nullptr;
  return j;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string ms(const Percentiles& p, double Percentiles::*field) { return p.count ? fixed(p.*field, 1) : "-"; }

}  // namespace

std::string format_serve_json(const ServeBenchResult& res) {
  Json j;
  j["schema"] = "hayate.bench.serve/1";
  j["tool"] = {{"name", "hayate"}, {"version", "0.1.0"}};
  j["started_at"] = res.system.timestamp;
  j["system"] = {{"cpu_model", res.system.cpu_model},
                 {"cpu_features", res.system.cpu_features},
                 {"n_cpus", res.system.n_cpus},
                 {"load_average", res.system.load_average},
                 {"timestamp", res.system.timestamp}};
  j["interrupted"] = res.interrupted;
  j["gpu_note"] = res.gpu_note.empty() ? Json(nullptr) : Json(res.gpu_note);  // why no gpu_* fields
  j["targets"] = Json::array();
  for (const TargetResult& t : res.targets) {
    Json tj;
    tj["url"] = t.url;
    tj["label"] = t.label;
    tj["server"] = t.server;
    tj["model"] = t.model;
    const std::string& w = t.workload.name;
    tj["workload"] = {{"name", w},
                      {"prompt_tokens", optional_json(t.prompt_tokens)},
                      {"max_tokens", t.max_tokens},
                      {"turns", w == "chat" || w == "retention" ? Json(t.workload.turns) : Json(nullptr)},
                      {"file", w == "jsonl" ? Json(t.workload.file) : Json(nullptr)}};
    tj["ladder"] = t.ladder.empty() ? Json(nullptr) : Json(t.ladder);
    tj["runs"] = Json::array();
    for (const RunResult& r : t.runs) {
      Json rj = run_json(r);
      rj["resources"]["pid"] = t.pid > 0 ? Json(t.pid) : Json(nullptr);
      tj["runs"].push_back(std::move(rj));
    }
    j["targets"].push_back(std::move(tj));
  }
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string format_serve_table(const ServeBenchResult& res) {
  std::ostringstream out;
  for (const TargetResult& t : res.targets) {
    out << "### " << t.label << " (" << t.server << ", model " << t.model << ", workload " << t.workload.name
        << ", max_tokens " << t.max_tokens;
    if (t.prompt_tokens) out << ", prompt " << *t.prompt_tokens << " tokens";
    out << ")\n\n";
    out << "| mode | load | ok/sent | errors | req/s | out tok/s | TTFT p50 | TTFT p99 | TPOT p50 | ITL p50 | ITL p99 "
           "| E2E p50 | E2E p99 | degr. vs c1 |\n";
    out << "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
    for (const RunResult& r : t.runs) {
      const RunFigures& f = r.figures;
      const std::string load =
          r.concurrency ? "c=" + std::to_string(*r.concurrency) : fixed(r.rate_rps.value_or(0), 2) + " req/s";
      out << "| " << r.mode << " | " << load << " | " << f.ok << "/" << f.sent << " | " << f.errors.total() << " | "
          << fixed(f.requests_per_s, 2) << " | " << fixed(f.output_tokens_per_s, 1) << " | "
          << ms(f.ttft, &Percentiles::p50) << " | " << ms(f.ttft, &Percentiles::p99) << " | "
          << ms(f.tpot, &Percentiles::p50) << " | " << ms(f.itl, &Percentiles::p50) << " | "
          << ms(f.itl, &Percentiles::p99) << " | " << ms(f.e2e, &Percentiles::p50) << " | "
          << ms(f.e2e, &Percentiles::p99) << " | "
          << (r.degradation_vs_c1 ? fixed(*r.degradation_vs_c1, 2) : std::string("-")) << " |\n";
    }
    for (const RunResult& r : t.runs) {
      if (r.figures.stages.empty()) continue;
      // Where the time of an answer goes (the RAG seed: LLM 70-80%, embedding 10-15%, search 5-10%),
      // beside the seed's targets for a whole request: 3-8 s on a development machine, 1-3 s in production.
      out << "\nStages of the " << (r.concurrency ? "c=" + std::to_string(*r.concurrency) : r.mode)
          << " run (ms, p50 / p90; the server's timings, TTFT and E2E the client's; seed targets per request: "
             "3-8 s development machine, 1-3 s production):\n\n| stage | p50 | p90 | share of E2E p50 |\n| --- | "
             "---: | ---: | ---: |\n";
      const double whole = r.figures.e2e.p50;
      auto row = [&](const std::string& name, const Percentiles& p) {
        out << "| " << name << " | " << fixed(p.p50, 1) << " | " << fixed(p.p90, 1) << " | "
            << (whole > 0 ? fixed(100 * p.p50 / whole, 1) + "%" : std::string("-")) << " |\n";
      };
      for (const auto& [stage, p] : r.figures.stages) row(stage, p);
      row("ttft (client)", r.figures.ttft);
      row("e2e (client)", r.figures.e2e);
    }
    for (const RunResult& r : t.runs)
      for (const SoakCheck& c : r.soak_checks)
        out << "\n- soak check " << c.name << ": "
            << (!c.passed   ? "not judged"
                : *c.passed ? "passed"
                            : "**FAILED**")
            << " (" << c.detail << ")";
    out << "\nLatencies in ms. ";
    for (const RunResult& r : t.runs)
      if (r.onset_concurrency || r.onset_rate_rps) {
        out << "Errors begin at "
            << (r.onset_concurrency ? "concurrency " + std::to_string(*r.onset_concurrency)
                                    : fixed(*r.onset_rate_rps, 2) + " req/s")
            << " (" << fixed(r.onset_error_rate * 100, 1) << "% failed). ";
        break;
      }
    out << "\n\n";
  }
  if (res.interrupted) out << "Interrupted: the last run was cut short.\n";
  return out.str();
}

}  // namespace hayate::bench
