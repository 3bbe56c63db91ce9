// Ops that move elements: reshape, transpose, broadcast, concat, slice, pad, one_hot.
#include <cmath>

#include "codegen/ref/kernels.h"

namespace sinter::ref {

namespace {

// Row-major order is unchanged by a reshape.
Status reshape(const Call& c, Tensor& out) {
  out.data = c.in[0]->data;
  return ok();
}

// Output axis k walks input axis perm[k].
Status transpose(const Call& c, Tensor& out) {
  const auto& perm = c.node.attrs.ints("perm");
  const std::vector<int64_t> inStrides = rowMajorStrides(c.in[0]->dims);
  std::vector<int64_t> strides(perm.size());
  for (size_t k = 0; k < perm.size(); ++k) strides[k] = inStrides[perm[k]];
  const std::vector<int64_t> from = flatIndices(out.dims, strides);
  for (size_t i = 0; i < from.size(); ++i) out.data[i] = c.in[0]->data[from[i]];
  return ok();
}

Status broadcast(const Call& c, Tensor& out) {
  const std::vector<int64_t> from = broadcastIndices(c.in[0]->dims, out.dims);
  for (size_t i = 0; i < from.size(); ++i) out.data[i] = c.in[0]->data[from[i]];
  return ok();
}

// Concat, slice and pad see a tensor as [outer, extent along axis, inner] and move whole
// [extent * inner] rows.
struct AxisView {
  int64_t outer, inner;
};
AxisView around(const Dims& dims, int64_t axis) {
  return {extentBetween(dims, 0, axis), extentBetween(dims, axis + 1, static_cast<int64_t>(dims.size()))};
}

Status concat(const Call& c, Tensor& out) {
  const int64_t axis = c.node.attrs.i("axis");
  const AxisView v = around(out.dims, axis);
  const int64_t outRow = out.dims[axis] * v.inner;
  int64_t offset = 0;  // where this operand's rows start inside an output row
  for (const Tensor* t : c.in) {
    const int64_t row = t->dims[axis] * v.inner;
    for (int64_t o = 0; o < v.outer; ++o)
      for (int64_t j = 0; j < row; ++j) out.data[o * outRow + offset + j] = t->data[o * row + j];
    offset += row;
  }
  return ok();
}

Status slice(const Call& c, Tensor& out) {
  const int64_t axis = c.node.attrs.i("axis"), start = c.node.attrs.i("start");
  const Tensor& x = *c.in[0];
  const AxisView v = around(x.dims, axis);
  const int64_t inRow = x.dims[axis] * v.inner, outRow = out.dims[axis] * v.inner;
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t j = 0; j < outRow; ++j) out.data[o * outRow + j] = x.data[o * inRow + start * v.inner + j];
  return ok();
}

// `out` arrives zero-filled: only the copied middle needs writing.
Status pad(const Call& c, Tensor& out) {
  const int64_t axis = c.node.attrs.i("axis"), before = c.node.attrs.i("before");
  const Tensor& x = *c.in[0];
  const AxisView v = around(x.dims, axis);
  const int64_t inRow = x.dims[axis] * v.inner, outRow = out.dims[axis] * v.inner;
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t j = 0; j < inRow; ++j) out.data[o * outRow + before * v.inner + j] = x.data[o * inRow + j];
  return ok();
}

Status oneHot(const Call& c, Tensor& out) {
  const int64_t classes = c.node.attrs.i("classes");
  const std::vector<double>& labels = c.in[0]->data;
  for (size_t i = 0; i < labels.size(); ++i) {
    const double label = labels[i];
    if (!(label >= 0 && label < static_cast<double>(classes) && label == std::trunc(label)))
      return Error(fmt::format("label {} at index {} is outside [0, {})", label, i, classes));
    out.data[static_cast<int64_t>(i) * classes + static_cast<int64_t>(label)] = 1.0;
  }
  return ok();
}

const KernelEntry kKernels[] = {
    {OpKind::Reshape, reshape}, {OpKind::Transpose, transpose}, {OpKind::Broadcast, broadcast},
    {OpKind::Concat, concat},   {OpKind::Slice, slice},         {OpKind::Pad, pad},
    {OpKind::OneHot, oneHot},
};

}  // namespace

std::span<const KernelEntry> shapeKernels() { return kKernels; }

}  // namespace sinter::ref
