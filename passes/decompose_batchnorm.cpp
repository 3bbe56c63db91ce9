// decompose-batchnorm: batchnorm_train and batchnorm_train_grad as primitives (ir/ops/batchnorm.h),
// for targets without a batch-norm primitive (today every target: the dnnl target's oneDNN batch
// normalization is not wired yet). The forward is the expansion batchnorm had before it was an op,
// so the cpu target's numerics are unchanged; the gradient is the closed form
//   dx = rsqrt(var + eps) * weight * (dy - (sum(dy) + x̂ * sum(dy * x̂)) / N)
// whose two sums are the bias' and weight's gradients (CSE merges them), three passes over the
// activation where the chain rule through mean and variance took about eleven.
#include "ir/ops/batchnorm.h"
#include "passes/pass.h"
#include "passes/rewrite.h"

namespace sinter {

Expected<bool> decomposeBatchNorm(Module& m) {
  return rewriteModule(m, [](Builder& b, const Node& n) -> ValueId {
    if (n.op == OpKind::BatchNormTrain)
      return batchnorm::forward(b, n.operands[0], n.operands[1], n.operands[2], n.attrs.f("eps"));
    if (n.op == OpKind::BatchNormTrainGrad)
      return batchnorm::inputGradient(b, n.operands[0], n.operands[1], n.operands[2], n.attrs.f("eps"));
    return kNoValue;
  });
}

}  // namespace sinter
