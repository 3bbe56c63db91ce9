// Kernel-IR passes: named KProgram-to-KProgram functions that run after lower-to-kernels, each
// dumpable as the graph passes are (`sinter dump --stage=kernels --print-after-all`,
// --print-after=NAME, --print-changed). buildKernels is the whole kernel pipeline.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "codegen/kernel_ir.h"

namespace sinter::kir {

// A pass transforms the program in place and says whether it changed anything.
using KernelPassFn = Expected<bool> (*)(KProgram&);

struct KernelPass {
  const char* name;
  KernelPassFn run;
  const char* what;
};

// In pipeline order (kernel_passes.cpp says why each is there).
std::span<const KernelPass> kernelPasses();
// A kernel pass, or "lower-to-kernels" (which has no KernelPassFn: it makes the program).
bool isKernelStep(std::string_view name);

struct KernelOptions {
  int64_t maxBatch = 64;
  LibraryOps library;  // the target's vendor-library ops (select-library-kernels)
  MemorySpace space = MemorySpace::Host;  // where the target's buffers live (all of them)
  bool printAfterAll = false;
  std::vector<std::string> printAfter;  // step names
  bool printChanged = false;
  std::function<void(const std::string&)> print;  // where dumps go (stderr when unset)
};

// lower-to-kernels, then every pass of kernelPasses(); the memory plan is verified at the end.
Expected<KProgram> buildKernels(const Module& m, const KernelOptions& options);

Expected<bool> fuseLoops(KProgram& p);
Expected<bool> selectLibraryKernels(KProgram& p);
Expected<bool> assignLayouts(KProgram& p);
Expected<bool> fuseEpilogues(KProgram& p);
Expected<bool> placeStores(KProgram& p);
Expected<bool> collapseLoops(KProgram& p);
Expected<bool> fuseSiblings(KProgram& p);
Expected<bool> concatLoops(KProgram& p);
Expected<bool> planMemory(KProgram& p);

}  // namespace sinter::kir
