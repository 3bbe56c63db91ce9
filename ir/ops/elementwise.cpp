// Pointwise ops (one operand, or two with numpy broadcasting): shape and gradient rules.
#include "ir/ops/rules.h"

namespace sinter {
namespace {

using namespace rules;

Expected<TensorType> inferUnary(OpKind op, std::span<const TensorType> in, const Attrs& attrs) {
  if (auto s = needF32(mnemonic(op), in[0]); !s) return s.error();
  if (op == OpKind::LeakyRelu)
    if (auto s = needFloat(attrs, "slope"); !s) return s.error();
  if (op == OpKind::Pow)
    if (auto s = needFloat(attrs, "exponent"); !s) return s.error();
  return in[0];
}

Expected<TensorType> inferCast(OpKind, std::span<const TensorType> in, const Attrs& attrs) {
  const Attr* to = attrs.find("dtype");
  if (!to || !std::holds_alternative<std::string>(*to)) return Error("attribute 'dtype' must be \"f32\" or \"i32\"");
  const std::string& name = std::get<std::string>(*to);
  if (name != "f32" && name != "i32") return Error(fmt::format("cannot cast to '{}'", name));
  return TensorType{name == "f32" ? DType::F32 : DType::I32, in[0].dims};
}

const char* verb(OpKind op) {
  switch (op) {
    case OpKind::Add: return "add";
    case OpKind::Sub: return "subtract";
    case OpKind::Mul: return "multiply";
    case OpKind::Div: return "divide";
    default: return "compare";
  }
}

Expected<TensorType> inferBinary(OpKind op, std::span<const TensorType> in, const Attrs&) {
  auto mismatch = [&] { return Error(fmt::format("cannot {} {} and {}", verb(op), formatType(in[0]), formatType(in[1]))); };
  if (in[0].dtype != DType::F32 || in[1].dtype != DType::F32) return mismatch();
  Expected<Dims> dims = broadcastDims(in[0].dims, in[1].dims);
  if (!dims) return mismatch();
  return f32(dims.take());
}

using Grads = std::vector<ValueId>;

Grads gradNeg(Builder& b, const Node&, ValueId, ValueId dy) { return {b.neg(dy)}; }
Grads gradExp(Builder& b, const Node&, ValueId y, ValueId dy) { return {b.mul(dy, y)}; }
Grads gradLog(Builder& b, const Node& n, ValueId, ValueId dy) { return {b.div(dy, n.operands[0])}; }
Grads gradSqrt(Builder& b, const Node&, ValueId y, ValueId dy) { return {b.div(b.scale(dy, 0.5), y)}; }
// d/dx x^(-1/2) = -1/2 x^(-3/2) = -1/2 y^3
Grads gradRsqrt(Builder& b, const Node&, ValueId y, ValueId dy) {
  return {b.mul(b.scale(dy, -0.5), b.mul(y, b.mul(y, y)))};
}
Grads gradTanh(Builder& b, const Node&, ValueId y, ValueId dy) {
  return {b.mul(dy, b.sub(b.constant(1.0), b.mul(y, y)))};
}
Grads gradSigmoid(Builder& b, const Node&, ValueId y, ValueId dy) {
  return {b.mul(dy, b.mul(y, b.sub(b.constant(1.0), y)))};
}
// step(relu(x)) is step(x): the mask reads relu's output, which the next layer keeps for its own
// gradient anyway, so relu's input has one use and fuses into its producer (bias, batch norm).
Grads gradRelu(Builder& b, const Node&, ValueId self, ValueId dy) {
  return {b.mul(dy, b.unary(OpKind::Step, self))};
}
// slope + (1 - slope) * step(x): 1 where x > 0, slope elsewhere.
Grads gradLeakyRelu(Builder& b, const Node& n, ValueId, ValueId dy) {
  double slope = n.attrs.f("slope");
  ValueId d = b.add(b.constant(slope), b.scale(b.unary(OpKind::Step, n.operands[0]), 1.0 - slope));
  return {b.mul(dy, d)};
}
// The subgradient at 0 is 0 (sign(0) = 0), as PyTorch's.
Grads gradAbs(Builder& b, const Node& n, ValueId, ValueId dy) {
  return {b.mul(dy, b.unary(OpKind::Sign, n.operands[0]))};
}
Grads gradPow(Builder& b, const Node& n, ValueId, ValueId dy) {
  double p = n.attrs.f("exponent");
  ValueId d = b.scale(b.unary(OpKind::Pow, n.operands[0], {{"exponent", p - 1.0}}), p);
  return {b.mul(dy, d)};
}

Grads gradAdd(Builder&, const Node&, ValueId, ValueId dy) { return {dy, dy}; }
Grads gradSub(Builder& b, const Node&, ValueId, ValueId dy) { return {dy, b.neg(dy)}; }
Grads gradMul(Builder& b, const Node& n, ValueId, ValueId dy) {
  return {b.mul(dy, n.operands[1]), b.mul(dy, n.operands[0])};
}
// d(a/b)/db = -a/b^2 = -(a/b)/b
Grads gradDiv(Builder& b, const Node& n, ValueId y, ValueId dy) {
  return {b.div(dy, n.operands[1]), b.neg(b.div(b.mul(dy, y), n.operands[1]))};
}

const OpRules kRules[] = {
    {OpKind::Neg, inferUnary, gradNeg},
    {OpKind::Exp, inferUnary, gradExp},
    {OpKind::Log, inferUnary, gradLog},
    {OpKind::Sqrt, inferUnary, gradSqrt},
    {OpKind::Rsqrt, inferUnary, gradRsqrt},
    {OpKind::Tanh, inferUnary, gradTanh},
    {OpKind::Sigmoid, inferUnary, gradSigmoid},
    {OpKind::Relu, inferUnary, gradRelu},
    {OpKind::LeakyRelu, inferUnary, gradLeakyRelu},
    {OpKind::Abs, inferUnary, gradAbs},
    {OpKind::Sign, inferUnary, zeroGradient},
    {OpKind::Step, inferUnary, zeroGradient},
    {OpKind::Pow, inferUnary, gradPow},
    {OpKind::Cast, inferCast, zeroGradient},
    {OpKind::Add, inferBinary, gradAdd},
    {OpKind::Sub, inferBinary, gradSub},
    {OpKind::Mul, inferBinary, gradMul},
    {OpKind::Div, inferBinary, gradDiv},
    {OpKind::Equal, inferBinary, zeroGradient},
};

}  // namespace

std::span<const OpRules> elementwiseRules() { return kRules; }

}  // namespace sinter
