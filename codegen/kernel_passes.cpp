// The kernel pipeline: lower-to-kernels, then the kernel-IR passes in the order below.
#include "codegen/kernel_passes.h"

#include <algorithm>
#include <cstdio>

namespace sinter::kir {

namespace {

const KernelPass kPasses[] = {
    // Before the memory plan: a store made in place removes a temp (and a copy kernel) that the
    // plan would otherwise have to place. Relies on stores being trailing copies.
    {"place-stores", placeStores, "write stored values straight into their globals where that is safe"},
    // Last: offsets depend on which buffers exist and which kernels touch them.
    {"plan-memory", planMemory, "lay out the state arena and share the work arena between buffers whose lifetimes do not overlap"},
};

constexpr std::string_view kLowering = "lower-to-kernels";

}  // namespace

std::span<const KernelPass> kernelPasses() { return kPasses; }

bool isKernelStep(std::string_view name) {
  return name == kLowering || std::any_of(std::begin(kPasses), std::end(kPasses), [&](const KernelPass& p) { return name == p.name; });
}

Expected<KProgram> buildKernels(const Module& m, const KernelOptions& o) {
  const auto print = [&](std::string_view step, bool changed, const KProgram& p) {
    const bool wanted = o.printAfterAll || (o.printChanged && changed) ||
                        std::find(o.printAfter.begin(), o.printAfter.end(), step) != o.printAfter.end();
    if (!wanted) return;
    const std::string text = fmt::format("// ----- kernels after {} -----\n{}", step, printKernels(p));
    if (o.print) o.print(text);
    else std::fputs(text.c_str(), stderr);
  };
  Expected<KProgram> p = lowerToKernels(m, o.maxBatch);
  if (!p) return p.error();
  print(kLowering, true, *p);
  for (const KernelPass& pass : kPasses) {
    Expected<bool> changed = pass.run(*p);
    if (!changed) return Error(fmt::format("kernel pass '{}': {}", pass.name, changed.error().message()));
    print(pass.name, *changed, *p);
  }
  if (Status s = verifyMemoryPlan(*p); !s) return Error("internal error: the memory plan is wrong: " + s.error().message());
  return p;
}

}  // namespace sinter::kir
