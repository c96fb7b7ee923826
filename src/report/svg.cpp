// The SVG helpers. Layout is computed here in pixels with a rough 7 px per character of the
// 12 px sans-serif font, which is enough to keep legends and labels from overlapping.
#include "report/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace hayate::report {
namespace {

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

double text_width(std::string_view s) {
  size_t chars = 0;
  for (unsigned char c : s) chars += (c & 0xC0) != 0x80;  // count UTF-8 code points, not bytes
  return 7.0 * static_cast<double>(chars);
}

std::vector<std::string> split_label(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  const std::string sep = " · ";
  for (size_t at; (at = s.find(sep, start)) != std::string::npos; start = at + sep.size())
    parts.push_back(s.substr(start, at - start));
  parts.push_back(s.substr(start));
  return parts;
}

}  // namespace

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  return out;
}

const char* series_color(size_t i) {
  static const char* palette[] = {"#2f6fb3", "#d9622b", "#3a9a4a", "#8c4fb8",
                                  "#c23b5a", "#1f9aa6", "#a6852a", "#5d6470"};
  return palette[i % (sizeof palette / sizeof *palette)];
}

Ticks nice_ticks(double lo, double hi, int target_count) {
  Ticks t;
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (hi <= lo) hi = lo + (lo == 0 ? 1 : std::fabs(lo) * 0.1);
  const double raw = (hi - lo) / std::max(1, target_count);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  t.lo = std::floor(lo / step) * step;
  t.hi = std::ceil(hi / step - 1e-9) * step;
  for (double v = t.lo; v <= t.hi + step * 1e-6; v += step) t.values.push_back(std::fabs(v) < step * 1e-9 ? 0 : v);
  return t;
}

std::string short_number(double v) {
  char buf[32];
  const double a = std::fabs(v);
  if (a >= 1e9)
    std::snprintf(buf, sizeof buf, "%.3gG", v / 1e9);
  else if (a >= 1e6)
    std::snprintf(buf, sizeof buf, "%.3gM", v / 1e6);
  else if (a >= 1e4)
    std::snprintf(buf, sizeof buf, "%.3gk", v / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string short_bytes(double bytes) {
  char buf[32];
  if (bytes >= 1024.0 * 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.3g GiB", bytes / (1024.0 * 1024 * 1024));
  else if (bytes >= 1024.0 * 1024)
    std::snprintf(buf, sizeof buf, "%.3g MiB", bytes / (1024.0 * 1024));
  else if (bytes >= 1024.0)
    std::snprintf(buf, sizeof buf, "%.3g KiB", bytes / 1024.0);
  else
    std::snprintf(buf, sizeof buf, "%.0f B", bytes);
  return buf;
}

Canvas::Canvas(int width, int height, int left, int right, int top, int bottom)
    : width_(width), height_(height), left_(left), right_(right), top_(top), bottom_(bottom) {}

void Canvas::set_ranges(double x_lo, double x_hi, double y_lo, double y_hi) {
  x_lo_ = x_lo, x_hi_ = x_hi > x_lo ? x_hi : x_lo + 1;
  y_lo_ = y_lo, y_hi_ = y_hi > y_lo ? y_hi : y_lo + 1;
}
double Canvas::x(double v) const { return plot_left() + (v - x_lo_) / (x_hi_ - x_lo_) * (plot_right() - plot_left()); }
double Canvas::y(double v) const {
  return plot_bottom() - (v - y_lo_) / (y_hi_ - y_lo_) * (plot_bottom() - plot_top());
}

void Canvas::line(double x1, double y1, double x2, double y2, const std::string& cls) {
  body_ += "<line class=\"" + cls + "\" x1=\"" + fmt(x1) + "\" y1=\"" + fmt(y1) + "\" x2=\"" + fmt(x2) + "\" y2=\"" +
           fmt(y2) + "\"/>";
}

void Canvas::rect(double x, double y, double w, double h, const std::string& fill, const std::string& title) {
  body_ += "<rect x=\"" + fmt(x) + "\" y=\"" + fmt(y) + "\" width=\"" + fmt(w) + "\" height=\"" + fmt(h) +
           "\" fill=\"" + escape(fill) + "\"><title>" + escape(title) + "</title></rect>";
}

void Canvas::polyline(const std::vector<std::pair<double, double>>& px, const std::string& color,
                      const std::string& dash, const std::string& title) {
  if (px.empty()) return;
  std::string d;
  for (size_t i = 0; i < px.size(); ++i) d += (i ? " L" : "M") + fmt(px[i].first) + " " + fmt(px[i].second);
  body_ += "<path class=\"series\" d=\"" + d + "\" stroke=\"" + escape(color) + "\"" +
           (dash.empty() ? "" : " stroke-dasharray=\"" + escape(dash) + "\"") + "><title>" + escape(title) +
           "</title></path>";
}

void Canvas::circle(double cx, double cy, double r, const std::string& color, const std::string& title) {
  body_ += "<circle cx=\"" + fmt(cx) + "\" cy=\"" + fmt(cy) + "\" r=\"" + fmt(r) + "\" fill=\"" + escape(color) +
           "\"><title>" + escape(title) + "</title></circle>";
}

void Canvas::text(double x, double y, std::string_view s, const std::string& anchor, const std::string& cls,
                  double rotate) {
  body_ += "<text x=\"" + fmt(x) + "\" y=\"" + fmt(y) + "\" text-anchor=\"" + anchor + "\"" +
           (cls.empty() ? "" : " class=\"" + cls + "\"") +
           (rotate != 0 ? " transform=\"rotate(" + fmt(rotate) + " " + fmt(x) + " " + fmt(y) + ")\"" : "") + ">" +
           escape(s) + "</text>";
}

void Canvas::frame(const std::string& title, const std::string& x_label, const std::string& y_label,
                   const std::vector<double>& y_ticks, const TickFormat& y_format, const std::vector<double>& x_ticks,
                   const TickFormat& x_format) {
  // Long titles (labels from files end up in them) are cut so they stay inside the canvas.
  size_t cut = static_cast<size_t>(width_ / 8);
  if (cut < title.size())
    while (cut > 0 && (static_cast<unsigned char>(title[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 character
  text(width_ / 2.0, 20, cut < title.size() ? title.substr(0, cut) + "…" : title, "middle", "title");
  for (double v : y_ticks) {
    line(plot_left(), y(v), plot_right(), y(v), "grid");
    text(plot_left() - 6, y(v) + 4, y_format(v), "end", "tick");
  }
  for (double v : x_ticks) {
    line(x(v), plot_bottom(), x(v), plot_bottom() + 5, "axis");
    text(x(v), plot_bottom() + 18, x_format(v), "middle", "tick");
  }
  line(plot_left(), plot_top(), plot_left(), plot_bottom(), "axis");
  line(plot_left(), plot_bottom(), plot_right(), plot_bottom(), "axis");
  if (!x_label.empty()) text((plot_left() + plot_right()) / 2.0, height_ - 8, x_label, "middle", "axis-label");
  const double mid = (plot_top() + plot_bottom()) / 2.0;
  text(16, mid, y_label, "middle", "axis-label", -90);
}

void Canvas::legend(const std::vector<LegendItem>& items) {
  double cx = left_, cy = height_ + 14;
  if (!items.empty()) extra_height_ = 24;
  for (const LegendItem& it : items) {
    const double w = 34 + text_width(it.name);
    if (cx + w > width_ - 10 && cx > left_) {
      cx = left_;
      cy += 20;
      extra_height_ += 20;
    }
    body_ += "<line class=\"legend-key\" x1=\"" + fmt(cx) + "\" y1=\"" + fmt(cy - 4) + "\" x2=\"" + fmt(cx + 22) +
             "\" y2=\"" + fmt(cy - 4) + "\" stroke=\"" + escape(it.color) + "\"" +
             (it.dash.empty() ? "" : " stroke-dasharray=\"" + escape(it.dash) + "\"") + "/>";
    text(cx + 27, cy, it.name, "start", "legend");
    cx += w + 12;
  }
}

std::string Canvas::finish() const {
  const int h = height_ + extra_height_;
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"" + std::to_string(width_) +
         "\" height=\"" + std::to_string(h) + "\" viewBox=\"0 0 " + std::to_string(width_) + " " + std::to_string(h) +
         "\" role=\"img\">" + body_ + "</svg>";
}

std::string line_chart(const LineChart& c) {
  Canvas cv(720, 340, 72, 24, 36, 52);
  auto tx = [&](double v) { return c.log_x ? std::log2(std::max(v, 1e-9)) : v; };
  double x_lo = INFINITY, x_hi = -INFINITY, y_hi = 0;
  for (const LineSeries& s : c.series)
    for (const auto& [x, y] : s.points) {
      x_lo = std::min(x_lo, tx(x));
      x_hi = std::max(x_hi, tx(x));
      y_hi = std::max(y_hi, y);
    }
  if (x_lo > x_hi) x_lo = 0, x_hi = 1;
  if (x_lo == x_hi) x_lo -= 0.5, x_hi += 0.5;
  const Ticks yt = nice_ticks(0, c.y_max.value_or(y_hi > 0 ? y_hi : 1));
  std::vector<double> x_ticks, x_tick_pos;
  if (c.log_x) {
    for (double p = std::ceil(x_lo); p <= x_hi + 1e-9; ++p) x_tick_pos.push_back(p);
  } else {
    const Ticks xt = nice_ticks(x_lo, x_hi, 6);
    x_lo = xt.lo, x_hi = xt.hi;
    x_tick_pos = xt.values;
  }
  cv.set_ranges(x_lo, x_hi, yt.lo, yt.hi);
  TickFormat x_label = c.log_x ? TickFormat([&](double p) { return c.x_format(std::pow(2.0, p)); }) : c.x_format;
  cv.frame(c.title, c.x_label, c.y_label, yt.values, c.y_format, x_tick_pos, x_label);
  std::vector<Canvas::LegendItem> legend;
  for (const LineSeries& s : c.series) {
    std::vector<std::pair<double, double>> px;
    for (const auto& [x, y] : s.points) px.emplace_back(cv.x(tx(x)), cv.y(y));
    cv.polyline(px, s.color, s.dash, s.name);
    if (c.markers)
      for (size_t i = 0; i < px.size(); ++i)
        cv.circle(px[i].first, px[i].second, 3, s.color,
                  s.name + ": " + c.x_format(s.points[i].first) + " → " + c.y_format(s.points[i].second));
    legend.push_back({s.name, s.color, s.dash});
  }
  cv.legend(c.legend.empty() ? legend : c.legend);
  return cv.finish();
}

std::string bar_chart(const BarChart& c) {
  size_t lines = 1;
  double longest = 0;
  for (const std::string& g : c.groups) {
    const auto parts = split_label(g);
    lines = std::max(lines, parts.size());
    for (const auto& p : parts) longest = std::max(longest, text_width(p));
  }
  const int n_groups = static_cast<int>(std::max<size_t>(1, c.groups.size()));
  const int width = std::max(720, std::min(1400, 80 + n_groups * static_cast<int>(std::max(90.0, longest + 16))));
  Canvas cv(width, 300 + static_cast<int>(lines) * 14, 72, 24, 36, 20 + static_cast<int>(lines) * 14);
  double y_hi = 0;
  for (const BarSeries& s : c.series)
    for (size_t g = 0; g < s.values.size(); ++g)
      if (s.values[g]) y_hi = std::max(y_hi, *s.values[g] + (g < s.errors.size() ? s.errors[g] : 0));
  const Ticks yt = nice_ticks(0, y_hi > 0 ? y_hi : 1);
  cv.set_ranges(0, n_groups, yt.lo, yt.hi);
  cv.frame(c.title, "", c.y_label, yt.values, c.y_format);
  const double slot = cv.x(1) - cv.x(0);
  for (size_t g = 0; g < c.groups.size(); ++g) {
    const auto parts = split_label(c.groups[g]);
    for (size_t i = 0; i < parts.size(); ++i)
      cv.text(cv.x(g + 0.5), cv.plot_bottom() + 16 + 14 * static_cast<double>(i), parts[i], "middle", "tick");
    // Only the series with a value here share the group's width, so no gaps stand for missing bars.
    std::vector<size_t> present;
    for (size_t s = 0; s < c.series.size(); ++s)
      if (g < c.series[s].values.size() && c.series[s].values[g]) present.push_back(s);
    const double bar_w = slot * 0.8 / static_cast<double>(std::max<size_t>(1, present.size()));
    for (size_t k = 0; k < present.size(); ++k) {
      const BarSeries& bs = c.series[present[k]];
      const double v = *bs.values[g];
      const double left = cv.x(static_cast<double>(g)) + slot * 0.1 + bar_w * static_cast<double>(k);
      cv.rect(left, cv.y(v), bar_w * 0.92, cv.y(0) - cv.y(v), bs.color,
              bs.name + " · " + c.groups[g] + ": " + c.y_format(v));
      if (g < bs.errors.size() && bs.errors[g] > 0) {
        const double mid = left + bar_w * 0.46;
        cv.line(mid, cv.y(std::max(0.0, v - bs.errors[g])), mid, cv.y(v + bs.errors[g]), "errbar");
      }
    }
  }
  std::vector<Canvas::LegendItem> legend;
  for (const BarSeries& s : c.series) legend.push_back({s.name, s.color, ""});
  cv.legend(legend);
  return cv.finish();
}

}  // namespace hayate::report
