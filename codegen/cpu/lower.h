// Kernel IR -> LLVM IR for the host CPU, or for an NVIDIA GPU (the cuda target's NVPTX kernels):
// one function per kernel with the runtime's KernelFn signature,
// `void NAME(void* const* bufs, i64 batch, i64 begin, i64 end)`.
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

// Where the kernels run. Host: the runtime's thread pool calls a kernel once per slice [begin,
// end) of its parallel extent. Device: a kernel is a PTX entry with the same parameters (bufs in
// device memory) where grid thread t computes index begin + t of the extent, which flattens every
// kept dim outside a reduction; exp, log, tanhf and powf are libdevice's (__nv_expf), which the
// caller links; heavy ops are an error (the target's library runs them). FlatHost is the device
// style's loops (flattened extents, a thread's work per index) as host code, which the host runtime
// runs: tests check the device lowering against the reference evaluator with it, without a GPU.
enum class CodeStyle { Host, Device, FlatHost };

// Adds every kernel of `p` to `m`, the heavy ones tiled for `target`'s registers; result[f][k]
// describes function f's kernel k.
Expected<std::vector<std::vector<LoweredKernel>>> lowerKernels(const kir::KProgram& p, llvm::Module& m,
                                                               const HeavyTarget& target, CodeStyle style = CodeStyle::Host);

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
