// The HTML report: one file with inline CSS and inline SVG, no scripts and no external
// resources, so it opens offline and can be attached or committed as it is.
#include <sstream>

#include "report/matrix.h"
#include "report/report.h"
#include "report/svg.h"

namespace hayate::report {
namespace {

const char* kStyle = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d232b;background:#f6f7f9;margin:0}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 10px;border-bottom:1px solid #d8dce2;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.meta{color:#5d6470}
.card{background:#fff;border:1px solid #dfe3e8;border-radius:8px;padding:12px;margin:12px 0;overflow-x:auto}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{padding:4px 8px;border-bottom:1px solid #eceff2;text-align:left;white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums}
table.wrap td{white-space:normal}
th{background:#f0f2f5}
.pick{font-weight:600}
svg.chart{display:block;max-width:100%;height:auto}
svg .title{font:600 14px system-ui,sans-serif;fill:#1d232b}
svg .tick,svg .legend{font:12px system-ui,sans-serif;fill:#3b424c}
svg .axis-label{font:12px system-ui,sans-serif;fill:#1d232b}
svg .grid{stroke:#e6e9ed;stroke-width:1}
svg .axis{stroke:#7b828c;stroke-width:1}
svg .errbar{stroke:#1d232b;stroke-width:1.2}
svg path.series{fill:none;stroke-width:2.2;stroke-linejoin:round}
svg .legend-key{stroke-width:3}
tr.front td{background:#fff6d9}
svg.flowchart{display:block;max-width:100%;height:auto}
ol.rules li{margin:4px 0}
)";

std::string opt(const std::optional<double>& v) { return v ? escape(short_number(*v)) : "–"; }

void row(std::ostringstream& h, const std::vector<std::string>& cells, size_t first_numeric) {
  h << "<tr>";
  for (size_t i = 0; i < cells.size(); ++i)
    h << (i >= first_numeric ? "<td class=\"n\">" : "<td>") << cells[i] << "</td>";
  h << "</tr>";
}

void header(std::ostringstream& h, const std::vector<std::string>& names) {
  h << "<tr>";
  for (const std::string& n : names) h << "<th>" << escape(n) << "</th>";
  h << "</tr>";
}

void chart(std::ostringstream& h, const std::string& svg) {
  if (!svg.empty()) h << "<div class=\"card\">" << svg << "</div>\n";
}

// The judged part of the report (issue 23): the matrix, the fronts, the flowchart and the picks.
void judged(std::ostringstream& h, const std::vector<ResultFile>& files) {
  const std::vector<Config> rows = build_matrix(files);
  if (rows.empty()) return;
  h << "<h2>Speed × quality × memory</h2>\n";
  for (const std::string& note : measurement_notes(files, rows)) h << "<p class=\"meta\">" << escape(note) << "</p>\n";
  const MatrixTable t = matrix_table(rows);
  h << "<div class=\"card\"><table id=\"matrix\">";
  header(h, t.header);
  for (size_t i = 0; i < t.cells.size(); ++i) {
    std::vector<std::string> cells;
    for (const std::string& c : t.cells[i]) cells.push_back(escape(c));
    std::ostringstream one;
    row(one, cells, t.first_numeric);
    std::string tr = one.str();
    if (t.on_front[i]) tr.replace(0, 4, "<tr class=\"front\">");
    h << tr;
  }
  h << "</table></div>\n";
  const std::string quality = pareto_quality_chart(rows), memory = pareto_memory_chart(rows);
  if (!quality.empty() || !memory.empty()) h << "<h2>Pareto fronts</h2>\n";
  chart(h, quality);
  chart(h, memory);
  const FlowChart flow = build_flowchart(rows);
  h << "<h2>Model-selection flowchart</h2>\n<div class=\"card\">" << flowchart_svg(flow)
    << "<p><b>Rules</b> (applied to the rows of the matrix above):</p><ol class=\"rules\">";
  for (const std::string& r : flow.rules) h << "<li>" << escape(r) << "</li>";
  h << "</ol></div>\n<h2>Recommended configurations per use case</h2>\n<div class=\"card\"><table class=\"wrap\" "
       "id=\"use-cases\">";
  header(h, {"use case", "pick", "why"});
  for (const UseCase& u : recommend_use_cases(rows))
    row(h, {escape(u.use), "<span class=\"pick\">" + escape(u.pick) + "</span>", escape(u.reason)}, 9);
  h << "</table></div>\n";
}

}  // namespace

std::string render_html(const std::vector<ResultFile>& files) {
  const bool many = files.size() > 1;
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
       "<title>hayate benchmark report</title><style>"
    << kStyle << "</style></head><body><main>\n<h1>hayate benchmark report</h1>\n<p class=\"meta\">";
  for (const ResultFile& f : files)
    h << escape(f.name) << " (" << escape(kind_name(f)) << (f.timestamp.empty() ? "" : ", " + escape(f.timestamp))
      << (f.cpu_model.empty() ? "" : ", " + escape(f.cpu_model)) << ")<br>";
  h << "</p>\n<h2>Which configuration for which job</h2>\n<div class=\"card\"><table class=\"wrap\">";
  header(h, {"job", "pick", "measured", "rule", "file"});
  for (const Recommendation& r : recommend(files))
    row(h,
        {escape(r.job), "<span class=\"pick\">" + escape(r.choice) + "</span>", escape(r.value), escape(r.rule),
         escape(r.source)},
        9);
  h << "</table></div>\n";
  judged(h, files);

  const std::string throughput = serve_throughput_chart(files);
  if (!throughput.empty()) {
    h << "<h2>Serving: throughput and latency</h2>\n";
    chart(h, throughput);
    chart(h, serve_latency_chart(files, "ttft"));
    chart(h, serve_latency_chart(files, "e2e"));
  }
  const std::vector<std::string> cdfs = ttft_cdf_charts(files);
  if (!cdfs.empty()) h << "<h2>Serving: time to first token, distribution</h2>\n";
  for (const std::string& svg : cdfs) chart(h, svg);
  const std::string pp = model_speed_chart(files, true), tg = model_speed_chart(files, false);
  if (!pp.empty() || !tg.empty()) h << "<h2>In-process speed (hayate bench model)</h2>\n";
  chart(h, pp);
  chart(h, tg);
  const std::string mem = memory_chart(files);
  if (!mem.empty()) h << "<h2>Memory</h2>\n";
  chart(h, mem);

  h << "<h2>Tables</h2>\n";
  for (const ResultFile& f : files) {
    h << "<h3>" << escape(f.name) << "</h3>\n";
    if (f.kind == ResultKind::Eval) {
      h << "<div class=\"card\"><table>";
      header(h, {"suite", "model", "format", "server", "items", "wall s", "metric", "value"});
      for (const EvalSummary& e : f.evals)
        for (const auto& [name, v] : e.metrics)
          row(h,
              {escape(e.suite), escape(e.model), escape(e.format), escape(e.server), std::to_string(e.items),
               opt(e.wall_s), escape(name), escape(short_number(v))},
              4);
      h << "</table></div>\n";
    } else if (f.kind == ResultKind::Serve) {
      for (const ServeTarget& t : f.targets) {
        h << "<div class=\"card\"><p><b>" << escape(target_name(f, t, many)) << "</b> · " << escape(t.url) << " · "
          << escape(t.model) << " · workload " << escape(t.workload) << "</p><table>";
        header(h, {"mode", "concurrency", "rate", "ok/sent", "errors", "req/s", "out tok/s", "TTFT p50 ms",
                   "TTFT p90 ms", "TTFT p99 ms", "E2E p50 ms", "E2E p99 ms"});
        for (const ServeRun& r : t.runs)
          row(h,
              {escape(r.mode), opt(r.concurrency), opt(r.rate_rps), std::to_string(r.ok) + "/" + std::to_string(r.sent),
               std::to_string(r.errors), opt(r.requests_per_s), opt(r.output_tokens_per_s), opt(r.ttft.p50),
               opt(r.ttft.p90), opt(r.ttft.p99), opt(r.e2e.p50), opt(r.e2e.p99)},
              1);
        h << "</table></div>\n";
      }
    } else {
      h << "<div class=\"card\"><table>";
      header(h, {"model", "format", "backend", "threads", "test", "tokens/s", "±", "peak RSS", "size"});
      for (const ModelRow& r : f.rows)
        row(h,
            {escape(r.model_name.empty() ? r.model_file : r.model_name), escape(r.file_type), escape(r.backend),
             std::to_string(r.n_threads), escape(r.test), escape(short_number(r.avg_ts)),
             escape(short_number(r.stddev_ts)), escape(short_bytes(static_cast<double>(r.rss_peak_bytes))),
             escape(short_bytes(static_cast<double>(r.model_size_bytes)))},
            5);
      h << "</table></div>\n";
    }
  }
  h << "<p class=\"meta\">Generated by hayate report. Charts are inline SVG; hover a point or bar for its value.</p>\n"
       "</main></body></html>\n";
  return h.str();
}

}  // namespace hayate::report
