// The plan a target hands to the runtime (a PlanSpec, runtime/plan_spec.h), built from the kernel
// program whatever the target: buffers with their arena offsets and initializers, and per
// function the kernel calls, inputs and results. A target supplies only how each kernel is called
// (symbol, parallel extent, grain).
#pragma once

#include <string>
#include <vector>

#include "codegen/kernel_ir.h"
#include "ir/module.h"
#include "runtime/plan_spec.h"
#include "support/error.h"

namespace sinter {

// How a target calls one kernel of the kernel program.
struct KernelBinding {
  std::string symbol;
  int64_t extentPerBatch = 0, extentConst = 1, grain = 1;
  double flops = 0;  // at the program's maximum batch
};

// A Library kernel as the runtime's library executor reads it (PlanCall::library): JSON
// {"library","op","attrs","operands","result","layouts"}, dims with -1 for B, layouts per argument
// (result first; "" for row-major).
std::string libraryDescriptor(const kir::KProgram& p, const kir::Kernel& k);
// Floating-point operations of a heavy op (matmul, the convolutions, pooling) at batch size
// `batch`, counting a multiply-add as two: what a heavy kernel's binding reports, generated or a
// library call (0 for other ops).
double heavyOpFlops(OpKind op, const Attrs& attrs, const std::vector<TensorType>& operands, const TensorType& result,
                    int64_t batch);
inline double heavyOpFlops(const kir::Kernel& k, int64_t batch) {
  return heavyOpFlops(k.op, k.attrs, k.operandTypes, k.resultType, batch);
}

// bindings[f][k] describes kernels.functions[f].kernels[k]. Calls are left unbound (fn null):
// in memory the target binds them (bindKernels), an executable binds them when it loads the plan.
Expected<PlanSpec> buildPlan(const Module& m, const kir::KProgram& kernels,
                             const std::vector<std::vector<KernelBinding>>& bindings, const std::string& target);

}  // namespace sinter
