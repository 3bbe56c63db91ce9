// `sinter dump`'s stages: the pass pipeline up to the stage asked for.
#include <fmt/format.h>

#include "codegen/kernel_passes.h"
#include "codegen/target.h"
#include "passes/pass.h"
#include "tools/commands.h"

namespace sinter {

namespace {

PassManagerOptions pipelineFor(const Target* target) {
  PassManagerOptions pm;
  if (target) pm.targetTakes = [target](OpKind op, const TensorType& x) { return target->libraryRuns(op, x); };
  return pm;
}

}  // namespace

Expected<Module> trainingModule(const FrontendResult& r, const Target* target) {
  Module m = *r.module;
  if (Status s = runGradPipeline(m, pipelineFor(target)); !s) return s.error();
  return m;
}

Expected<Module> runStage(Module m, const ToolOptions& o) {
  const bool compiled = o.stage == "grad" || o.stage == "kernels" || o.stage == "llvm" || o.stage == "ptx";
  Expected<const Target*> target = findTarget(o.target.empty() ? "cpu" : o.target);
  if (compiled && !target) return target.error();
  PassManagerOptions pm = pipelineFor(compiled ? *target : nullptr);
  pm.printAfterAll = o.printAfterAll;
  pm.printAfter = o.printAfter;
  pm.printChanged = o.printChanged;
  for (const std::string& name : o.printAfter)
    if (!findPass(name) && !kir::isKernelStep(name)) return Error(fmt::format("unknown pass '{}' in --print-after", name));
  if (!o.passes.empty()) {
    std::vector<const PassInfo*> list;
    for (const std::string& name : o.passes) {
      const PassInfo* p = findPass(name);
      if (!p) return Error(fmt::format("unknown pass '{}'", name));
      list.push_back(p);
    }
    if (Status s = runPasses(m, list, pm); !s) return s.error();
    return m;
  }
  if (o.stage == "ir") return m;
  if (compiled) {
    if (Status s = runGradPipeline(m, pm); !s) return s.error();
    return m;
  }
  return Error(fmt::format("unknown stage '{}'; expected ast, ir, grad, kernels, llvm or ptx", o.stage));
}

}  // namespace sinter
