// The pass registry, the pass manager and the default pipeline.
#include <fmt/format.h>

#include <cstdio>

#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/pass.h"

namespace sinter {

const std::vector<PassInfo>& allPasses() {
  static const std::vector<PassInfo> passes = {
#define PASS(name, fn, what) {name, fn, what},
#include "passes/passes.def"
#undef PASS
  };
  return passes;
}

const PassInfo* findPass(std::string_view name) {
  for (const PassInfo& p : allPasses())
    if (name == p.name) return &p;
  return nullptr;
}

// Runs one pass, verifies the result and prints it if asked; says whether it changed anything.
static Expected<bool> runPass(Module& m, const PassInfo& p, const PassManagerOptions& o,
                              const std::function<Expected<bool>(Module&)>& run = nullptr) {
  Expected<bool> changed = run ? run(m) : p.run(m);
  if (!changed) return changed;
  if (o.verify) {
    if (Status s = verifyModule(m); !s) {
      Error e = s.error();
      e.diags.front().message = fmt::format("IR invalid after pass '{}': {}", p.name, e.diags.front().message);
      return e;
    }
  }
  bool wanted = o.printAfterAll || (o.printChanged && *changed) ||
                std::find(o.printAfter.begin(), o.printAfter.end(), p.name) != o.printAfter.end();
  if (wanted) {
    std::string text = fmt::format("// ----- IR after {} -----\n{}", p.name, printModule(m));
    if (o.print) o.print(text);
    else std::fputs(text.c_str(), stderr);
  }
  return changed;
}

Status runPasses(Module& m, const std::vector<const PassInfo*>& passes, const PassManagerOptions& o) {
  for (const PassInfo* p : passes)
    if (Expected<bool> r = runPass(m, *p, o); !r) return r.error();
  return ok();
}

Status runGradPipeline(Module& m, const PassManagerOptions& o) {
  // Fused before autodiff, so that the gradient rule of the fused op is used.
  if (Expected<bool> r = runPass(m, *findPass("fuse-softmax-cross-entropy"), o); !r) return r.error();
  // build-train-step next: everything after it optimizes the whole step (forward, backward,
  // update) as one function, which is the point of symbolic autodiff.
  if (Expected<bool> r = runPass(m, *findPass("build-train-step"), o); !r) return r.error();
  // Batch norm becomes primitives except where the target runs it as a library primitive.
  const auto decompose = [&](Module& mod) { return decomposeBatchNormExcept(mod, o.targetTakes); };
  if (Expected<bool> r = runPass(m, *findPass("decompose-batchnorm"), o, decompose); !r) return r.error();
  // The gradient rules emit straightforward IR (multiplications by 1, broadcasts to the same
  // shape, repeated loads); folding exposes identities, algebra removes them, CSE merges what
  // the rules built twice, and DCE drops what no result or store reads. Repeat to a fixed point;
  // every change removes or simplifies an op, so this ends, and the bound is a guard.
  for (int round = 0; round < 20; ++round) {
    bool any = false;
    for (const char* name : {"fold-constants", "simplify-algebra", "cse", "dce"}) {
      Expected<bool> r = runPass(m, *findPass(name), o);
      if (!r) return r.error();
      any |= *r;
    }
    if (!any) break;
  }
  return ok();
}

}  // namespace sinter
