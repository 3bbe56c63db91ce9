// The cpu target: graph IR -> kernel IR -> LLVM -> ORC JIT (with the plan pointing the runtime at
// the JIT'd kernels) or object files for `sinter build`. Reached through the target table
// (codegen/target.h) as cpu::kCompiler.
#pragma once

#include <string>
#include <vector>

#include "codegen/cpu/lower.h"
#include "codegen/target.h"

namespace sinter::cpu {

extern const TargetCompiler kCompiler;

// A target whose plans run on the host executor: every kernel is LLVM-generated for this CPU
// except the ops a vendor library takes (none for cpu; oneDNN's for dnnl).
struct HostTarget {
  const char* name;  // the plan's target, which picks its executor
  const kir::LibraryOps* library;  // null: none
  // How loop kernels are lowered: Host, or FlatHost (the cuda target's loops on the host, tests).
  CodeStyle loops = CodeStyle::Host;
};
extern const HostTarget kCpu;

Expected<CompiledProgram> compileForJit(const Module& m, const TargetOptions& options, const HostTarget& target = kCpu);

// Ahead of time: the kernels plus the plan as data (`sinter_plan`, its text, with the kernel
// table `sinter_kernels`, and `sinter_train_config`), as optimized LLVM IR text, assembly or an
// object file. Linked with the runtime's model main (runtime/main) it is a complete trainer executable.
Expected<std::string> compileAot(const Module& m, const TargetOptions& options, const EmbeddedTexts& texts,
                                 EmitKind emit, const HostTarget& target = kCpu);

// The same as object files to link into an executable: one per part of the module that was
// compiled on its own thread.
Expected<std::vector<std::string>> compileAotObjects(const Module& m, const TargetOptions& options,
                                                     const EmbeddedTexts& texts, const HostTarget& target = kCpu);

// The TargetCompiler of host target T (a global).
template <const HostTarget& T>
constexpr TargetCompiler hostCompiler() {
  return {
      [](const Module& m, const TargetOptions& o) { return compileForJit(m, o, T); },
      [](const Module& m, const TargetOptions& o, const EmbeddedTexts& c) { return compileAotObjects(m, o, c, T); },
      [](const Module& m, const TargetOptions& o, const EmbeddedTexts& c, EmitKind e) { return compileAot(m, o, c, e, T); },
  };
}

}  // namespace sinter::cpu
