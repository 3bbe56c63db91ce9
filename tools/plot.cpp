// `sinter plot LOG.jsonl... -o curves.svg`: training curves of one or more --log files.
#include <cstdio>

#include "runtime/plot.h"
#include "tools/commands.h"

namespace sinter {

int plotCommand(const ToolOptions& o) {
  if (o.output.empty()) {
    std::fputs("sinter: error: 'plot' needs -o FILE.svg\n", stderr);
    return 2;
  }
  std::vector<CurveRun> runs;
  for (const std::string& file : o.files) {
    Expected<CurveRun> run = readTrainingLog(file);
    if (!run) {
      std::fprintf(stderr, "error: %s\n", run.error().message().c_str());
      return 1;
    }
    runs.push_back(run.take());
  }
  if (Status s = writeTrainingCurves(o.output, runs); !s) {
    std::fprintf(stderr, "error: %s\n", s.error().message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace sinter
