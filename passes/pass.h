// Passes: named IR-to-IR functions, and the pass manager that runs, verifies and prints them.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ir/module.h"

namespace sinter {

// A pass transforms the module in place and says whether it changed anything.
using PassFn = Expected<bool> (*)(Module&);

#define PASS(name, fn, what) Expected<bool> fn(Module&);
#include "passes/passes.def"
#undef PASS

struct PassInfo {
  const char* name;
  PassFn run;
  const char* what;
};

const std::vector<PassInfo>& allPasses();
const PassInfo* findPass(std::string_view name);

// Whether the target runs `op` (whose first operand has type `x`) as a library primitive.
using TargetTakes = std::function<bool(OpKind op, const TensorType& x)>;

// decompose-batchnorm, keeping the batch-norm ops that `keep` says the target runs itself.
Expected<bool> decomposeBatchNormExcept(Module& m, const TargetTakes& keep);

// What the pass manager prints and checks.
struct PassManagerOptions {
  bool verify = true;                    // run the verifier after each pass, naming the pass that broke it
  bool printAfterAll = false;
  std::vector<std::string> printAfter;   // pass names
  bool printChanged = false;
  std::function<void(const std::string&)> print;  // where dumps go (stderr by default)
  // The target's library primitives: the ops target-dependent passes keep (unset: none).
  TargetTakes targetTakes;
};

// Runs `passes` in order. A failing pass or verifier error stops the pipeline.
Status runPasses(Module& m, const std::vector<const PassInfo*>& passes, const PassManagerOptions& options);

// The default pipeline from @forward to a clean training step (see pipeline.cpp for why each pass
// is there); the simplification passes repeat until none changes anything.
Status runGradPipeline(Module& m, const PassManagerOptions& options);

}  // namespace sinter
