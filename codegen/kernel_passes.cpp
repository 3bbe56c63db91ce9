// The kernel pipeline: lower-to-kernels, then the kernel-IR passes in the order below.
#include "codegen/kernel_passes.h"

#include <algorithm>
#include <cstdio>

namespace sinter::kir {

namespace {

const KernelPass kPasses[] = {
    // First: every later pass sees the loops as they will run (library selection and layouts
    // look at which values are buffers at all).
    {"fuse-loops", fuseLoops, "compute pointwise values and reductions inside the loops that read them"},
    // Which kernels are library calls is the target's choice of code, and later passes must see
    // it (a library call reads and writes whole buffers, never in place).
    {"select-library-kernels", selectLibraryKernels, "run the ops the target's vendor library takes as calls into it"},
    // After the library calls are known (the layouts serve them), before store placement (which
    // copies a value into a plain global: stored values stay plain).
    {"assign-layouts", assignLayouts, "keep activations between library calls in the library's blocked layout; loops index it"},
    // After the layouts (the epilogue's reads must match its library call's result layout).
    {"fuse-epilogues", fuseEpilogues, "run a bias add and ReLU after a library conv or matmul inside it"},
    // Before the memory plan: a store made in place removes a temp (and a copy kernel) that the
    // plan would otherwise have to place. Relies on stores being trailing copies.
    {"place-stores", placeStores, "write stored values straight into their globals where that is safe"},
    // After every pass that matches accesses by their strides (a collapsed loop has fewer dims
    // than its buffers), before the memory plan (which ignores loop shapes).
    {"collapse-loops", collapseLoops, "merge adjacent loop dims that every access walks contiguously into one"},
    // After collapse-loops (kernels whose buffers differ in shape but are walked alike, such as
    // an optimizer's [32,3,3,3] and [864] views, then have equal spaces); before the memory plan
    // (fusion drops buffers and moves results earlier).
    {"fuse-siblings", fuseSiblings, "fuse loops over one space that share reads or feed each other into one kernel with several results"},
    // After fuse-siblings (an update is one loop per parameter only once its three loops are one),
    // before the memory plan (which places the groups it makes).
    {"concat-loops", concatLoops, "run identical elementwise loops over different buffers as one loop over the buffers laid end to end"},
    // Last: offsets depend on which buffers exist and which kernels touch them.
    {"plan-memory", planMemory, "lay out the state arena and share the work arena between buffers whose lifetimes do not overlap"},
};

constexpr std::string_view kLowering = "lower-to-kernels";

}  // namespace

// select-library-kernels: an Op kernel whose op the target's library takes becomes a Library
// kernel. Must not fire: loops (a fused bias or ReLU stays generated code), ops the library does
// not take (softmax, one_hot), and blocked-only ops (pooling) over channels that cannot be blocked.
Expected<bool> selectLibraryKernels(KProgram& p) {
  bool changed = false;
  for (KFunction& f : p.functions)
    for (Kernel& k : f.kernels)
      if (k.kind == KernelKind::Op && p.library.runs(k.op, k.operandTypes[0])) {
        k.kind = KernelKind::Library;
        k.library = p.library.name;
        changed = true;
      }
  return changed;
}

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
  p->library = o.library;
  for (Buffer& b : p->buffers) b.space = o.space;
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
