// The Markdown report: the same facts as the HTML page, as tables.
#include <cstdio>
#include <sstream>

#include "report/report.h"
#include "report/svg.h"

namespace hayate::report {
namespace {

// Table cells: a '|' would end the cell and a newline the row; '<' and '&' are escaped so a
// renderer that passes HTML through does not run a label from a file as markup.
std::string cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n' || c == '\r')
      out += ' ';
    else if (c == '<')
      out += "&lt;";
    else if (c == '&')
      out += "&amp;";
    else
      out += c;
  }
  return out;
}

std::string opt(const std::optional<double>& v) { return v ? short_number(*v) : "–"; }

std::string load(const std::vector<double>& la) {
  if (la.empty()) return "unknown";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", la[0], la.size() > 1 ? la[1] : 0, la.size() > 2 ? la[2] : 0);
  return buf;
}

void serve_tables(std::ostringstream& md, const ResultFile& f, bool many) {
  for (const ServeTarget& t : f.targets) {
    md << "### " << cell(target_name(f, t, many)) << "\n\n";
    md << "url " << cell(t.url.empty() ? "–" : t.url) << " · server " << cell(t.server.empty() ? "–" : t.server)
       << " · model " << cell(t.model.empty() ? "–" : t.model) << " · workload "
       << cell(t.workload.empty() ? "–" : t.workload) << "\n\n";
    md << "| mode | concurrency | rate (req/s) | requests ok/sent | errors | req/s | output tok/s | TTFT p50 | TTFT "
          "p90 "
          "| TTFT p99 | TPOT p50 | E2E p50 | E2E p99 | peak RSS |\n";
    md << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const ServeRun& r : t.runs)
      md << "| " << cell(r.mode) << " | " << opt(r.concurrency) << " | " << opt(r.rate_rps) << " | " << r.ok << "/"
         << r.sent << " | " << r.errors << " | " << opt(r.requests_per_s) << " | " << opt(r.output_tokens_per_s)
         << " | " << opt(r.ttft.p50) << " | " << opt(r.ttft.p90) << " | " << opt(r.ttft.p99) << " | " << opt(r.tpot.p50)
         << " | " << opt(r.e2e.p50) << " | " << opt(r.e2e.p99) << " | "
         << (r.peak_rss_bytes ? short_bytes(*r.peak_rss_bytes) : "–") << " |\n";
    md << "\nLatencies in ms.\n\n";
  }
}

void model_table(std::ostringstream& md, const ResultFile& f) {
  md << "| model | format | params | size | backend | threads | test | tokens/s | ± | peak RSS |\n";
  md << "|---|---|---:|---:|---|---:|---|---:|---:|---:|\n";
  for (const ModelRow& r : f.rows)
    md << "| " << cell(r.model_name.empty() ? r.model_file : r.model_name) << " | " << cell(r.file_type) << " | "
       << short_number(static_cast<double>(r.n_params)) << " | " << short_bytes(static_cast<double>(r.model_size_bytes))
       << " | " << cell(r.backend) << " | " << r.n_threads << " | " << cell(r.test) << " | " << short_number(r.avg_ts)
       << " | " << short_number(r.stddev_ts) << " | " << short_bytes(static_cast<double>(r.rss_peak_bytes)) << " |\n";
  md << "\n";
}

}  // namespace

std::string render_markdown(const std::vector<ResultFile>& files) {
  std::ostringstream md;
  const bool many = files.size() > 1;
  md << "# hayate benchmark report\n\n";
  md << "| file | kind | when | CPU | load average (1/5/15 min) |\n|---|---|---|---|---|\n";
  for (const ResultFile& f : files)
    md << "| " << cell(f.name) << " | " << (f.kind == ResultKind::Serve ? "bench serve" : "bench model") << " | "
       << cell(f.timestamp.empty() ? "–" : f.timestamp) << " | " << cell(f.cpu_model.empty() ? "–" : f.cpu_model)
       << " | " << load(f.load_average) << " |\n";
  md << "\n## Which configuration for which job\n\n| job | pick | measured | rule | file |\n|---|---|---:|---|---|\n";
  for (const Recommendation& r : recommend(files))
    md << "| " << cell(r.job) << " | " << cell(r.choice) << " | " << cell(r.value) << " | " << cell(r.rule) << " | "
       << cell(r.source) << " |\n";
  md << "\n";
  for (const ResultFile& f : files) {
    md << "## " << cell(f.name) << "\n\n";
    if (f.kind == ResultKind::Serve)
      serve_tables(md, f, many);
    else
      model_table(md, f);
  }
  return md.str();
}

}  // namespace hayate::report
