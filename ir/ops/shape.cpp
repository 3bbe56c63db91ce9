// Ops that move elements (reshape, transpose, broadcast, concat, slice, pad, one_hot): shape and
// gradient rules.
#include <numeric>

#include "ir/ops/rules.h"

namespace sinter {
namespace {

using namespace rules;

// Product of the constant extents (-1 if it overflows), and whether B is among them.
std::pair<int64_t, bool> staticSize(const Dims& dims) {
  int64_t n = 1;
  bool batch = false;
  for (int64_t d : dims) {
    if (d == kBatch) batch = true;
    else if (n >= 0 && __builtin_mul_overflow(n, d, &n)) n = -1;
  }
  return {n, batch};
}

Expected<TensorType> inferReshape(OpKind, std::span<const TensorType> in, const Attrs& attrs) {
  if (auto s = needInts(attrs, "shape"); !s) return s.error();
  const Dims& to = attrs.ints("shape");
  for (int64_t d : to)
    if (d < kBatch) return Error(fmt::format("invalid extent {} in reshape", d));
  if (std::count(to.begin(), to.end(), kBatch) > 1) return Error("reshape target has B twice");
  if (staticSize(to).first < 0 || staticSize(in[0].dims) != staticSize(to))
    return Error(fmt::format("cannot reshape {} to {}", formatType(in[0]), formatDims(to)));
  return TensorType{in[0].dtype, to};
}

Expected<TensorType> inferTranspose(OpKind, std::span<const TensorType> in, const Attrs& attrs) {
  if (auto s = needInts(attrs, "perm", in[0].rank()); !s) return s.error();
  const auto& perm = attrs.ints("perm");
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < static_cast<int64_t>(sorted.size()); ++i)
    if (sorted[i] != i) return Error(fmt::format("{} is not a permutation of the {} axes", formatAttr(perm), perm.size()));
  Dims out;
  for (int64_t p : perm) out.push_back(in[0].dims[p]);
  return TensorType{in[0].dtype, out};
}

Expected<TensorType> inferBroadcast(OpKind, std::span<const TensorType> in, const Attrs& attrs) {
  if (auto s = needInts(attrs, "shape"); !s) return s.error();
  const Dims& to = attrs.ints("shape");
  Expected<Dims> dims = broadcastDims(in[0].dims, to);
  if (!dims || *dims != to) return Error(fmt::format("cannot broadcast {} to {}", formatType(in[0]), formatDims(to)));
  return TensorType{in[0].dtype, to};
}

Expected<TensorType> inferConcat(OpKind, std::span<const TensorType> in, const Attrs& attrs) {
  if (in.empty()) return Error("concat needs at least one operand");
  if (auto s = needInt(attrs, "axis"); !s) return s.error();
  int64_t axis = attrs.i("axis");
  if (axis < 0 || axis >= in[0].rank()) return Error(fmt::format("axis {} is out of range for rank {}", axis, in[0].rank()));
  Dims out = in[0].dims;
  out[axis] = 0;
  for (const TensorType& t : in) {
    bool same = t.dtype == in[0].dtype && t.rank() == in[0].rank();
    for (int i = 0; same && i < t.rank(); ++i) same = i == axis || t.dims[i] == in[0].dims[i];
    if (!same) return Error(fmt::format("cannot concatenate {} and {} along axis {}", formatType(in[0]), formatType(t), axis));
    if (t.dims[axis] == kBatch) return Error("cannot concatenate along the batch dimension");
    out[axis] += t.dims[axis];
  }
  return TensorType{in[0].dtype, out};
}

Expected<TensorType> inferSliceOrPad(OpKind op, std::span<const TensorType> in, const Attrs& attrs) {
  bool slice = op == OpKind::Slice;
  const char* lo = slice ? "start" : "before";
  const char* hi = slice ? "end" : "after";
  for (const char* k : {"axis", lo, hi})
    if (auto s = needInt(attrs, k); !s) return s.error();
  int64_t axis = attrs.i("axis"), a = attrs.i(lo), b = attrs.i(hi);
  if (axis < 0 || axis >= in[0].rank()) return Error(fmt::format("axis {} is out of range for rank {}", axis, in[0].rank()));
  int64_t extent = in[0].dims[axis];
  if (extent == kBatch) return Error(fmt::format("cannot {} along the batch dimension", slice ? "slice" : "pad"));
  Dims out = in[0].dims;
  if (slice) {
    if (a < 0 || b > extent || a >= b)
      return Error(fmt::format("slice [{}, {}) is empty or outside axis {} of extent {}", a, b, axis, extent));
    out[axis] = b - a;
  } else {
    if (a < 0 || b < 0) return Error("padding must be non-negative");
    if (__builtin_add_overflow(extent, a, &out[axis]) || __builtin_add_overflow(out[axis], b, &out[axis]))
      return Error(fmt::format("padding {} and {} of an extent {} is more than fits in 64 bits", a, b, extent));
  }
  return TensorType{in[0].dtype, out};
}

Expected<TensorType> inferOneHot(OpKind, std::span<const TensorType> in, const Attrs& attrs) {
  if (in[0].dtype != DType::I32) return Error(fmt::format("one_hot expects i32 labels, found {}", formatType(in[0])));
  if (auto s = needInt(attrs, "classes"); !s) return s.error();
  if (attrs.i("classes") < 1) return Error("one_hot needs at least one class");
  Dims out = in[0].dims;
  out.push_back(attrs.i("classes"));
  return f32(out);
}

using Grads = std::vector<ValueId>;

Grads gradReshape(Builder& b, const Node& n, ValueId, ValueId dy) { return {b.reshape(dy, b.type(n.operands[0]).dims)}; }

Grads gradTranspose(Builder& b, const Node& n, ValueId, ValueId dy) {
  const auto& perm = n.attrs.ints("perm");
  std::vector<int64_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = static_cast<int64_t>(i);
  return {b.transpose(dy, inverse)};
}

// The autodiff driver sums the broadcast gradient back to the operand's shape.
Grads gradBroadcast(Builder&, const Node&, ValueId, ValueId dy) { return {dy}; }

Grads gradConcat(Builder& b, const Node& n, ValueId, ValueId dy) {
  int64_t axis = n.attrs.i("axis"), start = 0;
  Grads out;
  for (ValueId v : n.operands) {
    int64_t extent = b.type(v).dims[axis];
    out.push_back(b.create(OpKind::Slice, {dy}, {{"axis", axis}, {"start", start}, {"end", start + extent}}));
    start += extent;
  }
  return out;
}

Grads gradSlice(Builder& b, const Node& n, ValueId, ValueId dy) {
  int64_t axis = n.attrs.i("axis");
  int64_t extent = b.type(n.operands[0]).dims[axis];
  return {b.create(OpKind::Pad, {dy}, {{"axis", axis}, {"before", n.attrs.i("start")}, {"after", extent - n.attrs.i("end")}})};
}

Grads gradPad(Builder& b, const Node& n, ValueId, ValueId dy) {
  int64_t axis = n.attrs.i("axis"), before = n.attrs.i("before");
  int64_t extent = b.type(n.operands[0]).dims[axis];
  return {b.create(OpKind::Slice, {dy}, {{"axis", axis}, {"start", before}, {"end", before + extent}})};
}

const OpRules kRules[] = {
    {OpKind::Reshape, inferReshape, gradReshape},
    {OpKind::Transpose, inferTranspose, gradTranspose},
    {OpKind::Broadcast, inferBroadcast, gradBroadcast},
    {OpKind::Concat, inferConcat, gradConcat},
    {OpKind::Slice, inferSliceOrPad, gradSlice},
    {OpKind::Pad, inferSliceOrPad, gradPad},
    {OpKind::OneHot, inferOneHot, zeroGradient},
};

}  // namespace

std::span<const OpRules> shapeRules() { return kRules; }

}  // namespace sinter
