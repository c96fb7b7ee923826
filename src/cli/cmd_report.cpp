// `hayate report`: Markdown and a self-contained HTML page from benchmark result files
// (src/report/).
#include <fstream>
#include <iostream>

#include "cli/common.h"
#include "core/error.h"
#include "report/report.h"

namespace hayate::cli {
namespace {

struct ReportOptions {
  std::vector<std::string> files;
  std::string markdown, html;
};

void write_text(const std::string& path, const std::string& text, const char* flag) {
  std::ofstream f(path, std::ios::binary);
  if (!f) fail(ErrorKind::BadInput, path + ": cannot open for writing (" + flag + ")");
  f << text;
  f.close();
  if (!f) fail(ErrorKind::ResourceExhausted, path + ": write failed");
  std::cerr << "report: wrote " << path << "\n";
}

void run_report(const ReportOptions& o) {
  std::vector<report::ResultFile> files;
  for (const std::string& path : o.files) files.push_back(report::load_result_file(path));
  const std::string md = report::render_markdown(files);
  if (!o.markdown.empty()) write_text(o.markdown, md, "--md");
  if (!o.html.empty()) write_text(o.html, report::render_html(files), "--html");
  if (o.markdown.empty() && o.html.empty()) std::cout << md;
}

}  // namespace

void add_report_command(CLI::App& app) {
  auto o = std::make_shared<ReportOptions>();
  CLI::App* cmd =
      app.add_subcommand("report",
                         "Markdown tables and a self-contained HTML page with charts from `hayate bench serve` results "
                         "and `hayate bench model -o json` output (each file's kind is detected)");
  cmd->add_option("results", o->files, "result JSON files, shown side by side")->required();
  cmd->add_option("--md", o->markdown, "write the Markdown report here (without --md or --html: to stdout)");
  cmd->add_option("--html", o->html, "write the HTML page (inline CSS and SVG, no scripts) here");
  cmd->callback([o] { run_report(*o); });
}

}  // namespace hayate::cli
