// decompose-batchnorm: batchnorm_train, batchnorm_stats, their gradients and batchnorm_infer as primitives
// (ir/ops/batchnorm.h), for targets without a batch-norm primitive (the cpu target; the dnnl
// target keeps the ones oneDNN runs fast). The forward is the expansion batchnorm had before it
// was an op, so the cpu target's numerics are unchanged; the gradient is the closed form
//   dx = rsqrt(var + eps) * weight * (dy - (sum(dy) + x̂ * sum(dy * x̂)) / N)
// whose two sums are the bias' and weight's gradients (CSE merges them), three passes over the
// activation where the chain rule through mean and variance took about eleven. batchnorm_train_grad
// recomputes the statistics from x rather than reading its stats operand: the expressions are the
// forward's, and CSE makes them one.
#include "ir/ops/batchnorm.h"
#include "passes/pass.h"
#include "passes/rewrite.h"

namespace sinter {

Expected<bool> decomposeBatchNormExcept(Module& m, const TargetTakes& keep) {
  return rewriteModule(m, [&](Builder& b, const Node& n) -> ValueId {
    if (n.operands.empty() || (keep && keep(n.op, b.type(n.operands[0])))) return kNoValue;
    const auto& o = n.operands;
    switch (n.op) {
      case OpKind::BatchNormTrain: return batchnorm::forward(b, o[0], o[1], o[2], n.attrs.f("eps"));
      case OpKind::BatchNormStats: return batchnorm::packedStats(b, o[0]);
      case OpKind::BatchNormTrainGrad: return batchnorm::inputGradient(b, o[0], o[1], o[2], n.attrs.f("eps"));
      case OpKind::BatchNormParamGrad: return batchnorm::packedParamGrad(b, o[0], o[1], n.attrs.f("eps"));
      case OpKind::BatchNormInfer: return batchnorm::inference(b, o[0], o[1], o[2], o[3], o[4], n.attrs.f("eps"));
      default: return kNoValue;
    }
  });
}

Expected<bool> decomposeBatchNorm(Module& m) { return decomposeBatchNormExcept(m, nullptr); }

}  // namespace sinter
