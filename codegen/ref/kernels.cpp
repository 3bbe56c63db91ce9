// The kernel registry (the family tables gathered by OpKind) and the shared index helpers.
#include "codegen/ref/kernels.h"

#include <array>
#include <cfloat>
#include <cmath>

namespace sinter::ref {

namespace {

struct Registry {
  std::array<const KernelEntry*, kNumOps> byOp{};
  Registry() {
    for (auto table : {structuralKernels(), elementwiseKernels(), reduceKernels(), shapeKernels(), linalgKernels(),
                       nnKernels()})
      for (const KernelEntry& e : table) byOp[static_cast<size_t>(e.op)] = &e;
  }
};

}  // namespace

const KernelEntry* kernelFor(OpKind op) {
  static const Registry registry;
  return registry.byOp[static_cast<size_t>(op)];
}

// IEEE round-to-nearest-even from double to float, written out for values beyond float's range,
// where a C++ conversion would be undefined behaviour.
double roundToFloat(double x) {
  if (std::isfinite(x) && std::fabs(x) > FLT_MAX) {
    // FLT_MAX + half an ulp (2^103) is the midpoint to infinity; ties go to the even side, infinity.
    const double midpoint = static_cast<double>(FLT_MAX) + 0x1p103;
    const double magnitude = std::fabs(x) >= midpoint ? HUGE_VAL : static_cast<double>(FLT_MAX);
    return std::copysign(magnitude, x);
  }
  return static_cast<double>(static_cast<float>(x));
}

int64_t numel(const Dims& dims) { return extentBetween(dims, 0, static_cast<int64_t>(dims.size())); }

int64_t extentBetween(const Dims& dims, int64_t begin, int64_t end) {
  int64_t n = 1;
  for (int64_t k = begin; k < end; ++k) n *= dims[k];
  return n;
}

std::vector<int64_t> rowMajorStrides(const Dims& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t k = dims.size(); k-- > 1;) s[k - 1] = s[k] * dims[k];
  return s;
}

// An odometer over the multi-index of `dims`, keeping the gathered offset up to date.
std::vector<int64_t> flatIndices(const Dims& dims, const std::vector<int64_t>& strides) {
  const int64_t n = numel(dims);
  std::vector<int64_t> out(static_cast<size_t>(n));
  std::vector<int64_t> index(dims.size(), 0);
  int64_t offset = 0;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = offset;
    for (size_t k = dims.size(); k-- > 0;) {
      offset += strides[k];
      if (++index[k] < dims[k]) break;
      offset -= strides[k] * index[k];
      index[k] = 0;
    }
  }
  return out;
}

// `from` is right-aligned against `to`; its missing leading axes and its extents of 1 repeat, which
// a stride of 0 expresses.
std::vector<int64_t> broadcastIndices(const Dims& from, const Dims& to) {
  std::vector<int64_t> fromStrides = rowMajorStrides(from);
  std::vector<int64_t> strides(to.size(), 0);
  const size_t lead = to.size() - from.size();
  for (size_t k = 0; k < from.size(); ++k)
    strides[lead + k] = from[k] == 1 ? 0 : fromStrides[k];
  return flatIndices(to, strides);
}

}  // namespace sinter::ref
