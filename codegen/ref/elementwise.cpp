// Pointwise ops: one operand, or two with numpy broadcasting, and the f32 <-> i32 cast.
#include <cmath>

#include "codegen/ref/kernels.h"

namespace sinter::ref {

namespace {

template <typename F>
Status map(const Call& c, Tensor& out, F f) {
  const std::vector<double>& x = c.in[0]->data;
  for (size_t i = 0; i < x.size(); ++i) out.data[i] = f(x[i]);
  return ok();
}

template <typename F>
Status zip(const Call& c, Tensor& out, F f) {
  const std::vector<int64_t> ia = broadcastIndices(c.in[0]->dims, out.dims);
  const std::vector<int64_t> ib = broadcastIndices(c.in[1]->dims, out.dims);
  const std::vector<double>&a = c.in[0]->data, &b = c.in[1]->data;
  for (size_t i = 0; i < out.data.size(); ++i) out.data[i] = f(a[ia[i]], b[ib[i]]);
  return ok();
}

Status neg(const Call& c, Tensor& o) { return map(c, o, [](double x) { return -x; }); }
Status exp(const Call& c, Tensor& o) { return map(c, o, [](double x) { return std::exp(x); }); }
Status log(const Call& c, Tensor& o) { return map(c, o, [](double x) { return std::log(x); }); }
Status sqrt(const Call& c, Tensor& o) { return map(c, o, [](double x) { return std::sqrt(x); }); }
Status rsqrt(const Call& c, Tensor& o) { return map(c, o, [](double x) { return 1.0 / std::sqrt(x); }); }
Status tanh(const Call& c, Tensor& o) { return map(c, o, [](double x) { return std::tanh(x); }); }
// exp(-x) overflows to inf for very negative x, giving exactly 0, the correctly rounded answer.
Status sigmoid(const Call& c, Tensor& o) { return map(c, o, [](double x) { return 1.0 / (1.0 + std::exp(-x)); }); }
// NaN propagates, as in PyTorch; relu(-x) is +0, never -0.
Status relu(const Call& c, Tensor& o) { return map(c, o, [](double x) { return std::isnan(x) || x > 0 ? x : 0.0; }); }
Status leakyRelu(const Call& c, Tensor& o) {
  const double slope = c.node.attrs.f("slope");
  return map(c, o, [slope](double x) { return x > 0 ? x : slope * x; });
}
Status abs(const Call& c, Tensor& o) { return map(c, o, [](double x) { return std::fabs(x); }); }
// sign(0) = 0 (abs's subgradient); NaN stays NaN.
Status sign(const Call& c, Tensor& o) {
  return map(c, o, [](double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : x == 0 ? 0.0 : x; });
}
Status step(const Call& c, Tensor& o) { return map(c, o, [](double x) { return x > 0 ? 1.0 : 0.0; }); }
Status pow(const Call& c, Tensor& o) {
  const double e = c.node.attrs.f("exponent");
  return map(c, o, [e](double x) { return std::pow(x, e); });
}

// f32 -> i32 truncates toward zero; a value with no i32 truncation (NaN, out of range) is an error
// rather than the undefined behaviour a C++ conversion would give. i32 -> f32 is exact in double
// and rounded like any f32 result in F32 mode.
Status cast(const Call& c, Tensor& out) {
  const Tensor& x = *c.in[0];
  if (!(x.dtype == DType::F32 && out.dtype == DType::I32)) return map(c, out, [](double v) { return v; });
  for (size_t i = 0; i < x.data.size(); ++i) {
    const double t = std::trunc(x.data[i]);
    if (!(t >= -2147483648.0 && t <= 2147483647.0))
      return Error(fmt::format("cannot cast {} at index {} to i32", formatFloat(x.data[i]), i));
    out.data[i] = t;
  }
  return ok();
}

Status add(const Call& c, Tensor& o) { return zip(c, o, [](double a, double b) { return a + b; }); }
Status sub(const Call& c, Tensor& o) { return zip(c, o, [](double a, double b) { return a - b; }); }
Status mul(const Call& c, Tensor& o) { return zip(c, o, [](double a, double b) { return a * b; }); }
Status div(const Call& c, Tensor& o) { return zip(c, o, [](double a, double b) { return a / b; }); }
Status equal(const Call& c, Tensor& o) { return zip(c, o, [](double a, double b) { return a == b ? 1.0 : 0.0; }); }

const KernelEntry kKernels[] = {
    {OpKind::Neg, neg},     {OpKind::Exp, exp},         {OpKind::Log, log},     {OpKind::Sqrt, sqrt},
    {OpKind::Rsqrt, rsqrt}, {OpKind::Tanh, tanh},       {OpKind::Sigmoid, sigmoid},
    {OpKind::Relu, relu},   {OpKind::LeakyRelu, leakyRelu}, {OpKind::Abs, abs}, {OpKind::Sign, sign},
    {OpKind::Step, step},   {OpKind::Pow, pow},         {OpKind::Cast, cast},   {OpKind::Add, add},
    {OpKind::Sub, sub},     {OpKind::Mul, mul},         {OpKind::Div, div},     {OpKind::Equal, equal},
};

}  // namespace

std::span<const KernelEntry> elementwiseKernels() { return kKernels; }

}  // namespace sinter::ref
