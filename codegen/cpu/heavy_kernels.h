// The CPU target's heavy kernels (matmul, the convolutions, the pools and their gradients) as
// LLVM IR generators: register-tiled loops over <16 x float> FMAs with every shape baked in as a
// constant except the batch size B.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/attr.h"
#include "ir/op.h"
#include "ir/types.h"
#include "support/error.h"

namespace llvm {
class Function;
class Module;
class TargetMachine;
}  // namespace llvm

namespace sinter::cpu {

// A generated kernel with the runtime's calling convention (runtime/plan.h KernelFn):
//   void NAME(void* const* bufs, int64_t batch, int64_t begin, int64_t end)
// bufs[0] is the result, bufs[1..] the operands in IR order; all dense row-major f32, with every
// kBatch dimension bound to `batch`. A call computes the slice [begin, end) of the parallel extent:
// disjoint slices write disjoint output bytes and together they write every output element
// (outputs need not be zeroed first).
struct HeavyKernel {
  llvm::Function* fn = nullptr;
  int64_t extentPerBatch = 0;  // parallel extent = extentPerBatch * batch + extentConst
  int64_t extentConst = 0;
  int64_t grain = 1;           // smallest slice worth a thread, in extent units
  // (Its floating-point operations: heavyOpFlops, codegen/plan_builder.h.)

  int64_t extent(int64_t batch) const { return extentPerBatch * batch + extentConst; }
};

// The vector registers the kernels are tiled for: AVX-512 (16 f32 lanes, 32 registers) or AVX2
// (8 lanes, 16 registers). A tile sized for 32 registers spills on a 16-register machine, so the
// kernels must be generated for the machine that runs them.
struct HeavyTarget {
  int vectorBits = 512;
  int registers = 32;
  static HeavyTarget host();
  // What a target machine (host or --cpu) has.
  static HeavyTarget of(const llvm::TargetMachine& tm);
};

// matmul, conv2d, conv2d_grad_input, conv2d_grad_weight, maxpool2d, maxpool2d_grad, avgpool2d,
// avgpool2d_grad.
bool isHeavyOp(OpKind op);

// Adds function `name` (and internal helpers named `name.*`) to `m`. The types are the op's
// operand and result types from verified IR; an Error for a non-heavy op or a shape the kernels
// do not handle (a convolution or pool with B anywhere but the first dimension). `blocked`: the
// operands and result are in the NChw16c layout (assign-layouts; maxpool2d_grad only).
Expected<HeavyKernel> emitHeavyKernel(llvm::Module& m, OpKind op, const Attrs& attrs,
                                      const std::vector<TensorType>& operands, const TensorType& result,
                                      const std::string& name, const HeavyTarget& target = HeavyTarget::host(),
                                      bool blocked = false);

}  // namespace sinter::cpu
