// The judging charts: speed against quality and against memory with the Pareto front ringed
// and joined, and the model-selection flowchart (diamonds for questions, boxes for answers).
#include <algorithm>
#include <cmath>

#include "report/matrix.h"
#include "report/svg.h"

namespace hayate::report {
namespace {

struct Point {
  std::string name;
  double x = 0, y = 0;
  bool front = false;
};

std::string scatter(const std::string& title, const std::string& x_label, const std::string& y_label,
                    const std::vector<Point>& pts, const TickFormat& y_format, std::optional<double> y_max) {
  if (pts.empty()) return "";
  Canvas cv(720, 360, 72, 24, 36, 52);
  double x_hi = 0, y_hi = 0;
  for (const Point& p : pts) x_hi = std::max(x_hi, p.x), y_hi = std::max(y_hi, p.y);
  const Ticks xt = nice_ticks(0, x_hi > 0 ? x_hi * 1.05 : 1, 6);
  const Ticks yt = nice_ticks(0, y_max.value_or(y_hi > 0 ? y_hi * 1.05 : 1));
  cv.set_ranges(xt.lo, xt.hi, yt.lo, yt.hi);
  cv.frame(title, x_label, y_label, yt.values, y_format, xt.values, short_number);
  std::vector<std::pair<double, double>> front;
  for (const Point& p : pts)
    if (p.front) front.emplace_back(p.x, p.y);
  std::sort(front.begin(), front.end());
  std::vector<std::pair<double, double>> px;
  for (const auto& [x, y] : front) px.emplace_back(cv.x(x), cv.y(y));
  if (px.size() > 1) cv.polyline(px, "#1d232b", "5 4", "Pareto front");
  std::vector<Canvas::LegendItem> legend;
  for (size_t i = 0; i < pts.size(); ++i) {
    const Point& p = pts[i];
    const std::string tip =
        p.name + ": " + short_number(p.x) + " tok/s, " + y_format(p.y) + (p.front ? " (on the Pareto front)" : "");
    if (p.front) cv.circle(cv.x(p.x), cv.y(p.y), 8.5, "#1d232b", tip);  // the ring
    cv.circle(cv.x(p.x), cv.y(p.y), 5.5, series_color(i), tip);
    legend.push_back({p.name + (p.front ? " ★" : ""), series_color(i), ""});
  }
  legend.push_back({"Pareto front (ringed, ★)", "#1d232b", "5 4"});
  cv.legend(legend);
  return cv.finish();
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// Words into lines of at most `width` characters (UTF-8 sequences count once per byte, which
// only makes lines shorter).
std::vector<std::string> wrap(const std::string& text, size_t width, size_t max_lines) {
  std::vector<std::string> lines;
  std::string line, word;
  auto flush_word = [&] {
    if (word.empty()) return;
    if (!line.empty() && line.size() + 1 + word.size() > width) lines.push_back(line), line.clear();
    line += (line.empty() ? "" : " ") + word;
    word.clear();
  };
  for (char c : text) {
    if (c == ' ')
      flush_word();
    else
      word += c;
  }
  flush_word();
  if (!line.empty()) lines.push_back(line);
  if (lines.size() > max_lines) {
    lines.resize(max_lines);
    lines.back() += " …";
  }
  return lines;
}

class Flow {
 public:
  void text(double x, double y, const std::string& s, const std::string& weight, int size) {
    body_ += "<text x=\"" + fmt(x) + "\" y=\"" + fmt(y) +
             "\" text-anchor=\"middle\" font-family=\"system-ui,sans-serif\" "
             "font-size=\"" +
             std::to_string(size) + "\" font-weight=\"" + weight + "\" fill=\"#1d232b\">" + escape(s) + "</text>";
  }
  void decision(double cx, double cy, double hw, double hh, const std::string& q) {
    body_ += "<polygon class=\"decision\" points=\"" + fmt(cx) + "," + fmt(cy - hh) + " " + fmt(cx + hw) + "," +
             fmt(cy) + " " + fmt(cx) + "," + fmt(cy + hh) + " " + fmt(cx - hw) + "," + fmt(cy) +
             "\" fill=\"#eef3fb\" stroke=\"#3b6fb6\" stroke-width=\"1.5\"/>";
    const auto lines = wrap(q, 26, 2);
    for (size_t i = 0; i < lines.size(); ++i)
      text(cx, cy + 4 + 15 * (static_cast<double>(i) - (static_cast<double>(lines.size()) - 1) / 2), lines[i], "600",
           13);
  }
  void answer(double cx, double top, double w, const FlowChart::Leaf& leaf) {
    const double h = 128;
    body_ += "<rect class=\"leaf\" x=\"" + fmt(cx - w / 2) + "\" y=\"" + fmt(top) + "\" width=\"" + fmt(w) +
             "\" height=\"" + fmt(h) + "\" rx=\"8\" fill=\"" + (leaf.pick.empty() ? "#f6f7f9" : "#eefaf1") +
             "\" stroke=\"" + (leaf.pick.empty() ? "#9aa1ab" : "#2f8a4b") + "\" stroke-width=\"1.5\"/>";
    double y = top + 20;
    text(cx, y, leaf.title, "700", 13);
    for (const std::string& l : wrap(leaf.pick.empty() ? "(none)" : leaf.pick, 40, 2)) text(cx, y += 17, l, "600", 12);
    for (const std::string& l : wrap(leaf.why, 46, 4)) text(cx, y += 15, l, "400", 11);
  }
  void edge(const std::string& d, double lx, double ly, const std::string& label) {
    body_ += "<path class=\"edge\" d=\"" + d +
             "\" fill=\"none\" stroke=\"#5d6470\" stroke-width=\"1.5\" marker-end=\"url(#flow-arrow)\"/>";
    text(lx, ly, label, "600", 12);
  }
  std::string finish(int w, int h) const {
    return "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"flowchart\" width=\"" + std::to_string(w) +
           "\" height=\"" + std::to_string(h) + "\" viewBox=\"0 0 " + std::to_string(w) + " " + std::to_string(h) +
           "\" role=\"img\"><title>Model-selection flowchart</title><defs><marker id=\"flow-arrow\" "
           "viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">"
           "<path d=\"M0 0 L10 5 L0 10 z\" fill=\"#5d6470\"/></marker></defs>" +
           body_ + "</svg>";
  }

 private:
  std::string body_;
};

}  // namespace

std::string pareto_quality_chart(const std::vector<Config>& rows) {
  std::vector<Point> pts;
  for (const Config& c : rows)
    if (c.speed() && c.quality_mean()) pts.push_back({c.name(), *c.speed(), *c.quality_mean(), c.pareto_quality});
  return scatter(
      "Speed against quality (Pareto front)", "output tokens/s for one user", "mean quality score", pts,
      [](double v) { return short_number(v * 100) + "%"; }, 1.0);
}

std::string pareto_memory_chart(const std::vector<Config>& rows) {
  double largest = 0;
  for (const Config& c : rows)
    if (c.speed() && c.memory_bytes) largest = std::max(largest, *c.memory_bytes);
  // MiB below 4 GiB, so a small model's ticks are round numbers too.
  const bool gib = largest >= 4.0 * 1024 * 1024 * 1024;
  const double unit = gib ? 1024.0 * 1024 * 1024 : 1024.0 * 1024;
  const std::string name = gib ? "GiB" : "MiB";
  std::vector<Point> pts;
  for (const Config& c : rows)
    if (c.speed() && c.memory_bytes) pts.push_back({c.name(), *c.speed(), *c.memory_bytes / unit, c.pareto_memory});
  return scatter(
      "Speed against memory (Pareto front: faster and smaller)", "output tokens/s for one user",
      "peak memory (" + name + ")", pts, [name](double v) { return short_number(v) + " " + name; }, std::nullopt);
}

std::string flowchart_svg(const FlowChart& f) {
  Flow s;
  s.text(480, 18, "Which configuration? (from the measured rows; rules below)", "700", 14);
  s.decision(480, 78, 170, 46, f.q1);
  s.decision(720, 210, 150, 46, f.q2);
  s.edge("M310 78 H170 V258", 240, 70, "yes");
  s.edge("M650 78 H720 V164", 690, 70, "no");
  s.edge("M570 210 H500 V318", 540, 202, "yes");
  s.edge("M870 210 H850 V318", 890, 202, "no");
  s.answer(170, 260, 310, f.many_users);
  s.answer(500, 320, 300, f.tight);
  s.answer(820, 320, 270, f.roomy);
  return s.finish(960, 460);
}

}  // namespace hayate::report
