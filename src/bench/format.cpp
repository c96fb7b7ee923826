// The three report formats of model_bench.h: Markdown table, JSON and CSV.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bench/model_bench.h"

namespace hayate::bench {
namespace {

std::string printf_string(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

std::string bytes_label(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes >= (1ull << 30)) return printf_string("%.2f GiB", b / (1ull << 30));
  return printf_string("%.2f MiB", b / (1ull << 20));
}

std::string count_label(uint64_t n) {
  const double v = static_cast<double>(n);
  if (n >= 1000000000) return printf_string("%.2f B", v / 1e9);
  if (n >= 1000000) return printf_string("%.2f M", v / 1e6);
  if (n >= 1000) return printf_string("%.2f K", v / 1e3);
  return std::to_string(n);
}

// The shortest text that reads back as the same double.
std::string number(double v) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  return std::string(buf, end);
}

std::string joined_numbers(const std::vector<double>& values) {
  std::string out;
  for (double v : values) {
    if (!out.empty()) out += ' ';
    out += number(v);
  }
  return out;
}

bool any_gpu_memory(const std::vector<BenchResult>& results) {
  return std::any_of(results.begin(), results.end(),
                     [](const BenchResult& r) { return r.gpu_memory_bytes.has_value(); });
}

struct Column {
  std::string header;
  bool right = false;  // numbers align right
};

std::string markdown_table(const std::vector<Column>& columns, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(columns.size());
  for (size_t i = 0; i < columns.size(); ++i) {
    width[i] = std::max<size_t>(columns[i].header.size(), 3);
    for (const auto& row : rows) width[i] = std::max(width[i], row[i].size());
  }
  std::ostringstream out;
  auto cell = [&](const std::string& text, size_t i) {
    const std::string pad(width[i] - text.size(), ' ');
    out << " " << (columns[i].right ? pad + text : text + pad) << " |";
  };
  out << "|";
  for (size_t i = 0; i < columns.size(); ++i) cell(columns[i].header, i);
  out << "\n|";
  for (size_t i = 0; i < columns.size(); ++i)
    out << " " << std::string(width[i] - 1, '-') << (columns[i].right ? ":" : "-") << " |";
  out << "\n";
  for (const auto& row : rows) {
    out << "|";
    for (size_t i = 0; i < columns.size(); ++i) cell(row[i], i);
    out << "\n";
  }
  return out.str();
}

nlohmann::ordered_json result_json(const BenchResult& r) {
  nlohmann::ordered_json j;
  j["model_file"] = r.model_file;
  j["model_path"] = r.model_path;
  j["model_name"] = r.model_name;
  j["arch"] = r.arch;
  j["file_type"] = r.file_type;
  j["model_size_bytes"] = r.model_size_bytes;
  j["n_params"] = r.n_params;
  j["backend"] = r.backend;
  j["device"] = r.device;
  j["n_threads"] = r.n_threads;
  j["test"] = r.test;
  j["n_prompt"] = r.n_prompt;
  j["n_gen"] = r.n_gen;
  j["n_batch"] = r.n_batch;
  j["repetitions"] = r.samples_ts.size();
  j["samples_seconds"] = r.samples_seconds;
  j["samples_ts"] = r.samples_ts;
  j["avg_ts"] = r.ts.mean;
  j["stddev_ts"] = r.ts.stddev;
  j["median_ts"] = r.ts.median;
  j["rss_peak_bytes"] = r.rss_peak_bytes;
  j["rss_bytes"] = r.rss_bytes;
  j["gpu_memory_bytes"] = r.gpu_memory_bytes ? nlohmann::ordered_json(*r.gpu_memory_bytes) : nullptr;
  return j;
}

std::string csv_cell(const nlohmann::ordered_json& v) {
  std::string text;
  if (v.is_string())
    text = v.get<std::string>();
  else if (v.is_array()) {
    std::vector<double> values;
    for (const auto& x : v) values.push_back(x.get<double>());
    text = joined_numbers(values);
  } else if (v.is_number_float())
    text = number(v.get<double>());
  else if (!v.is_null())
    text = v.dump();
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace

std::string format_table(const SystemInfo& system, const std::vector<BenchResult>& results) {
  std::ostringstream out;
  out << "- CPU: " << (system.cpu_model.empty() ? "unknown" : system.cpu_model) << ", " << system.n_cpus
      << " hardware threads\n";
  out << "- CPU features: " << (system.cpu_features.empty() ? "none" : system.cpu_features) << "\n";
  if (system.load_average.size() == 3)
    out << "- load average before the run: " << printf_string("%.2f", system.load_average[0]) << ", "
        << printf_string("%.2f", system.load_average[1]) << ", " << printf_string("%.2f", system.load_average[2])
        << "\n";
  out << "- date: " << system.timestamp << "\n\n";

  std::vector<Column> columns = {
      {"model"},          {"name"},          {"arch"},       {"type"},      {"size", true},       {"params", true},
      {"backend"},        {"threads", true}, {"test", true}, {"t/s", true}, {"median t/s", true}, {"peak RSS", true},
      {"RSS after", true}};
  const bool gpu = any_gpu_memory(results);
  if (gpu) columns.push_back({"GPU memory", true});
  std::vector<std::vector<std::string>> rows;
  for (const BenchResult& r : results) {
    std::vector<std::string> row = {r.model_file,
                                    r.model_name,
                                    r.arch,
                                    r.file_type,
                                    bytes_label(r.model_size_bytes),
                                    count_label(r.n_params),
                                    r.backend,
                                    std::to_string(r.n_threads),
                                    r.test,
                                    printf_string("%.2f", r.ts.mean) + " ± " + printf_string("%.2f", r.ts.stddev),
                                    printf_string("%.2f", r.ts.median),
                                    bytes_label(r.rss_peak_bytes),
                                    bytes_label(r.rss_bytes)};
    if (gpu) row.push_back(r.gpu_memory_bytes ? bytes_label(*r.gpu_memory_bytes) : "");
    rows.push_back(std::move(row));
  }
  return out.str() + markdown_table(columns, rows);
}

std::string format_json(const SystemInfo& system, const std::vector<BenchResult>& results) {
  nlohmann::ordered_json j;
  j["system"] = {{"cpu_model", system.cpu_model},
                 {"cpu_features", system.cpu_features},
                 {"n_cpus", system.n_cpus},
                 {"load_average", system.load_average},
                 {"timestamp", system.timestamp}};
  j["results"] = nlohmann::ordered_json::array();
  for (const BenchResult& r : results) j["results"].push_back(result_json(r));
  return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

std::string format_csv(const SystemInfo& system, const std::vector<BenchResult>& results) {
  // The header comes from the JSON fields, so the two formats cannot drift apart.
  const nlohmann::ordered_json fields = result_json(BenchResult{});
  std::ostringstream out;
  for (const auto& field : fields.items()) out << field.key() << ",";
  out << "cpu_model,cpu_features\n";
  for (const BenchResult& r : results) {
    for (const auto& field : result_json(r)) out << csv_cell(field) << ",";
    out << csv_cell(system.cpu_model) << "," << csv_cell(system.cpu_features) << "\n";
  }
  return out.str();
}

}  // namespace hayate::bench
