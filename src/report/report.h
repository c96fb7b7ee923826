// `hayate report`: Markdown tables and one self-contained HTML page (inline CSS, inline SVG, no
// scripts) from the results of `hayate bench serve` and `hayate bench model -o json`.
#pragma once

#include <string>
#include <vector>

#include "report/results.h"

namespace hayate::report {

// One line of the "which configuration for which job" summary: the rule is printed beside the
// pick so a reader can check it against the tables.
struct Recommendation {
  std::string job, rule, choice, value, source;
};
std::vector<Recommendation> recommend(const std::vector<ResultFile>& files);

// The charts of the HTML page, each an <svg> element; empty when no file has the data.
std::string serve_throughput_chart(const std::vector<ResultFile>& files);
std::string serve_latency_chart(const std::vector<ResultFile>& files, const std::string& metric);  // ttft, e2e
std::vector<std::string> ttft_cdf_charts(const std::vector<ResultFile>& files);
std::string model_speed_chart(const std::vector<ResultFile>& files, bool prompt);
std::string memory_chart(const std::vector<ResultFile>& files);

std::string render_markdown(const std::vector<ResultFile>& files);
std::string render_html(const std::vector<ResultFile>& files);

// Series and row names: the target's label, or "file: label" when several files are shown.
std::string target_name(const ResultFile& file, const ServeTarget& target, bool several_files);

}  // namespace hayate::report
