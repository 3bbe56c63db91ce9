// Reductions (sum, mean, max over axes) and the element count they divide by: shape and gradient rules.
#include "ir/ops/rules.h"

namespace sinter {
namespace {

using namespace rules;

Expected<TensorType> inferReduce(OpKind op, std::span<const TensorType> in, const Attrs& attrs) {
  if (auto s = needF32(mnemonic(op), in[0]); !s) return s.error();
  if (auto s = needInts(attrs, "axes"); !s) return s.error();
  if (auto s = needBool(attrs, "keepdims"); !s) return s.error();
  const auto& axes = attrs.ints("axes");
  if (auto s = checkAxes(axes, in[0].rank()); !s) return s.error();
  return f32(reducedDims(in[0].dims, axes, attrs.b("keepdims")));
}

Expected<TensorType> inferNumel(OpKind, std::span<const TensorType> in, const Attrs& attrs) {
  if (auto s = needInts(attrs, "axes"); !s) return s.error();
  if (auto s = checkAxes(attrs.ints("axes"), in[0].rank()); !s) return s.error();
  return f32({});
}

std::vector<ValueId> gradSum(Builder& b, const Node& n, ValueId, ValueId dy) {
  Dims dims = b.type(n.operands[0]).dims;
  return {expandReduced(b, dy, dims, n.attrs.ints("axes"), n.attrs.b("keepdims"))};
}

std::vector<ValueId> gradMean(Builder& b, const Node& n, ValueId, ValueId dy) {
  ValueId x = n.operands[0];
  ValueId count = b.create(OpKind::Numel, {x}, {{"axes", n.attrs.ints("axes")}});
  return {b.div(expandReduced(b, dy, b.type(x).dims, n.attrs.ints("axes"), n.attrs.b("keepdims")), count)};
}

// The gradient is shared equally by every element that attains the maximum (torch.amax's rule).
std::vector<ValueId> gradMax(Builder& b, const Node& n, ValueId y, ValueId dy) {
  ValueId x = n.operands[0];
  Dims dims = b.type(x).dims;
  const auto& axes = n.attrs.ints("axes");
  bool keep = n.attrs.b("keepdims");
  ValueId mask = b.binary(OpKind::Equal, x, expandReduced(b, y, dims, axes, keep));
  ValueId ties = b.reduce(OpKind::Sum, mask, axes, true);
  return {b.mul(mask, b.div(expandReduced(b, dy, dims, axes, keep), ties))};
}

const OpRules kRules[] = {
    {OpKind::Sum, inferReduce, gradSum},
    {OpKind::Mean, inferReduce, gradMean},
    {OpKind::Max, inferReduce, gradMax},
    {OpKind::Numel, inferNumel, zeroGradient},
};

}  // namespace

std::span<const OpRules> reductionRules() { return kRules; }

}  // namespace sinter
