#include "bench/prometheus_text.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace hayate::bench {
namespace {

[[noreturn]] void bad(size_t line_no, const std::string& why) {
  fail(ErrorKind::BadInput, "Prometheus metrics text, line " + std::to_string(line_no) + ": " + why);
}

bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool name_char(char c) { return name_start(c) || std::isdigit(static_cast<unsigned char>(c)); }

double parse_value(std::string_view s, size_t line_no) {
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (s == "+Inf" || s == "Inf") return std::numeric_limits<double>::infinity();
  if (s == "-Inf") return -std::numeric_limits<double>::infinity();
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty())
    bad(line_no, "\"" + std::string(s) + "\" is not a number");
  return v;
}

// name{labels} value [timestamp]
MetricSample parse_line(std::string_view line, size_t line_no) {
  MetricSample m;
  size_t i = 0;
  if (!name_start(line[0])) bad(line_no, "a metric name must start with a letter, '_' or ':'");
  while (i < line.size() && name_char(line[i])) ++i;
  m.name = line.substr(0, i);
  if (i < line.size() && line[i] == '{') {
    ++i;
    for (;;) {
      while (i < line.size() && line[i] == ' ') ++i;
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      const size_t start = i;
      while (i < line.size() && name_char(line[i])) ++i;
      if (i == start) bad(line_no, "expected a label name or '}' in the labels of " + m.name);
      const std::string label(line.substr(start, i - start));
      if (i >= line.size() || line[i] != '=') bad(line_no, "expected '=' after label name \"" + label + "\"");
      if (++i >= line.size() || line[i] != '"') bad(line_no, "the value of label \"" + label + "\" must be quoted");
      ++i;
      std::string value;
      for (;;) {
        if (i >= line.size()) bad(line_no, "the value of label \"" + label + "\" is not closed");
        const char c = line[i++];
        if (c == '"') break;
        if (c != '\\') {
          value += c;
          continue;
        }
        if (i >= line.size()) bad(line_no, "a '\\' ends the line in label \"" + label + "\"");
        const char e = line[i++];
        value += e == 'n' ? '\n' : e;
      }
      m.labels[label] = std::move(value);
      while (i < line.size() && line[i] == ' ') ++i;
      if (i < line.size() && line[i] == ',') ++i;
    }
  }
  if (i >= line.size() || line[i] != ' ') bad(line_no, "expected a space and a value after " + m.name);
  while (i < line.size() && line[i] == ' ') ++i;
  const size_t end = line.find(' ', i);
  m.value = parse_value(line.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i), line_no);
  if (end != std::string_view::npos) {  // an optional timestamp (ms since the epoch)
    const std::string_view ts = line.substr(end + 1);
    int64_t t = 0;
    const auto [p, ec] = std::from_chars(ts.data(), ts.data() + ts.size(), t);
    if (ec != std::errc() || p != ts.data() + ts.size())
      bad(line_no, "unexpected \"" + std::string(ts) + "\" after the value (a timestamp must be an integer)");
  }
  return m;
}

}  // namespace

std::vector<MetricSample> parse_prometheus_text(std::string_view text) {
  std::vector<MetricSample> out;
  size_t line_no = 0, start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(start, nl - start);
    start = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    out.push_back(parse_line(line, line_no));
  }
  return out;
}

double sum_samples(const std::vector<MetricSample>& samples, std::string_view name,
                   const std::map<std::string, std::string>& match) {
  double sum = 0;
  for (const MetricSample& s : samples) {
    if (s.name != name) continue;
    bool all = true;
    for (const auto& [k, v] : match) {
      const auto it = s.labels.find(k);
      all = all && it != s.labels.end() && it->second == v;
    }
    if (all) sum += s.value;
  }
  return sum;
}

bool has_hayate_metrics(const std::vector<MetricSample>& samples) {
  for (const MetricSample& s : samples)
    if (s.name.starts_with("hayate_")) return true;
  return false;
}

}  // namespace hayate::bench
