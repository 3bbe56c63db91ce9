// Reductions (sum, mean, max over sorted axes, with keepdims) and numel. Sums accumulate in double.
#include <cmath>
#include <limits>

#include "codegen/ref/kernels.h"

namespace sinter::ref {

namespace {

// For each flat input index, the flat output index it reduces into. The output's row-major order is
// the same with or without keepdims (kept axes have extent 1), so one mapping serves both.
std::vector<int64_t> reductionTargets(const Dims& in, const std::vector<int64_t>& axes) {
  Dims kept = in;
  for (int64_t a : axes) kept[a] = 1;
  std::vector<int64_t> strides = rowMajorStrides(kept);
  for (int64_t a : axes) strides[a] = 0;
  return flatIndices(in, strides);
}

int64_t reducedCount(const Dims& in, const std::vector<int64_t>& axes) {
  int64_t n = 1;
  for (int64_t a : axes) n *= in[a];
  return n;
}

Status sum(const Call& c, Tensor& out) {
  const std::vector<int64_t> to = reductionTargets(c.in[0]->dims, c.node.attrs.ints("axes"));
  for (size_t i = 0; i < to.size(); ++i) out.data[to[i]] += c.in[0]->data[i];
  return ok();
}

Status mean(const Call& c, Tensor& out) {
  if (auto s = sum(c, out); !s) return s;
  const double n = static_cast<double>(reducedCount(c.in[0]->dims, c.node.attrs.ints("axes")));
  for (double& v : out.data) v /= n;
  return ok();
}

// A NaN anywhere in a reduced group makes its maximum NaN, as in PyTorch.
Status max(const Call& c, Tensor& out) {
  const std::vector<int64_t> to = reductionTargets(c.in[0]->dims, c.node.attrs.ints("axes"));
  std::fill(out.data.begin(), out.data.end(), -std::numeric_limits<double>::infinity());
  for (size_t i = 0; i < to.size(); ++i) {
    const double v = c.in[0]->data[i];
    double& m = out.data[to[i]];
    if (v > m || std::isnan(v)) m = std::isnan(m) ? m : v;
  }
  return ok();
}

Status numel(const Call& c, Tensor& out) {
  out.data[0] = static_cast<double>(reducedCount(c.in[0]->dims, c.node.attrs.ints("axes")));
  return ok();
}

const KernelEntry kKernels[] = {
    {OpKind::Sum, sum},
    {OpKind::Mean, mean},
    {OpKind::Max, max},
    {OpKind::Numel, numel},
};

}  // namespace

std::span<const KernelEntry> reduceKernels() { return kKernels; }

}  // namespace sinter::ref
