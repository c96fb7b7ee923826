// The Markdown report: the same facts as the HTML page, as tables.
#include <cstdio>
#include <sstream>

#include "report/matrix.h"
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

void judged(std::ostringstream& md, const std::vector<ResultFile>& files) {
  const std::vector<Config> rows = build_matrix(files);
  if (rows.empty()) return;
  md << "## Speed × quality × memory\n\n";
  for (const std::string& note : measurement_notes(files, rows)) md << cell(note) << "\n\n";
  const MatrixTable t = matrix_table(rows);
  md << "|";
  for (const std::string& h : t.header) md << " " << cell(h) << " |";
  md << "\n|";
  for (size_t i = 0; i < t.header.size(); ++i) md << (i < t.first_numeric ? "---|" : "---:|");
  md << "\n";
  for (size_t i = 0; i < t.cells.size(); ++i) {
    md << "|";
    for (size_t k = 0; k < t.cells[i].size(); ++k)
      md << " " << (k == 0 && t.on_front[i] ? "**" + cell(t.cells[i][k]) + "**" : cell(t.cells[i][k])) << " |";
    md << "\n";
  }
  md << "\nRows in bold are on a Pareto front.\n\n## Model-selection flowchart\n\n";
  const FlowChart f = build_flowchart(rows);
  md << "- **" << cell(f.q1) << "** yes → " << cell(f.many_users.title) << ": "
     << cell(f.many_users.pick.empty() ? "(none)" : f.many_users.pick) << " (" << cell(f.many_users.why) << ")\n";
  md << "- no → **" << cell(f.q2) << "** yes → " << cell(f.tight.title) << ": "
     << cell(f.tight.pick.empty() ? "(none)" : f.tight.pick) << " (" << cell(f.tight.why) << ")\n";
  md << "- no → " << cell(f.roomy.title) << ": " << cell(f.roomy.pick.empty() ? "(none)" : f.roomy.pick) << " ("
     << cell(f.roomy.why) << ")\n\nRules:\n\n";
  for (size_t i = 0; i < f.rules.size(); ++i) md << i + 1 << ". " << cell(f.rules[i]) << "\n";
  md << "\n## Recommended configurations per use case\n\n| use case | pick | why |\n|---|---|---|\n";
  for (const UseCase& u : recommend_use_cases(rows))
    md << "| " << cell(u.use) << " | " << cell(u.pick) << " | " << cell(u.reason) << " |\n";
  md << "\n";
}

void eval_table(std::ostringstream& md, const ResultFile& f) {
  md << "| suite | model | format | server | items | wall s | metric | value |\n|---|---|---|---|---:|---:|---|---:|\n";
  for (const EvalSummary& e : f.evals)
    for (const auto& [name, v] : e.metrics)
      md << "| " << cell(e.suite) << " | " << cell(e.model) << " | " << cell(e.format) << " | " << cell(e.server)
         << " | " << e.items << " | " << opt(e.wall_s) << " | " << cell(name) << " | " << short_number(v) << " |\n";
  md << "\n";
}

}  // namespace

std::string render_markdown(const std::vector<ResultFile>& files) {
  std::ostringstream md;
  const bool many = files.size() > 1;
  md << "# hayate benchmark report\n\n";
  md << "| file | kind | when | CPU | load average (1/5/15 min) |\n|---|---|---|---|---|\n";
  for (const ResultFile& f : files)
    md << "| " << cell(f.name) << " | " << cell(kind_name(f)) << " | " << cell(f.timestamp.empty() ? "–" : f.timestamp)
       << " | " << cell(f.cpu_model.empty() ? "–" : f.cpu_model) << " | " << load(f.load_average) << " |\n";
  md << "\n## Which configuration for which job\n\n| job | pick | measured | rule | file |\n|---|---|---:|---|---|\n";
  for (const Recommendation& r : recommend(files))
    md << "| " << cell(r.job) << " | " << cell(r.choice) << " | " << cell(r.value) << " | " << cell(r.rule) << " | "
       << cell(r.source) << " |\n";
  md << "\n";
  judged(md, files);
  for (const ResultFile& f : files) {
    md << "## " << cell(f.name) << "\n\n";
    if (f.kind == ResultKind::Eval)
      eval_table(md, f);
    else if (f.kind == ResultKind::Serve)
      serve_tables(md, f, many);
    else
      model_table(md, f);
  }
  return md.str();
}

}  // namespace hayate::report
