// Small SVG drawing helpers for the report's charts: escaping, "nice" axis ticks, and two chart
// kinds (lines over a numeric x axis, grouped bars over categories) built from them. Every
// string that reaches the SVG goes through escape(), since labels come from result files.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hayate::report {

// & < > " ' as entities: safe in HTML/SVG text and in quoted attributes.
std::string escape(std::string_view text);

// The i-th colour of a palette that stays distinguishable for the first eight series.
const char* series_color(size_t i);

// Tick values covering [lo, hi] at 1/2/5 x 10^k steps; lo and hi widened to whole steps.
struct Ticks {
  double lo = 0, hi = 1;
  std::vector<double> values;
};
Ticks nice_ticks(double lo, double hi, int target_count = 5);

// 1234 -> "1.23k", 0.5 -> "0.5": short tick labels.
std::string short_number(double v);
// Byte counts as "512 MiB", "1.5 GiB".
std::string short_bytes(double bytes);

using TickFormat = std::function<std::string(double)>;

// A canvas with a plot area; x() and y() map data to pixels once the ranges are set.
class Canvas {
 public:
  Canvas(int width, int height, int left, int right, int top, int bottom);
  void set_ranges(double x_lo, double x_hi, double y_lo, double y_hi);
  double x(double v) const;
  double y(double v) const;
  int plot_left() const { return left_; }
  int plot_right() const { return width_ - right_; }
  int plot_top() const { return top_; }
  int plot_bottom() const { return height_ - bottom_; }

  void line(double x1, double y1, double x2, double y2, const std::string& cls);
  void rect(double x, double y, double w, double h, const std::string& fill, const std::string& title);
  void polyline(const std::vector<std::pair<double, double>>& px, const std::string& color, const std::string& dash,
                const std::string& title);
  void circle(double cx, double cy, double r, const std::string& color, const std::string& title);
  void text(double x, double y, std::string_view s, const std::string& anchor = "start", const std::string& cls = "",
            double rotate = 0);

  // Title, axis titles, grid lines and tick labels on both axes (x ticks only when given).
  void frame(const std::string& title, const std::string& x_label, const std::string& y_label,
             const std::vector<double>& y_ticks, const TickFormat& y_format, const std::vector<double>& x_ticks = {},
             const TickFormat& x_format = {});
  struct LegendItem {
    std::string name, color, dash;
  };
  // Legend rows under the plot area (the canvas grows to fit them).
  void legend(const std::vector<LegendItem>& items);
  std::string finish() const;

 private:
  int width_, height_, left_, right_, top_, bottom_;
  double x_lo_ = 0, x_hi_ = 1, y_lo_ = 0, y_hi_ = 1;
  int extra_height_ = 0;
  std::string body_;
};

struct LineSeries {
  std::string name, color, dash;  // dash: an SVG stroke-dasharray, "" for solid
  std::vector<std::pair<double, double>> points;
};
struct LineChart {
  std::string title, x_label, y_label;
  std::vector<LineSeries> series;
  TickFormat x_format = short_number, y_format = short_number;
  bool log_x = false;                      // concurrency sweeps (1, 2, 4, … 64) read better on a log scale
  std::optional<double> y_max;             // e.g. 1 for a CDF
  bool markers = true;                     // a dot per point (off for CDF steps)
  std::vector<Canvas::LegendItem> legend;  // empty: one entry per series
};
std::string line_chart(const LineChart& chart);

struct BarSeries {
  std::string name, color;
  std::vector<std::optional<double>> values;  // one per group; nullopt: no bar
  std::vector<double> errors;                 // optional ± per group (same length or empty)
};
struct BarChart {
  std::string title, y_label;
  std::vector<std::string> groups;
  std::vector<BarSeries> series;
  TickFormat y_format = short_number;
};
std::string bar_chart(const BarChart& chart);

}  // namespace hayate::report
