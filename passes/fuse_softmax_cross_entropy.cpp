// fuse-softmax-cross-entropy: the frontend's cross-entropy, sum(one_hot(y) * log_softmax(z), 1),
// becomes -softmax_cross_entropy(z, y): one pass over the logits forward, and a gradient that is
// one pass too ((softmax(z) - one_hot(y)) * dloss) where the chain rule through one_hot, the product,
// the row sum and log_softmax took five kernels. Runs on @forward, before build-train-step.
// Must not fire: a log_softmax over another axis, a product with anything but a one_hot of as many
// classes, a sum that keeps its dims or runs over other axes. A log_softmax that has other users
// (an `output` of it) stays for them.
#include "passes/pass.h"
#include "passes/rewrite.h"

namespace sinter {

Expected<bool> fuseSoftmaxCrossEntropy(Module& m) {
  return rewriteModule(m, [](Builder& b, const Node& n) -> ValueId {
    if (n.op != OpKind::Sum || n.attrs.b("keepdims") || n.attrs.ints("axes") != std::vector<int64_t>{1}) return kNoValue;
    const Node& mul = b.node(n.operands[0]);
    if (mul.op != OpKind::Mul) return kNoValue;
    for (size_t side = 0; side < 2; ++side) {
      const Node& hot = b.node(mul.operands[side]);
      const Node& logp = b.node(mul.operands[1 - side]);
      if (hot.op != OpKind::OneHot || logp.op != OpKind::LogSoftmax || logp.attrs.i("axis") != 1) continue;
      const TensorType& z = b.type(logp.operands[0]);
      const TensorType& y = b.type(hot.operands[0]);
      if (z.rank() != 2 || hot.attrs.i("classes") != z.dims[1] || y != TensorType{DType::I32, {z.dims[0]}}) continue;
      return b.unary(OpKind::Neg, b.create(OpKind::SoftmaxCrossEntropy, {logp.operands[0], hot.operands[0]}));
    }
    return kNoValue;
  });
}

}  // namespace sinter
