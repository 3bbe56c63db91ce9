// `sinter dump`'s stages: the pass pipeline up to the stage asked for.
#include <fmt/format.h>

#include "codegen/kernel_passes.h"
#include "passes/pass.h"
#include "tools/commands.h"

namespace sinter {

Expected<Module> trainingModule(const FrontendResult& r) {
  Module m = *r.module;
  if (Status s = runGradPipeline(m, {}); !s) return s.error();
  return m;
}

Expected<Module> runStage(Module m, const ToolOptions& o) {
  PassManagerOptions pm;
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
  if (o.stage == "grad" || o.stage == "kernels" || o.stage == "llvm") {
    if (Status s = runGradPipeline(m, pm); !s) return s.error();
    return m;
  }
  return Error(fmt::format("unknown stage '{}'; expected ast, ir, grad, kernels or llvm", o.stage));
}

}  // namespace sinter
