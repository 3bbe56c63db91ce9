// Batch norm in training mode as primitives (see batchnorm.h).
#include "ir/ops/batchnorm.h"

namespace sinter::batchnorm {

std::vector<int64_t> statAxes(const Dims& x) { return x.size() == 4 ? std::vector<int64_t>{0, 2, 3} : std::vector<int64_t>{0}; }

Dims perChannelDims(const Dims& x) { return x.size() == 4 ? Dims{1, x[1], 1, 1} : Dims{1, x[1]}; }

Stats stats(Builder& b, ValueId x) {
  const Dims dims = b.type(x).dims;
  Stats s;
  s.axes = statAxes(dims);
  s.perChannel = perChannelDims(dims);
  s.mean = b.reduce(OpKind::Mean, x, s.axes, true);
  ValueId centered = b.sub(x, s.mean);
  s.var = b.reduce(OpKind::Mean, b.mul(centered, centered), s.axes, true);
  return s;
}

ValueId perChannel(Builder& b, const Stats& s, ValueId v) { return b.reshape(v, s.perChannel); }

ValueId invStd(Builder& b, const Stats& s, double eps) { return b.unary(OpKind::Rsqrt, b.add(s.var, b.constant(eps))); }

ValueId normalized(Builder& b, ValueId x, const Stats& s, double eps) { return b.mul(b.sub(x, s.mean), invStd(b, s, eps)); }

ValueId inference(Builder& b, ValueId x, ValueId weight, ValueId bias, ValueId runningMean, ValueId runningVar, double eps) {
  Stats s;
  s.perChannel = perChannelDims(b.type(x).dims);
  s.mean = perChannel(b, s, runningMean);
  s.var = perChannel(b, s, runningVar);
  return b.add(b.mul(normalized(b, x, s, eps), perChannel(b, s, weight)), perChannel(b, s, bias));
}

ValueId forward(Builder& b, ValueId x, ValueId weight, ValueId bias, double eps) {
  const Stats s = stats(b, x);
  return b.add(b.mul(normalized(b, x, s, eps), perChannel(b, s, weight)), perChannel(b, s, bias));
}

ValueId sumDy(Builder& b, const Stats& s, ValueId dy) { return b.reduce(OpKind::Sum, dy, s.axes, true); }

ValueId sumDyXhat(Builder& b, const Stats& s, ValueId dy, ValueId xhat) { return b.reduce(OpKind::Sum, b.mul(dy, xhat), s.axes, true); }

ValueId inputGradient(Builder& b, ValueId x, ValueId dy, ValueId weight, double eps) {
  const Stats s = stats(b, x);
  ValueId xhat = normalized(b, x, s, eps);
  ValueId count = b.create(OpKind::Numel, {x}, {{"axes", s.axes}});
  ValueId correction = b.div(b.add(sumDy(b, s, dy), b.mul(xhat, sumDyXhat(b, s, dy, xhat))), count);
  return b.mul(b.mul(invStd(b, s, eps), perChannel(b, s, weight)), b.sub(dy, correction));
}

ValueId row(Builder& b, ValueId packed, int64_t r) {
  const int64_t c = b.type(packed).dims[1];
  return b.reshape(b.create(OpKind::Slice, {packed}, {{"axis", int64_t{0}}, {"start", r}, {"end", r + 1}}), {c});
}

ValueId packRows(Builder& b, ValueId first, ValueId second) {
  const int64_t c = b.type(first).dims[1];
  return b.create(OpKind::Concat, {b.reshape(first, {1, c}), b.reshape(second, {1, c})}, {{"axis", int64_t{0}}});
}

ValueId packedStats(Builder& b, ValueId x) {
  const Stats s = stats(b, x);
  return packRows(b, s.mean, s.var);
}

ValueId packedParamGrad(Builder& b, ValueId x, ValueId dy, double eps) {
  const Stats s = stats(b, x);
  // Named, so that the nodes come in this order whatever order the compiler evaluates arguments in.
  const ValueId dWeight = sumDyXhat(b, s, dy, normalized(b, x, s, eps));
  const ValueId dBias = sumDy(b, s, dy);
  return packRows(b, dWeight, dBias);
}

}  // namespace sinter::batchnorm
