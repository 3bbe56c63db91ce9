// Matrix product and 2-D convolution, with the convolution's two gradient ops: shape and gradient rules.
#include "ir/ops/rules.h"

namespace sinter {
namespace {

using namespace rules;

std::string dim(int64_t d) { return d == kBatch ? "B" : std::to_string(d); }

Expected<TensorType> inferMatMul(OpKind, std::span<const TensorType> in, const Attrs& attrs) {
  for (const char* k : {"transpose_a", "transpose_b"})
    if (auto s = needBool(attrs, k); !s) return s.error();
  if (in[0].dtype != DType::F32 || in[1].dtype != DType::F32 || in[0].rank() != 2 || in[1].rank() != 2)
    return Error(fmt::format("matrix product needs two f32 matrices, found {} and {}", formatType(in[0]), formatType(in[1])));
  bool ta = attrs.b("transpose_a"), tb = attrs.b("transpose_b");
  int64_t m = in[0].dims[ta ? 1 : 0], ka = in[0].dims[ta ? 0 : 1];
  int64_t kb = in[1].dims[tb ? 1 : 0], n = in[1].dims[tb ? 0 : 1];
  if (ka != kb)
    return Error(fmt::format("cannot multiply {} by {}: inner dimensions {} and {} differ", formatType(in[0]),
                             formatType(in[1]), dim(ka), dim(kb)));
  return f32({m, n});
}

// y = op(a) @ op(b), op = optional transpose. The gradients are again single matrix products.
std::vector<ValueId> gradMatMul(Builder& b, const Node& node, ValueId, ValueId dy) {
  ValueId x = node.operands[0], w = node.operands[1];
  bool ta = node.attrs.b("transpose_a"), tb = node.attrs.b("transpose_b");
  auto mm = [&](ValueId p, ValueId q, bool tp, bool tq) {
    return b.create(OpKind::MatMul, {p, q}, {{"transpose_a", tp}, {"transpose_b", tq}});
  };
  ValueId da = ta ? mm(w, dy, tb, true) : mm(dy, w, false, !tb);
  ValueId db = tb ? mm(dy, x, true, ta) : mm(x, dy, !ta, false);
  return {da, db};
}

Status convAttrs(const Attrs& attrs) {
  for (const char* k : {"stride", "padding", "dilation"})
    if (auto s = needInts(attrs, k, 2); !s) return s;
  if (auto s = needInt(attrs, "groups"); !s) return s;
  for (const char* k : {"stride", "dilation"})
    for (int64_t v : attrs.ints(k))
      if (v < 1) return Error(fmt::format("{} must be at least 1", k));
  for (int64_t v : attrs.ints("padding"))
    if (v < 0) return Error("padding must be non-negative");
  if (attrs.i("groups") < 1) return Error("groups must be at least 1");
  return ok();
}

// Output [N, F, OH, OW] of a convolution of x [N, C, H, W] with w [F, C/groups, KH, KW].
Expected<Dims> convOutput(const Dims& x, const Dims& w, const Attrs& attrs) {
  int64_t groups = attrs.i("groups");
  if (x[1] == kBatch || x[1] % groups != 0 || w[0] % groups != 0)
    return Error(fmt::format("{} channels and {} filters must both be divisible by groups = {}", dim(x[1]), w[0], groups));
  int64_t channels = 0;
  if (__builtin_mul_overflow(w[1], groups, &channels))
    return Error(fmt::format("weight {} with groups = {} expects more input channels than fit in 64 bits", formatDims(w), groups));
  if (channels != x[1])
    return Error(fmt::format("weight {} expects {} input channels, found {}", formatDims(w), channels, dim(x[1])));
  const auto &s = attrs.ints("stride"), &p = attrs.ints("padding"), &d = attrs.ints("dilation");
  Dims out = {x[0], w[0], 0, 0};
  for (int i = 0; i < 2; ++i) {
    out[2 + i] = windowOut(x[2 + i], w[2 + i], s[i], p[i], d[i]);
    if (out[2 + i] < 1)
      return Error(fmt::format("kernel {}x{} (dilation {}) does not fit the {}x{} input with padding {}", w[2], w[3], d[i],
                               x[2], x[3], p[i]));
  }
  return out;
}

bool rank4f32(const TensorType& t) { return t.dtype == DType::F32 && t.rank() == 4; }

Expected<TensorType> inferConv(OpKind, std::span<const TensorType> in, const Attrs& attrs) {
  if (auto s = convAttrs(attrs); !s) return s.error();
  if (!rank4f32(in[0]) || !rank4f32(in[1]))
    return Error(fmt::format("conv2d needs an f32 NCHW input and OIHW weight, found {} and {}", formatType(in[0]), formatType(in[1])));
  Expected<Dims> out = convOutput(in[0].dims, in[1].dims, attrs);
  if (!out) return out.error();
  return f32(out.take());
}

// (dy [N,F,OH,OW], w [F,C/g,KH,KW]) {input_hw} -> dx [N,C,H,W]
Expected<TensorType> inferConvGradInput(OpKind, std::span<const TensorType> in, const Attrs& attrs) {
  if (auto s = convAttrs(attrs); !s) return s.error();
  if (auto s = needInts(attrs, "input_hw", 2); !s) return s.error();
  if (!rank4f32(in[0]) || !rank4f32(in[1])) return Error("conv2d_grad_input needs rank-4 f32 operands");
  const Dims &dy = in[0].dims, &w = in[1].dims;
  const auto& hw = attrs.ints("input_hw");
  if (hw[0] < 1 || hw[1] < 1) return Error(fmt::format("input_hw {} must be positive", formatAttr(hw)));
  int64_t channels = 0;
  if (__builtin_mul_overflow(w[1], attrs.i("groups"), &channels))
    return Error(fmt::format("weight {} with groups = {} has more input channels than fit in 64 bits", formatDims(w),
                             attrs.i("groups")));
  Dims x = {dy[0], channels, hw[0], hw[1]};
  Expected<Dims> out = convOutput(x, w, attrs);
  if (!out) return out.error();
  if (*out != dy) return Error(fmt::format("gradient {} does not match the convolution's output {}", formatDims(dy), formatDims(*out)));
  return f32(x);
}

// (x [N,C,H,W], dy [N,F,OH,OW]) {kernel} -> dw [F,C/g,KH,KW]
Expected<TensorType> inferConvGradWeight(OpKind, std::span<const TensorType> in, const Attrs& attrs) {
  if (auto s = convAttrs(attrs); !s) return s.error();
  if (auto s = needInts(attrs, "kernel", 2); !s) return s.error();
  if (!rank4f32(in[0]) || !rank4f32(in[1])) return Error("conv2d_grad_weight needs rank-4 f32 operands");
  const Dims &x = in[0].dims, &dy = in[1].dims;
  int64_t groups = attrs.i("groups");
  if (x[1] == kBatch || x[1] % groups) return Error("channels must be divisible by groups");
  Dims w = {dy[1], x[1] / groups, attrs.ints("kernel")[0], attrs.ints("kernel")[1]};
  Expected<Dims> out = convOutput(x, w, attrs);
  if (!out) return out.error();
  if (*out != dy) return Error(fmt::format("gradient {} does not match the convolution's output {}", formatDims(dy), formatDims(*out)));
  return f32(w);
}

std::vector<ValueId> gradConv(Builder& b, const Node& n, ValueId, ValueId dy) {
  ValueId x = n.operands[0], w = n.operands[1];
  Attrs common = {{"stride", n.attrs.ints("stride")}, {"padding", n.attrs.ints("padding")},
                  {"dilation", n.attrs.ints("dilation")}, {"groups", n.attrs.i("groups")}};
  Dims xd = b.type(x).dims;
  Dims wd = b.type(w).dims;
  Attrs in = common, wt = common;
  in.set("input_hw", std::vector<int64_t>{xd[2], xd[3]});
  wt.set("kernel", std::vector<int64_t>{wd[2], wd[3]});
  return {b.create(OpKind::Conv2dGradInput, {dy, w}, in), b.create(OpKind::Conv2dGradWeight, {x, dy}, wt)};
}

const OpRules kRules[] = {
    {OpKind::MatMul, inferMatMul, gradMatMul},
    {OpKind::Conv2d, inferConv, gradConv},
    {OpKind::Conv2dGradInput, inferConvGradInput, nullptr},
    {OpKind::Conv2dGradWeight, inferConvGradWeight, nullptr},
};

}  // namespace

std::span<const OpRules> linalgRules() { return kRules; }

}  // namespace sinter
