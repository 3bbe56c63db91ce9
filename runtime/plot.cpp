// Training curves as SVG: --log lines in, two panels of polylines out.
//
// Layout: each panel is a fixed-size plot area with its title above, y tick labels and title to the
// left, x tick labels and title below, and its legend under that in as many columns as fit. The
// document's height grows with the taller legend, so nothing is clipped however many runs there are.
// Ticks are at 1, 2 or 5 times a power of ten. Both ranges are padded a little so that the first and
// last markers clear the axes; the y range is then widened to whole ticks, the x range (epochs) has
// integer ticks.
#include "runtime/plot.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "runtime/json.h"

namespace sinter {

namespace {

struct CurveStyle {
  std::string_view name;     // legend text and data-curve
  std::string_view logKey;   // the member of a --log line
  bool accuracy;             // right panel, drawn in percent
  std::string_view colour;   // one colour per kind of data: validation orange, test green, either panel
};

constexpr CurveStyle kCurves[kNumCurves] = {
    {"train loss", "train_loss", false, "#1f77b4"},
    {"val loss", "val_loss", false, "#ff7f0e"},
    {"test loss", "test_loss", false, "#2ca02c"},
    {"val acc", "val_acc", true, "#ff7f0e"},
    {"test acc", "test_acc", true, "#2ca02c"},
};

// A run's dash pattern (the first run solid), cycling when there are more runs.
constexpr std::string_view kDashes[] = {"", "8 4", "2 3", "10 3 2 3", "5 5"};

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Geometry, in SVG user units (pixels).
constexpr double kPanelWidth = 600, kPlotLeft = 80, kPlotRight = 20, kPlotTop = 44, kPlotHeight = 320;
constexpr double kLegendTop = kPlotTop + kPlotHeight + 62, kLegendRow = 20, kCharWidth = 7;

std::string escapeXml(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// The value a curve is drawn at: accuracies in percent.
double plotted(const CurvePoint& p, int c) { return kCurves[c].accuracy ? 100 * p.values[c] : p.values[c]; }

// Whether a value gets a point: finite, and small enough that spans and pixel positions stay finite
// (a loss that diverged to 1e300 is a gap, as an infinite one is).
bool drawable(double v) { return std::isfinite(v) && std::abs(v) < 1e100; }

// 1, 2 or 5 times a power of ten, near span / target.
double niceStep(double span, double target) {
  const double raw = span / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

int decimalsFor(double step) { return std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9))); }

struct Axis {
  double lo = 0, hi = 1, step = 1;
  std::vector<double> ticks;
};

// The y axis over [min, max]: whole steps around the data, within [floor, ceiling].
Axis valueAxis(double min, double max, double floor, double ceiling) {
  if (!(min <= max)) min = std::isfinite(floor) ? floor : 0, max = std::isfinite(ceiling) ? ceiling : 1;
  if (max - min < 1e-12 * std::max(1.0, std::abs(max))) {
    const double d = min == 0 ? 1 : std::abs(min) * 0.1;
    min -= d, max += d;
  }
  // 4% of the span either side, so that markers at the extremes clear the axes.
  const double pad = (max - min) * 0.04;
  min -= pad, max += pad;
  Axis a;
  a.step = niceStep(max - min, 5);
  a.lo = std::floor(min / a.step) * a.step;
  a.hi = std::ceil(max / a.step) * a.step;
  if (a.lo < floor && min + pad >= floor) a.lo = floor;  // accuracy: no axis below 0% or above 100%
  if (a.hi > ceiling && max - pad <= ceiling) a.hi = ceiling;
  for (double t = std::ceil(a.lo / a.step - 1e-9); t * a.step <= a.hi + a.step * 1e-9; t += 1) a.ticks.push_back(t * a.step);
  return a;
}

// The epoch axis: integer ticks, the range padded by 4% (one epoch: half a unit either side).
Axis epochAxis(double min, double max) {
  Axis a;
  if (!std::isfinite(min)) min = max = 1;  // a run of no epochs
  if (!(min < max)) {
    a.lo = min - 0.5, a.hi = min + 0.5, a.step = 1;
  } else {
    a.step = std::max(1.0, std::round(niceStep(max - min, 8)));
    const double pad = (max - min) * 0.04;
    a.lo = min - pad, a.hi = max + pad;
  }
  for (double t = std::ceil(a.lo / a.step); t * a.step <= a.hi; t += 1) a.ticks.push_back(t * a.step);
  return a;
}

struct Entry {
  int curve;
  size_t run;
};

struct Panel {
  double x;  // left edge of the panel in the document
  bool accuracy;
  std::vector<Entry> entries;  // the curves drawn, in legend order
  int columns = 1;
  double columnWidth = 0;
  size_t rows() const { return (entries.size() + static_cast<size_t>(columns) - 1) / static_cast<size_t>(columns); }
};

std::string label(const Entry& e, std::span<const CurveRun> runs) {
  return fmt::format("{} ({})", kCurves[e.curve].name, runs[e.run].name);
}

bool hasValues(const CurveRun& run, int c) {
  return std::any_of(run.points.begin(), run.points.end(), [&](const CurvePoint& p) { return drawable(plotted(p, c)); });
}

// A legend sample: the run's dash in the curve's colour, with a marker.
void legendSample(std::string& svg, const Entry& e, double x, double y) {
  const std::string_view dash = kDashes[e.run % std::size(kDashes)];
  svg += fmt::format(R"(<line x1="{:.2f}" y1="{:.2f}" x2="{:.2f}" y2="{:.2f}" stroke="{}" stroke-width="2"{}/>)", x, y,
                     x + 28, y, kCurves[e.curve].colour,
                     dash.empty() ? std::string() : fmt::format(R"( stroke-dasharray="{}")", dash));
  svg += fmt::format(R"(<circle cx="{:.2f}" cy="{:.2f}" r="3" fill="{}"/>)", x + 14, y, kCurves[e.curve].colour);
  svg += "\n";
}

void renderPanel(std::string& svg, const Panel& panel, std::span<const CurveRun> runs) {
  const double left = panel.x + kPlotLeft, right = panel.x + kPanelWidth - kPlotRight;
  const double top = kPlotTop, bottom = kPlotTop + kPlotHeight;
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const CurveRun& run : runs)
    for (const CurvePoint& p : run.points) {
      xmin = std::min(xmin, p.epoch), xmax = std::max(xmax, p.epoch);
      for (const Entry& e : panel.entries)
        if (&runs[e.run] == &run && drawable(plotted(p, e.curve)))
          ymin = std::min(ymin, plotted(p, e.curve)), ymax = std::max(ymax, plotted(p, e.curve));
    }
  const Axis xa = epochAxis(xmin, xmax);
  const Axis ya = panel.accuracy ? valueAxis(ymin, ymax, 0, 100) : valueAxis(ymin, ymax, -INFINITY, INFINITY);
  const auto px = [&](double v) { return left + (v - xa.lo) / (xa.hi - xa.lo) * (right - left); };
  const auto py = [&](double v) { return bottom - (v - ya.lo) / (ya.hi - ya.lo) * (bottom - top); };
  const std::string_view what = panel.accuracy ? "accuracy (%)" : "loss";

  svg += fmt::format(R"(<g class="panel" data-panel="{}">)", panel.accuracy ? "accuracy" : "loss");
  svg += "\n";
  svg += fmt::format(R"(<text x="{:.2f}" y="{:.2f}" text-anchor="middle" font-size="15" font-weight="bold">{} per epoch</text>)",
                     (left + right) / 2, top - 18, panel.accuracy ? "Accuracy" : "Loss");
  svg += "\n";
  svg += fmt::format(R"(<rect class="plot-area" x="{:.2f}" y="{:.2f}" width="{:.2f}" height="{:.2f}" fill="none" )"
                     R"(stroke="#444" data-x0="{}" data-x1="{}" data-y0="{}" data-y1="{}"/>)",
                     left, top, right - left, bottom - top, xa.lo, xa.hi, ya.lo, ya.hi);
  svg += "\n";
  // Grid lines and ticks: inside the plot area, labels outside.
  for (double t : ya.ticks) {
    const double y = py(t);
    svg += fmt::format(R"(<line x1="{0:.2f}" y1="{1:.2f}" x2="{2:.2f}" y2="{1:.2f}" stroke="#e4e4e4"/>)", left, y, right);
    svg += fmt::format(R"(<line class="tick" x1="{0:.2f}" y1="{1:.2f}" x2="{2:.2f}" y2="{1:.2f}" stroke="#444"/>)", left - 5, y, left);
    svg += fmt::format(R"(<text x="{:.2f}" y="{:.2f}" text-anchor="end" font-size="12">{:.{}f}</text>)", left - 8, y + 4,
                       t, decimalsFor(ya.step));
    svg += "\n";
  }
  for (double t : xa.ticks) {
    const double x = px(t);
    svg += fmt::format(R"(<line x1="{0:.2f}" y1="{1:.2f}" x2="{0:.2f}" y2="{2:.2f}" stroke="#e4e4e4"/>)", x, top, bottom);
    svg += fmt::format(R"(<line class="tick" x1="{0:.2f}" y1="{1:.2f}" x2="{0:.2f}" y2="{2:.2f}" stroke="#444"/>)", x, bottom, bottom + 5);
    svg += fmt::format(R"(<text x="{:.2f}" y="{:.2f}" text-anchor="middle" font-size="12">{:.0f}</text>)", x, bottom + 19, t);
    svg += "\n";
  }
  svg += fmt::format(R"(<text x="{:.2f}" y="{:.2f}" text-anchor="middle" font-size="13">epoch</text>)", (left + right) / 2,
                     bottom + 40);
  svg += fmt::format(R"svg(<text x="{0:.2f}" y="{1:.2f}" text-anchor="middle" font-size="13" transform="rotate(-90 {0:.2f} {1:.2f})">{2}</text>)svg",
                     panel.x + 22, (top + bottom) / 2, what);
  svg += "\n";
  if (panel.entries.empty())
    svg += fmt::format(R"(<text x="{:.2f}" y="{:.2f}" text-anchor="middle" font-size="13" fill="#888">no data</text>)",
                       (left + right) / 2, (top + bottom) / 2) + "\n";

  // The curves: a polyline per run of consecutive finite values, a marker per value.
  for (const Entry& e : panel.entries) {
    const CurveStyle& style = kCurves[e.curve];
    const std::string_view dash = kDashes[e.run % std::size(kDashes)];
    const std::string tags = fmt::format(R"(data-curve="{}" data-run="{}")", style.name, escapeXml(runs[e.run].name));
    std::string points, markers;
    const auto flush = [&] {
      if (points.empty()) return;
      svg += fmt::format(R"(<polyline {} points="{}" fill="none" stroke="{}" stroke-width="2"{}/>)", tags, points,
                         style.colour, dash.empty() ? std::string() : fmt::format(R"( stroke-dasharray="{}")", dash));
      svg += "\n";
      points.clear();
    };
    for (const CurvePoint& p : runs[e.run].points) {
      const double v = plotted(p, e.curve);
      if (!drawable(v)) {
        flush();
        continue;
      }
      points += fmt::format("{}{:.2f},{:.2f}", points.empty() ? "" : " ", px(p.epoch), py(v));
      markers += fmt::format(R"(<circle class="marker" {} cx="{:.2f}" cy="{:.2f}" r="3" fill="{}"><title>{} {}, epoch {}: {:.4g}</title></circle>)",
                             tags, px(p.epoch), py(v), style.colour, escapeXml(runs[e.run].name), style.name, p.epoch, v);
      markers += "\n";
    }
    flush();
    svg += markers;
  }

  // The legend, row by row under the axis title.
  for (size_t i = 0; i < panel.entries.size(); ++i) {
    const Entry& e = panel.entries[i];
    const double x = panel.x + kPlotLeft + static_cast<double>(i % static_cast<size_t>(panel.columns)) * panel.columnWidth;
    const double y = kLegendTop + static_cast<double>(i / static_cast<size_t>(panel.columns)) * kLegendRow;
    legendSample(svg, e, x, y);
    svg += fmt::format(R"(<text class="legend" x="{:.2f}" y="{:.2f}" font-size="12">{}</text>)", x + 34, y + 4,
                       escapeXml(label(e, runs)));
    svg += "\n";
  }
  svg += "</g>\n";
}

}  // namespace

std::string_view curveName(Curve c) { return kCurves[static_cast<int>(c)].name; }

Expected<CurveRun> parseTrainingLog(std::string_view text, const std::string& path) {
  std::map<int64_t, CurvePoint> byEpoch;
  size_t lineNo = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++lineNo;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const auto fail = [&](std::string msg) { return Error(fmt::format("{}:{}: {}", path, lineNo, msg)); };
    auto json = parseJson(line);
    if (!json) return fail(json.error().message());
    if (!json->isObject()) return fail("expected a JSON object (one epoch of a --log file)");
    const Json* epoch = json->find("epoch");
    if (!epoch || !epoch->isInt() || epoch->asInt() < 1) return fail("expected an integer \"epoch\" of at least 1");
    CurvePoint point;
    point.epoch = static_cast<double>(epoch->asInt());
    for (int c = 0; c < kNumCurves; ++c) {
      const Json* v = json->find(kCurves[c].logKey);
      if (v && !v->isNumber() && !v->isNull())
        return fail(fmt::format("\"{}\" is not a number", kCurves[c].logKey));
      point.values[c] = v && v->isNumber() ? v->asDouble() : kNaN;
    }
    byEpoch[epoch->asInt()] = point;
  }
  if (byEpoch.empty()) return Error(fmt::format("{}: no epoch lines (an empty log)", path));
  CurveRun run;
  run.name = std::filesystem::path(path).stem().string();
  for (const auto& [epoch, point] : byEpoch) run.points.push_back(point);
  return run;
}

Expected<CurveRun> readTrainingLog(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return Error(fmt::format("cannot read {}", path));
  return parseTrainingLog(text.str(), path);
}

CurveRun curveRunFromReports(std::string name, std::span<const EpochReport> epochs) {
  CurveRun run{std::move(name), {}};
  for (const EpochReport& r : epochs) {
    CurvePoint p;
    p.epoch = static_cast<double>(r.epoch);
    const auto loss = [](bool has, const EvalResult& e) { return has && e.hasLoss ? e.loss : kNaN; };
    p.values[static_cast<int>(Curve::TrainLoss)] = r.trainLoss;
    p.values[static_cast<int>(Curve::ValLoss)] = loss(r.hasValidation, r.validation);
    p.values[static_cast<int>(Curve::TestLoss)] = loss(r.hasTest, r.test);
    p.values[static_cast<int>(Curve::ValAcc)] = r.hasValidation ? r.validation.accuracy : kNaN;
    p.values[static_cast<int>(Curve::TestAcc)] = r.hasTest ? r.test.accuracy : kNaN;
    run.points.push_back(p);
  }
  return run;
}

std::string renderTrainingCurves(std::span<const CurveRun> runs) {
  Panel panels[2] = {{0, false, {}}, {kPanelWidth, true, {}}};
  for (Panel& panel : panels) {
    size_t widest = 0;
    for (int c = 0; c < kNumCurves; ++c)
      for (size_t r = 0; r < runs.size(); ++r)
        if (kCurves[c].accuracy == panel.accuracy && hasValues(runs[r], c)) {
          panel.entries.push_back({c, r});
          widest = std::max(widest, label(panel.entries.back(), runs).size());
        }
    const double available = kPanelWidth - kPlotLeft - kPlotRight;
    panel.columnWidth = 34 + kCharWidth * static_cast<double>(widest) + 16;
    panel.columns = std::max(1, static_cast<int>(available / panel.columnWidth));
  }
  const size_t rows = std::max(panels[0].rows(), panels[1].rows());
  const double width = 2 * kPanelWidth, height = kLegendTop + static_cast<double>(rows) * kLegendRow + 8;
  std::string svg = fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="{0:.0f}" height="{1:.0f}" viewBox="0 0 {0:.0f} {1:.0f}" )"
      R"(font-family="DejaVu Sans, Arial, sans-serif">)"
      "\n"
      R"(<rect width="100%" height="100%" fill="white"/>)"
      "\n",
      width, height);
  for (const Panel& panel : panels) renderPanel(svg, panel, runs);
  svg += "</svg>\n";
  return svg;
}

Status writeTrainingCurves(const std::string& path, std::span<const CurveRun> runs) {
  const std::string svg = renderTrainingCurves(runs);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Error(fmt::format("cannot open {} for writing: {}", path, std::strerror(errno)));
  out.write(svg.data(), static_cast<std::streamsize>(svg.size()));
  out.close();
  if (!out) return Error(fmt::format("cannot write {}", path));
  return ok();
}

}  // namespace sinter
