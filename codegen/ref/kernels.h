// The reference evaluator's kernel table: one small function per op, grouped by op family, plus the
// index helpers the families share.
#pragma once

#include <span>
#include <vector>

#include "codegen/ref/evaluator.h"

namespace sinter::ref {

// What a kernel sees of the running function beyond its operands.
struct Env {
  const TensorMap& inputs;
  const TensorMap& globals;
  TensorMap& stores;  // deferred until the function returns, so every load sees the entry value
  int64_t batch;      // the B the inputs bound, 0 if none has B
};

struct Call {
  const Node& node;
  std::vector<const Tensor*> in;  // the operands' values, concrete
  Env& env;
};

// Fills `out`, which arrives with the node's dtype and concrete dims and zero-filled data (so
// scatter kernels can accumulate). The evaluator rounds f32 results in F32 mode; kernels never do.
using Kernel = Status (*)(const Call& call, Tensor& out);

// A lowering, or an explicit refusal: `run` is nullptr and `unsupported` says why.
struct KernelEntry {
  OpKind op;
  Kernel run;
  const char* unsupported = nullptr;
};

// The family tables (codegen/ref/<family>.cpp) and the lookup that gathers them.
std::span<const KernelEntry> structuralKernels();
std::span<const KernelEntry> elementwiseKernels();
std::span<const KernelEntry> reduceKernels();
std::span<const KernelEntry> shapeKernels();
std::span<const KernelEntry> linalgKernels();
std::span<const KernelEntry> nnKernels();
const KernelEntry* kernelFor(OpKind op);  // nullptr if no family lists the op

int64_t numel(const Dims& dims);
std::vector<int64_t> rowMajorStrides(const Dims& dims);
// For each flat row-major index of `dims`, the sum over axes of index[k] * strides[k]: the one
// gather primitive behind broadcasting, transposition and reductions.
std::vector<int64_t> flatIndices(const Dims& dims, const std::vector<int64_t>& strides);
// For each flat index of `to`, the flat index of `from` that numpy broadcasting reads there.
std::vector<int64_t> broadcastIndices(const Dims& from, const Dims& to);
// The float nearest to x (ties to even), as a double; defined for every x, unlike a C++ conversion.
double roundToFloat(double x);
// Product of dims[begin, end).
int64_t extentBetween(const Dims& dims, int64_t begin, int64_t end);

}  // namespace sinter::ref
