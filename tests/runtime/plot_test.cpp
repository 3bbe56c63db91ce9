// Training curves: --log lines read back, and the SVG parsed again (polylines, markers, the mapping from
// data to the plot area, the legend), plus every error a log can give.
#include "runtime/plot.h"

#include <doctest/doctest.h>

#include <cmath>
#include <regex>
#include <string>
#include <vector>

#include "test_util.h"

using namespace sinter;

namespace {

// One element of the SVG: its name, attributes and (for text) its content.
struct Element {
  std::string name, attrs, text;
  std::string attr(const std::string& key) const {
    std::smatch m;
    const std::regex re("(^|\\s)" + key + "=\"([^\"]*)\"");
    REQUIRE_MESSAGE(std::regex_search(attrs, m, re), (key + " in <" + name + attrs + ">"));
    return m[2];
  }
  double number(const std::string& key) const { return std::stod(attr(key)); }
};

std::vector<Element> elements(const std::string& svg, const std::string& name, const std::string& cls = "") {
  std::vector<Element> out;
  const std::regex re("<" + name + "(\\s[^>]*?)/?>(?:([^<]*)</" + name + ">)?");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator(); ++it) {
    Element e{name, (*it)[1], (*it)[2]};
    if (cls.empty() || e.attrs.find("class=\"" + cls + "\"") != std::string::npos) out.push_back(e);
  }
  return out;
}

struct Area {
  double x, y, w, h, x0, x1, y0, y1;
  bool inside(double px, double py) const { return px >= x && px <= x + w && py >= y && py <= y + h; }
  double value(double py) const { return y0 + (y + h - py) / h * (y1 - y0); }
  double epoch(double px) const { return x0 + (px - x) / w * (x1 - x0); }
};

// The plot areas, loss then accuracy.
std::vector<Area> areas(const std::string& svg) {
  std::vector<Area> out;
  for (const Element& e : elements(svg, "rect", "plot-area"))
    out.push_back({e.number("x"), e.number("y"), e.number("width"), e.number("height"), e.number("data-x0"),
                   e.number("data-x1"), e.number("data-y0"), e.number("data-y1")});
  REQUIRE(out.size() == 2);
  return out;
}

std::vector<std::pair<double, double>> points(const Element& polyline) {
  std::vector<std::pair<double, double>> out;
  std::stringstream in(polyline.attr("points"));
  std::string pair;
  while (in >> pair) {
    const size_t comma = pair.find(',');
    REQUIRE(comma != std::string::npos);
    out.emplace_back(std::stod(pair.substr(0, comma)), std::stod(pair.substr(comma + 1)));
  }
  return out;
}

std::vector<Element> withCurve(const std::vector<Element>& all, const std::string& curve, const std::string& run) {
  std::vector<Element> out;
  for (const Element& e : all)
    if (e.attr("data-curve") == curve && e.attr("data-run") == run) out.push_back(e);
  return out;
}

const std::string kLog =
    R"({"epoch":1,"epochs":3,"step":10,"lr":0.001,"train_loss":0.9,"val_loss":0.7,"val_acc":0.71,"test_loss":0.72,"test_acc":0.705,"seconds":1.5})"
    "\n"
    R"({"epoch":2,"epochs":3,"step":20,"lr":0.001,"train_loss":0.5,"val_loss":0.55,"val_acc":0.8,"test_loss":0.56,"test_acc":0.79,"seconds":1.4})"
    "\n\n"
    R"({"epoch":3,"epochs":3,"step":30,"lr":0.001,"train_loss":0.4,"val_loss":0.5,"val_acc":0.83,"test_loss":0.51,"test_acc":0.82,"seconds":1.4})"
    "\n";

CurveRun parseOk(const std::string& text, const std::string& path = "runs/m.jsonl") {
  auto run = parseTrainingLog(text, path);
  REQUIRE_MESSAGE(run.ok(), (run.ok() ? std::string() : run.error().message()));
  return run.take();
}

std::string parseError(const std::string& text, const std::string& path = "m.jsonl") {
  auto run = parseTrainingLog(text, path);
  REQUIRE_FALSE(run.ok());
  return run.error().message();
}

}  // namespace

TEST_CASE("plot: a log's epochs read back") {
  const CurveRun run = parseOk(kLog);
  CHECK(run.name == "m");
  REQUIRE(run.points.size() == 3);
  CHECK(run.points[1].epoch == 2);
  CHECK(run.points[1].values[static_cast<int>(Curve::TrainLoss)] == 0.5);
  CHECK(run.points[2].values[static_cast<int>(Curve::TestAcc)] == 0.82);
  // A repeated epoch (a log appended to after --resume from an earlier checkpoint): the later line wins.
  const CurveRun resumed = parseOk(kLog + R"({"epoch":2,"train_loss":0.45,"test_acc":0.8})" + "\n");
  REQUIRE(resumed.points.size() == 3);
  CHECK(resumed.points[1].values[static_cast<int>(Curve::TrainLoss)] == 0.45);
  CHECK(std::isnan(resumed.points[1].values[static_cast<int>(Curve::ValLoss)]));
}

TEST_CASE("plot: the SVG's curves, markers, mapping and legend") {
  const CurveRun run = parseOk(kLog);
  const std::string svg = renderTrainingCurves(std::span(&run, 1));
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
  const std::vector<Area> area = areas(svg);
  const std::vector<Element> lines = elements(svg, "polyline"), markers = elements(svg, "circle", "marker");
  CHECK(lines.size() == 5);  // one per curve
  CHECK(markers.size() == 15);
  for (int c = 0; c < kNumCurves; ++c) {
    const std::string name(curveName(static_cast<Curve>(c)));
    CAPTURE(name);
    const Area& a = area[c >= static_cast<int>(Curve::ValAcc) ? 1 : 0];
    const double scale = c >= static_cast<int>(Curve::ValAcc) ? 100 : 1;
    const auto line = withCurve(lines, name, "m");
    REQUIRE(line.size() == 1);
    const auto pts = points(line[0]);
    REQUIRE(pts.size() == 3);
    CHECK(withCurve(markers, name, "m").size() == 3);
    for (size_t i = 0; i < pts.size(); ++i) {
      CHECK(a.inside(pts[i].first, pts[i].second));
      if (i) CHECK(pts[i].first > pts[i - 1].first);
      CHECK(a.epoch(pts[i].first) == doctest::Approx(run.points[i].epoch).epsilon(1e-3));
      // Coordinates carry two decimals: a value comes back to within a hundredth of a pixel.
      CHECK(std::abs(a.value(pts[i].second) - scale * run.points[i].values[c]) <= (a.y1 - a.y0) / a.h * 0.01);
    }
  }
  std::vector<std::string> legend;
  for (const Element& e : elements(svg, "text", "legend")) legend.push_back(e.text);
  CHECK(legend == std::vector<std::string>{"train loss (m)", "val loss (m)", "test loss (m)", "val acc (m)", "test acc (m)"});
}

TEST_CASE("plot: two runs, one epoch, missing series and gaps") {
  // No validation split; epoch 2's loss did not come out finite (null in the log).
  CurveRun a = parseOk(R"({"epoch":1,"train_loss":2.3,"test_loss":2.2,"test_acc":0.1})"
                       "\n"
                       R"({"epoch":2,"train_loss":null,"test_loss":1.0,"test_acc":0.5})"
                       "\n"
                       R"({"epoch":3,"train_loss":0.8,"test_loss":0.9,"test_acc":0.6})"
                       "\n",
                       "a&b.jsonl");
  CurveRun b = parseOk(R"({"epoch":1,"train_loss":1.5,"test_acc":0.4})", "one.jsonl");
  a.points[2].values[static_cast<int>(Curve::TestLoss)] = INFINITY;  // as a report's loss could be
  const std::vector<CurveRun> runs = {a, b};
  const std::string svg = renderTrainingCurves(runs);
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
  const std::vector<Element> lines = elements(svg, "polyline"), markers = elements(svg, "circle", "marker");
  CHECK(withCurve(lines, "val loss", "a&amp;b").empty());
  CHECK(withCurve(lines, "val acc", "a&amp;b").empty());
  const auto trainA = withCurve(lines, "train loss", "a&amp;b");  // split by the gap
  REQUIRE(trainA.size() == 2);
  CHECK(points(trainA[0]).size() == 1);
  CHECK(points(trainA[1]).size() == 1);
  CHECK(withCurve(markers, "test loss", "a&amp;b").size() == 2);
  CHECK(withCurve(markers, "train loss", "one").size() == 1);
  CHECK(withCurve(lines, "test acc", "one").size() == 1);
  CHECK(withCurve(lines, "test loss", "one").empty());
  const std::vector<Area> area = areas(svg);
  for (const Element& m : markers) CHECK((area[0].inside(m.number("cx"), m.number("cy")) || area[1].inside(m.number("cx"), m.number("cy"))));
  // The second run is dashed, the first is not.
  CHECK(trainA[0].attrs.find("stroke-dasharray") == std::string::npos);
  CHECK(withCurve(lines, "test acc", "one")[0].attrs.find("stroke-dasharray") != std::string::npos);
  std::vector<std::string> legend;
  for (const Element& e : elements(svg, "text", "legend")) legend.push_back(e.text);
  CHECK(legend == std::vector<std::string>{"train loss (a&amp;b)", "train loss (one)", "test loss (a&amp;b)",
                                           "test acc (a&amp;b)", "test acc (one)"});

  // A single run of a single epoch still has a range and a point in it.
  const std::string single = renderTrainingCurves(std::span(&b, 1));
  const std::vector<Area> sa = areas(single);
  const auto only = withCurve(elements(single, "circle", "marker"), "train loss", "one");
  REQUIRE(only.size() == 1);
  CHECK(sa[0].inside(only[0].number("cx"), only[0].number("cy")));
  CHECK(sa[0].value(only[0].number("cy")) == doctest::Approx(1.5).epsilon(1e-3));
  CHECK(single.find("no data") == std::string::npos);
}

TEST_CASE("plot: a diverged loss is a gap, not an axis to 1e300") {
  CurveRun run = parseOk(R"({"epoch":1,"train_loss":2})" "\n" R"({"epoch":2,"train_loss":1e300})" "\n"
                         R"({"epoch":3,"train_loss":1})");
  const std::string svg = renderTrainingCurves(std::span(&run, 1));
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
  CHECK(withCurve(elements(svg, "circle", "marker"), "train loss", "m").size() == 2);
  CHECK(areas(svg)[0].y1 <= 3);
  // No accuracy at all: the panel says so.
  CHECK(svg.find(">no data</text>") != std::string::npos);
}

TEST_CASE("plot: bad logs name the file and line") {
  CHECK(parseError("") == "m.jsonl: no epoch lines (an empty log)");
  CHECK(parseError("\n  \n") == "m.jsonl: no epoch lines (an empty log)");
  CHECK(parseError(R"({"epoch":1,"train_loss":1})" "\n{\"epoch\":2,") ==
        "m.jsonl:2: at byte 11: expected a string key, found end of input");
  CHECK(parseError("[1, 2]") == "m.jsonl:1: expected a JSON object (one epoch of a --log file)");
  CHECK(parseError(R"({"train_loss":1})") == "m.jsonl:1: expected an integer \"epoch\" of at least 1");
  CHECK(parseError(R"({"epoch":0.5})") == "m.jsonl:1: expected an integer \"epoch\" of at least 1");
  CHECK(parseError("\n" R"({"epoch":1,"val_acc":"high"})") == "m.jsonl:2: \"val_acc\" is not a number");
  CHECK(readTrainingLog("/no/such/log.jsonl").error().message().starts_with("cannot open /no/such/log.jsonl: "));
}

TEST_CASE("plot: the trainer's reports and the file written") {
  EpochReport r1{.epoch = 1, .lr = 0.1, .trainLoss = 1.0, .hasValidation = false, .hasTest = true, .validation = {},
                 .test = {.count = 10, .hasLoss = true, .loss = 0.9, .accuracy = 0.5}, .seconds = 1};
  EpochReport r2 = r1;
  r2.epoch = 2;
  r2.trainLoss = NAN;
  const std::vector<EpochReport> reports = {r1, r2};
  const CurveRun run = curveRunFromReports("lenet", reports);
  REQUIRE(run.points.size() == 2);
  CHECK(std::isnan(run.points[0].values[static_cast<int>(Curve::ValAcc)]));
  CHECK(run.points[1].values[static_cast<int>(Curve::TestAcc)] == 0.5);
  test::TempDir dir;
  REQUIRE(writeTrainingCurves(dir.file("c.svg"), std::span(&run, 1)).ok());
  const std::string svg = test::readBytes(dir.file("c.svg"));
  CHECK(svg.starts_with("<svg "));
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(withCurve(elements(svg, "polyline"), "train loss", "lenet").size() == 1);
  CHECK(writeTrainingCurves(dir.file("no/such/dir/c.svg"), std::span(&run, 1)).error().message().starts_with("cannot open"));
}
