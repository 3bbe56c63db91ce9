// Kernel IR -> LLVM IR for the host CPU: one function per kernel with the runtime's KernelFn
// signature, `void NAME(void* const* bufs, i64 batch, i64 begin, i64 end)`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codegen/cpu/heavy_kernels.h"
#include "codegen/kernel_ir.h"
#include "codegen/plan_builder.h"
#include "support/error.h"

namespace llvm {
class Module;
}

namespace sinter::cpu {

// What the runtime needs to call a lowered kernel.
using LoweredKernel = KernelBinding;

// Adds every kernel of `p` to `m`, the heavy ones tiled for `target`'s registers; result[f][k]
// describes function f's kernel k.
Expected<std::vector<std::vector<LoweredKernel>>> lowerKernels(const kir::KProgram& p, llvm::Module& m,
                                                               const HeavyTarget& target);

// How the CPU backend lowers an op: an inline pointwise emitter, the reduction loop, a view (index
// map), function plumbing, a kernel of its own, the heavy-kernel generators, or unsupported (with
// the reason). Every op of ops.def has exactly one entry (tests/cpu_backend checks).
enum class LoweringKind { Pointwise, Reduction, View, Structural, Kernel, Heavy, Unsupported };
struct LoweringInfo {
  LoweringKind kind;
  const char* note;  // the reason for Unsupported
  bool emitter;      // a Kernel op's table entry names the function that emits it
};
LoweringInfo loweringFor(OpKind op);

}  // namespace sinter::cpu
