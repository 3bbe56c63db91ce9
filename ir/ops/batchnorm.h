// Batch norm in training mode as primitives: one construction shared by the training-step pass
// (running statistics), batchnorm_train's gradient rule and decompose-batchnorm, so that CSE
// merges what each of them builds (the batch mean and variance, x̂, the sums over dy).
#pragma once

#include <vector>

#include "ir/module.h"

namespace sinter::batchnorm {

// Statistics of x (rank 2 or 4, channels on axis 1) over every axis but 1, kept as [1,C(,1,1)].
struct Stats {
  std::vector<int64_t> axes;
  Dims perChannel;
  ValueId mean, var;  // var: the biased batch variance, mean((x - mean)^2)
};
Stats stats(Builder& b, ValueId x);
// The axes those statistics reduce: {0, 2, 3} for NCHW, {0} for [N, C]; and a per-channel value's
// shape against x: [1,C,1,1] or [1,C].
std::vector<int64_t> statAxes(const Dims& x);
Dims perChannelDims(const Dims& x);

// A [C] parameter as [1,C(,1,1)], to broadcast over x.
ValueId perChannel(Builder& b, const Stats& s, ValueId v);

// rsqrt(var + eps) and x̂ = (x - mean) * rsqrt(var + eps).
ValueId invStd(Builder& b, const Stats& s, double eps);
ValueId normalized(Builder& b, ValueId x, const Stats& s, double eps);

// Eval mode: (x - running_mean) * rsqrt(running_var + eps) * weight + bias, pointwise.
ValueId inference(Builder& b, ValueId x, ValueId weight, ValueId bias, ValueId runningMean, ValueId runningVar, double eps);

// y = x̂ * weight + bias: exactly the primitives of the batchnorm expansion before this op existed.
ValueId forward(Builder& b, ValueId x, ValueId weight, ValueId bias, double eps);

// sum(dy) and sum(dy * x̂) over the statistics' axes, kept: the bias' and weight's gradients (as
// [C]) and both terms of dx.
ValueId sumDy(Builder& b, const Stats& s, ValueId dy);
ValueId sumDyXhat(Builder& b, const Stats& s, ValueId dy, ValueId xhat);

// The packed [2, C] tensors of batchnorm_stats and batchnorm_param_grad: row r of one as [C], and
// two [1,C(,1,1)] per-channel values as one.
ValueId row(Builder& b, ValueId packed, int64_t r);
ValueId packRows(Builder& b, ValueId first, ValueId second);

// batchnorm_stats' and batchnorm_param_grad's expansions: [mean; var] and [sum(dy * x̂); sum(dy)].
ValueId packedStats(Builder& b, ValueId x);
ValueId packedParamGrad(Builder& b, ValueId x, ValueId dy, double eps);

// dx = rsqrt(var + eps) * weight * (dy - (sum(dy) + x̂ * sum(dy * x̂)) / N), N elements per channel.
ValueId inputGradient(Builder& b, ValueId x, ValueId dy, ValueId weight, double eps);

}  // namespace sinter::batchnorm
