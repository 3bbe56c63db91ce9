// Training curves as SVG: the trainer's --log JSON lines (or a run's own epoch reports) drawn as loss
// and accuracy per epoch, several runs side by side.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/trainer.h"
#include "support/error.h"

namespace sinter {

// The curves a run can have, in legend order. Loss series go in the left panel, accuracies (drawn in
// percent) in the right one.
enum class Curve { TrainLoss, ValLoss, TestLoss, ValAcc, TestAcc };
inline constexpr int kNumCurves = 5;

// One epoch of a run. A value the epoch does not have (no validation split, `null` in the log, a
// non-finite loss) is NaN: the curve has a gap there.
struct CurvePoint {
  double epoch = 0;
  double values[kNumCurves];
};

struct CurveRun {
  std::string name;  // the legend's name for the run: the log's file stem
  std::vector<CurvePoint> points;  // by increasing epoch
};

// A --log file. Blank lines are skipped; a line that is not a JSON object with an integer "epoch" of
// at least 1, or whose train_loss, val_loss, test_loss, val_acc or test_acc is neither a number nor
// null, is an error naming "file:line"; so is a file with no epoch lines. When an epoch appears twice
// (a log appended to by a --resume from an earlier checkpoint) the later line wins.
Expected<CurveRun> readTrainingLog(const std::string& path);
// The same from text, `path` naming it in errors.
Expected<CurveRun> parseTrainingLog(std::string_view text, const std::string& path);

// A run from the trainer's own epoch reports.
CurveRun curveRunFromReports(std::string name, std::span<const EpochReport> epochs);

// The SVG document: two panels side by side (loss per epoch, accuracy in percent per epoch), each with
// axes, ticks at round numbers, axis titles and a legend below it. A curve is a colour, a run a dash
// pattern; every epoch is a marker. Only finite values (below 1e100) are drawn; a gap splits a curve
// into several polylines. The plot area is a <rect class="plot-area"> carrying its data range
// (data-x0, data-x1, data-y0, data-y1) for tools and tests; each polyline and marker names its curve
// and run (data-curve, data-run).
std::string renderTrainingCurves(std::span<const CurveRun> runs);

// Renders and writes to path.
Status writeTrainingCurves(const std::string& path, std::span<const CurveRun> runs);

// The legend's and the SVG's name of a curve: "train loss", "val acc", ...
std::string_view curveName(Curve c);

}  // namespace sinter
