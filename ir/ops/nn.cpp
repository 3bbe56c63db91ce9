// Neural-network ops: pooling, softmax, dropout and batch norm: shape and gradient rules.
#include "ir/ops/batchnorm.h"
#include "ir/ops/rules.h"

namespace sinter {
namespace {

using namespace rules;

Status poolAttrs(const Attrs& attrs) {
  for (const char* k : {"kernel", "stride", "padding"})
    if (auto s = needInts(attrs, k, 2); !s) return s;
  const auto &k = attrs.ints("kernel"), &s = attrs.ints("stride"), &p = attrs.ints("padding");
  for (int i = 0; i < 2; ++i) {
    if (k[i] < 1 || s[i] < 1) return Error("kernel and stride must be at least 1");
    // PyTorch's rule: a window must hold at least one real element.
    if (p[i] < 0 || p[i] > k[i] / 2) return Error(fmt::format("padding {} must be between 0 and half the kernel {}", p[i], k[i]));
  }
  return ok();
}

Expected<Dims> poolOutput(const Dims& x, const Attrs& attrs) {
  const auto &k = attrs.ints("kernel"), &s = attrs.ints("stride"), &p = attrs.ints("padding");
  Dims out = x;
  for (int i = 0; i < 2; ++i) {
    out[2 + i] = windowOut(x[2 + i], k[i], s[i], p[i], 1);
    if (out[2 + i] < 1)
      return Error(fmt::format("pooling window {}x{} does not fit the {}x{} input", k[0], k[1], x[2], x[3]));
  }
  return out;
}

Expected<TensorType> inferPool(OpKind op, std::span<const TensorType> in, const Attrs& attrs) {
  if (auto s = poolAttrs(attrs); !s) return s.error();
  if (in[0].dtype != DType::F32 || in[0].rank() != 4)
    return Error(fmt::format("{} needs an f32 NCHW input, found {}", mnemonic(op), formatType(in[0])));
  Expected<Dims> out = poolOutput(in[0].dims, attrs);
  if (!out) return out.error();
  return f32(out.take());
}

// (x, dy) -> dx, with dy the shape of maxpool2d(x).
Expected<TensorType> inferMaxPoolGrad(OpKind op, std::span<const TensorType> in, const Attrs& attrs) {
  Expected<TensorType> y = inferPool(op, in.first(1), attrs);
  if (!y) return y;
  if (*y != in[1]) return Error(fmt::format("gradient {} does not match the pooling output {}", formatType(in[1]), formatType(*y)));
  return in[0];
}

// (dy) {input_hw} -> dx
Expected<TensorType> inferAvgPoolGrad(OpKind op, std::span<const TensorType> in, const Attrs& attrs) {
  if (auto s = needInts(attrs, "input_hw", 2); !s) return s.error();
  if (in[0].rank() != 4) return Error("avgpool2d_grad needs a rank-4 gradient");
  const auto& hw = attrs.ints("input_hw");
  if (hw[0] < 1 || hw[1] < 1) return Error(fmt::format("input_hw {} must be positive", formatAttr(hw)));
  TensorType x = f32({in[0].dims[0], in[0].dims[1], attrs.ints("input_hw")[0], attrs.ints("input_hw")[1]});
  TensorType xs[] = {x};
  Expected<TensorType> y = inferPool(op, xs, attrs);
  if (!y) return y;
  if (*y != in[0]) return Error(fmt::format("gradient {} does not match the pooling output {}", formatType(in[0]), formatType(*y)));
  return x;
}

Attrs poolAttrsOf(const Node& n) {
  return {{"kernel", n.attrs.ints("kernel")}, {"stride", n.attrs.ints("stride")}, {"padding", n.attrs.ints("padding")}};
}

std::vector<ValueId> gradMaxPool(Builder& b, const Node& n, ValueId, ValueId dy) {
  return {b.create(OpKind::MaxPool2dGrad, {n.operands[0], dy}, poolAttrsOf(n))};
}

std::vector<ValueId> gradAvgPool(Builder& b, const Node& n, ValueId, ValueId dy) {
  Attrs a = poolAttrsOf(n);
  Dims x = b.type(n.operands[0]).dims;
  a.set("input_hw", std::vector<int64_t>{x[2], x[3]});
  return {b.create(OpKind::AvgPool2dGrad, {dy}, a)};
}

Expected<TensorType> inferSoftmax(OpKind op, std::span<const TensorType> in, const Attrs& attrs) {
  if (auto s = needF32(mnemonic(op), in[0]); !s) return s.error();
  if (auto s = needInt(attrs, "axis"); !s) return s.error();
  if (attrs.i("axis") < 0 || attrs.i("axis") >= in[0].rank())
    return Error(fmt::format("axis {} is out of range for {}", attrs.i("axis"), formatType(in[0])));
  return in[0];
}

// y = softmax(x): dx = y * (dy - sum(dy * y, axis))
std::vector<ValueId> gradSoftmax(Builder& b, const Node& n, ValueId y, ValueId dy) {
  ValueId dot = b.reduce(OpKind::Sum, b.mul(dy, y), {n.attrs.i("axis")}, true);
  return {b.mul(y, b.sub(dy, dot))};
}

// y = log_softmax(x): dx = dy - exp(y) * sum(dy, axis)
std::vector<ValueId> gradLogSoftmax(Builder& b, const Node& n, ValueId y, ValueId dy) {
  ValueId total = b.reduce(OpKind::Sum, dy, {n.attrs.i("axis")}, true);
  return {b.sub(dy, b.mul(b.unary(OpKind::Exp, y), total))};
}

// (z f32[N, K], labels i32[N]) -> f32[N]; the gradient (z, labels, dloss f32[N]) -> f32[N, K].
Expected<TensorType> inferSoftmaxCrossEntropy(OpKind op, std::span<const TensorType> in, const Attrs&) {
  const TensorType& z = in[0];
  if (z.dtype != DType::F32 || z.rank() != 2 || z.dims[1] == kBatch)
    return Error(fmt::format("{} needs f32 logits [N, K], found {}", mnemonic(op), formatType(z)));
  if (in[1] != TensorType{DType::I32, {z.dims[0]}})
    return Error(fmt::format("{} needs i32 labels [{}], found {}", mnemonic(op), formatDims({z.dims[0]}), formatType(in[1])));
  if (op == OpKind::SoftmaxCrossEntropy) return f32({z.dims[0]});
  if (in[2] != f32({z.dims[0]})) return Error(fmt::format("{} needs dloss f32[{}], found {}", mnemonic(op), formatDims({z.dims[0]}), formatType(in[2])));
  return z;
}

std::vector<ValueId> gradSoftmaxCrossEntropy(Builder& b, const Node& n, ValueId, ValueId dy) {
  return {b.create(OpKind::SoftmaxCrossEntropyGrad, {n.operands[0], n.operands[1], dy}), kNoValue};
}

Status dropoutAttrs(const Attrs& attrs) {
  if (auto s = needFloat(attrs, "p"); !s) return s;
  if (auto s = needInt(attrs, "salt"); !s) return s;
  double p = attrs.f("p");
  if (!(p >= 0.0 && p < 1.0)) return Error(fmt::format("dropout probability {} is outside [0, 1)", p));
  return ok();
}

Expected<TensorType> inferDropout(OpKind op, std::span<const TensorType> in, const Attrs& attrs) {
  if (auto s = dropoutAttrs(attrs); !s) return s.error();
  if (auto s = needF32(mnemonic(op), in[0]); !s) return s.error();
  return in[0];
}

// (x, seed: i32[], step: i32[]) -> f32 mask shaped like x
Expected<TensorType> inferDropoutMask(OpKind op, std::span<const TensorType> in, const Attrs& attrs) {
  if (auto s = dropoutAttrs(attrs); !s) return s.error();
  for (int i = 1; i < 3; ++i)
    if (in[i] != TensorType{DType::I32, {}}) return Error(fmt::format("{} expects i32[] seed and step", mnemonic(op)));
  return f32(in[0].dims);
}

// (x, weight, bias, running_mean, running_var), statistics per channel (axis 1) of a 2-D or 4-D x.
Expected<TensorType> inferBatchNorm(OpKind, std::span<const TensorType> in, const Attrs& attrs) {
  for (const char* k : {"momentum", "eps"})
    if (auto s = needFloat(attrs, k); !s) return s.error();
  const TensorType& x = in[0];
  if (x.dtype != DType::F32 || (x.rank() != 2 && x.rank() != 4))
    return Error(fmt::format("batchnorm needs an f32 input of rank 2 or 4, found {}", formatType(x)));
  if (x.dims[1] == kBatch) return Error("batchnorm cannot normalize over the batch dimension's channels");
  for (size_t i = 1; i < in.size(); ++i)
    if (in[i] != f32({x.dims[1]}))
      return Error(fmt::format("batchnorm statistics must be f32[{}], found {}", x.dims[1], formatType(in[i])));
  return x;
}

// The batch-norm ops of training mode: x f32 of rank 2 or 4 with C channels on axis 1;
//   batchnorm_train      (x, weight, bias) {eps}            -> x's type
//   batchnorm_stats      (x)                                -> f32[2, C]
//   batchnorm_train_grad (x, dy, weight, stats) {eps}       -> x's type
//   batchnorm_param_grad (x, dy, stats) {eps}               -> f32[2, C]
//   batchnorm_infer      (x, weight, bias, running_mean, running_var) {eps} -> x's type
// with dy x's type, weight, bias and the running statistics f32[C], stats f32[2, C].
Expected<TensorType> inferBatchNormTrain(OpKind op, std::span<const TensorType> in, const Attrs& attrs) {
  if (op != OpKind::BatchNormStats)
    if (auto s = needFloat(attrs, "eps"); !s) return s.error();
  const TensorType& x = in[0];
  if (x.dtype != DType::F32 || (x.rank() != 2 && x.rank() != 4))
    return Error(fmt::format("{} needs an f32 input of rank 2 or 4, found {}", mnemonic(op), formatType(x)));
  if (x.dims[1] == kBatch) return Error(fmt::format("{} cannot normalize over the batch dimension's channels", mnemonic(op)));
  const int64_t c = x.dims[1];
  const bool grad = op == OpKind::BatchNormTrainGrad || op == OpKind::BatchNormParamGrad;
  if (grad && in[1] != x) return Error(fmt::format("gradient {} does not match the input {}", formatType(in[1]), formatType(x)));
  const size_t stats = op == OpKind::BatchNormTrainGrad ? 3 : op == OpKind::BatchNormParamGrad ? 2 : in.size();
  for (size_t i = grad ? 2 : 1; i < in.size(); ++i) {
    const TensorType want = i == stats ? f32({2, c}) : f32({c});
    if (in[i] != want) return Error(fmt::format("{} operand {} must be {}, found {}", mnemonic(op), i, formatType(want), formatType(in[i])));
  }
  return op == OpKind::BatchNormStats || op == OpKind::BatchNormParamGrad ? f32({2, c}) : x;
}

// y = x̂ * weight + bias with x̂ normalized by the batch's statistics: dx is
// batchnorm_train_grad's closed form, the weight's and bias' gradients (sums over dy * x̂ and dy)
// are the rows of batchnorm_param_grad.
std::vector<ValueId> gradBatchNormTrain(Builder& b, const Node& n, ValueId, ValueId dy) {
  const ValueId x = n.operands[0], weight = n.operands[1];
  const Attrs eps = {{"eps", n.attrs.f("eps")}};
  const ValueId stats = b.create(OpKind::BatchNormStats, {x});
  const ValueId params = b.create(OpKind::BatchNormParamGrad, {x, dy, stats}, eps);
  return {b.create(OpKind::BatchNormTrainGrad, {x, dy, weight, stats}, eps), batchnorm::row(b, params, 0), batchnorm::row(b, params, 1)};
}

const OpRules kRules[] = {
    {OpKind::MaxPool2d, inferPool, gradMaxPool},
    {OpKind::MaxPool2dGrad, inferMaxPoolGrad, nullptr},
    {OpKind::AvgPool2d, inferPool, gradAvgPool},
    {OpKind::AvgPool2dGrad, inferAvgPoolGrad, nullptr},
    {OpKind::Softmax, inferSoftmax, gradSoftmax},
    {OpKind::LogSoftmax, inferSoftmax, gradLogSoftmax},
    {OpKind::SoftmaxCrossEntropy, inferSoftmaxCrossEntropy, gradSoftmaxCrossEntropy},
    {OpKind::SoftmaxCrossEntropyGrad, inferSoftmaxCrossEntropy, nullptr},
    {OpKind::DropoutMask, inferDropoutMask, zeroGradient},
    {OpKind::Dropout, inferDropout, nullptr},
    {OpKind::BatchNorm, inferBatchNorm, nullptr},
    {OpKind::BatchNormTrain, inferBatchNormTrain, gradBatchNormTrain},
    {OpKind::BatchNormStats, inferBatchNormTrain, nullptr},
    {OpKind::BatchNormTrainGrad, inferBatchNormTrain, nullptr},
    {OpKind::BatchNormParamGrad, inferBatchNormTrain, nullptr},
    {OpKind::BatchNormInfer, inferBatchNormTrain, nullptr},
};

}  // namespace

std::span<const OpRules> nnRules() { return kRules; }

}  // namespace sinter
