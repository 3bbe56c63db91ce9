// Every gradient rule against central finite differences in float64.
//
// Each case is a tiny graph f(x0, x1, ...) built with the Builder; the loss is sum(f(...) * r) with
// a fixed random r of f's shape, so every output element matters. passes/autodiff differentiates
// the loss with respect to every f32 input, and each element of each input is perturbed by
// h = 1e-6 both ways: (L(x + h) - L(x - h)) / 2h. Truncation error is O(h^2) ~ 1e-12 and the
// rounding of L (a sum of a few hundred terms) over 2h ~ 1e-10; a wrong rule is off by O(1). Inputs
// are drawn away from kinks (relu, abs, max ties) and outside domains' edges (log, sqrt, pow).
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <set>

#include "codegen/ref/evaluator.h"
#include "ir/verifier.h"
#include "passes/autodiff.h"

using namespace sinter;

namespace {

// How an input's values are drawn.
enum class Values {
  Any,       // uniform [-1, 1)
  Positive,  // uniform [0.5, 1.5)
  AwayFromZero,  // +-[0.2, 1)
  Label,     // i32 in {0, 1, 2}
  Zero,      // i32 0 (seeds and steps)
};

struct Arg {
  Dims dims;
  Values values = Values::Any;
};

using BuildFn = std::function<ValueId(Builder&, const std::vector<ValueId>&)>;

struct Case {
  std::string name;
  std::vector<Arg> args;
  BuildFn build;
  int64_t batch = 3;  // what B binds to
};

bool isInt(Values v) { return v == Values::Label || v == Values::Zero; }

// splitmix64: reproducible doubles in [0, 1), distinct enough that windows and reductions have no ties.
struct Random {
  uint64_t state;
  double next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-53;
  }
  double draw(Values v) {
    double u = next();
    switch (v) {
      case Values::Any: return 2 * u - 1;
      case Values::Positive: return 0.5 + u;
      case Values::AwayFromZero: return (next() < 0.5 ? -1 : 1) * (0.2 + 0.8 * u);
      case Values::Label: return std::floor(3 * u);
      case Values::Zero: return 0;
    }
    return 0;
  }
};

Dims bind(Dims d, int64_t batch) {
  for (int64_t& x : d) x = x == kBatch ? batch : x;
  return d;
}

// The case's graph in function @f: inputs x0, x1, ... and r, results `loss` and `g<k>` (the
// gradient of every f32 input). `forwardOps` gets the ops of f itself, before differentiation.
// Inputs come first in a function, and r's type is f's: a first build finds it.
Module buildCase(const Case& c, std::set<OpKind>* forwardOps = nullptr, std::optional<TensorType> rType = {}) {
  Module m;
  m.name = "gradcheck";
  m.functions.push_back(Function{"f", {}, {}});
  Function& fn = m.functions.back();
  Builder b(m, fn);
  std::vector<ValueId> args, wrt;
  for (size_t k = 0; k < c.args.size(); ++k) {
    DType dtype = isInt(c.args[k].values) ? DType::I32 : DType::F32;
    args.push_back(b.input(fmt::format("x{}", k), {dtype, c.args[k].dims}));
    if (dtype == DType::F32) wrt.push_back(args.back());
  }
  if (!rType) {
    ValueId y = c.build(b, args);
    REQUIRE_MESSAGE(!b.failed(), c.name, ": ", b.error()->message());
    return buildCase(c, forwardOps, b.type(y));
  }
  ValueId r = b.input("r", *rType);
  const size_t firstOp = fn.nodes.size();
  ValueId y = c.build(b, args);
  if (forwardOps)
    for (size_t i = firstOp; i < fn.nodes.size(); ++i) forwardOps->insert(fn.nodes[i].op);
  ValueId weighted = b.mul(y, r);
  std::vector<int64_t> all(b.type(y).rank());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  ValueId loss = all.empty() ? weighted : b.reduce(OpKind::Sum, weighted, all, false);
  fn.results.push_back({"loss", loss});
  Expected<std::vector<ValueId>> grads = differentiate(b, loss, wrt);
  REQUIRE_MESSAGE(grads, c.name, ": ", grads ? "" : grads.error().message());
  for (size_t k = 0; k < grads->size(); ++k) fn.results.push_back({fmt::format("g{}", k), (*grads)[k]});
  REQUIRE_MESSAGE(!b.failed(), c.name, ": ", b.error()->message());
  Status s = verifyModule(m);
  REQUIRE_MESSAGE(s, c.name, ": ", s ? "" : s.error().message());
  return m;
}

// The largest relative error (per tensor, floor 1e-3 max|analytic|) seen over all cases.
double worstSeen = 0;

void checkCase(const Case& c) {
  INFO(c.name);
  Module m = buildCase(c);
  Random rng{std::hash<std::string>{}(c.name)};
  ref::TensorMap inputs;
  std::vector<std::string> wrt;
  for (size_t k = 0; k < c.args.size(); ++k) {
    Dims dims = bind(c.args[k].dims, c.batch);
    ref::Tensor t{isInt(c.args[k].values) ? DType::I32 : DType::F32, dims, {}};
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    for (int64_t i = 0; i < n; ++i) t.data.push_back(rng.draw(c.args[k].values));
    inputs[fmt::format("x{}", k)] = t;
    if (t.dtype == DType::F32) wrt.push_back(fmt::format("x{}", k));
  }
  const Function& fn = *m.function("f");
  const Node& rNode = fn.nodes[fn.inputs().back()];
  ref::Tensor r{DType::F32, bind(rNode.type.dims, c.batch), {}};
  int64_t n = 1;
  for (int64_t d : r.dims) n *= d;
  for (int64_t i = 0; i < n; ++i) r.data.push_back(rng.draw(Values::Any));
  inputs["r"] = r;

  ref::TensorMap globals;
  auto run = [&](const ref::TensorMap& in) {
    Expected<ref::TensorMap> out = ref::evaluate(m, "f", in, globals, ref::Precision::F64);
    if (!out) FAIL(c.name, ": ", out.error().message());
    return out.take();
  };
  const ref::TensorMap analytic = run(inputs);
  const double h = 1e-6;
  for (size_t k = 0; k < wrt.size(); ++k) {
    const ref::Tensor& g = analytic.at(fmt::format("g{}", k));
    const ref::Tensor& x = inputs.at(wrt[k]);
    REQUIRE(g.data.size() == x.data.size());
    double maxA = 0;
    for (double v : g.data) maxA = std::max(maxA, std::fabs(v));
    double err = 0;
    std::string report;
    int shown = 0;
    for (size_t i = 0; i < x.data.size(); ++i) {
      ref::TensorMap plus = inputs, minus = inputs;
      plus[wrt[k]].data[i] += h;
      minus[wrt[k]].data[i] -= h;
      double numeric = (run(plus).at("loss").data[0] - run(minus).at("loss").data[0]) / (2 * h);
      // A zero gradient (sign, step, ...) is compared absolutely.
      double denom = maxA == 0 ? 1.0 : std::max(std::fabs(g.data[i]), 1e-3 * maxA);
      double e = std::fabs(numeric - g.data[i]) / denom;
      err = std::max(err, e);
      if (e > 1e-6 && shown++ < 5) report += fmt::format(" [{}] analytic {:.12g} numeric {:.12g};", i, g.data[i], numeric);
    }
    worstSeen = std::max(worstSeen, err);
    CHECK_MESSAGE(err <= 1e-6, c.name, ": d/d", wrt[k], " relative error ", err, ";", report);
  }
}

using V = std::vector<ValueId>;
const int64_t B = kBatch;

ValueId unary(Builder& b, OpKind op, ValueId x, Attrs a = {}) { return b.unary(op, x, std::move(a)); }
ValueId matmul(Builder& b, ValueId x, ValueId y, bool ta, bool tb) {
  return b.create(OpKind::MatMul, {x, y}, {{"transpose_a", ta}, {"transpose_b", tb}});
}
Attrs conv(int64_t stride, int64_t padding, int64_t dilation, int64_t groups) {
  return {{"stride", std::vector<int64_t>{stride, stride}},
          {"padding", std::vector<int64_t>{padding, padding}},
          {"dilation", std::vector<int64_t>{dilation, dilation}},
          {"groups", groups}};
}
Attrs pool(int64_t k, int64_t s, int64_t p) {
  return {{"kernel", std::vector<int64_t>{k, k}}, {"stride", std::vector<int64_t>{s, s}},
          {"padding", std::vector<int64_t>{p, p}}};
}
Case unaryCase(const std::string& name, OpKind op, Values values, Attrs a = {}) {
  return {name, {{{B, 4}, values}}, [=](Builder& b, const V& x) { return unary(b, op, x[0], a); }};
}
Case binaryCase(const std::string& name, OpKind op, Dims l, Dims r, int64_t batch = 3, Values rv = Values::Any) {
  return {name, {{l}, {r, rv}}, [=](Builder& b, const V& x) { return b.binary(op, x[0], x[1]); }, batch};
}
Case reduceCase(OpKind op, std::vector<int64_t> axes, bool keep, int64_t batch = 3) {
  std::string name = fmt::format("{} over [{}]{}{}", mnemonic(op), fmt::join(axes, ","), keep ? " keepdims" : "",
                                 batch == 1 ? " batch 1" : "");
  return {name, {{{B, 3, 4}}}, [=](Builder& b, const V& x) { return b.reduce(op, x[0], axes, keep); }, batch};
}

const std::vector<Case>& cases() {
  static const std::vector<Case> all = [] {
    std::vector<Case> c;
    // Pointwise, one operand.
    c.push_back(unaryCase("neg", OpKind::Neg, Values::Any));
    c.push_back(unaryCase("exp", OpKind::Exp, Values::Any));
    c.push_back(unaryCase("log", OpKind::Log, Values::Positive));
    c.push_back(unaryCase("sqrt", OpKind::Sqrt, Values::Positive));
    c.push_back(unaryCase("rsqrt", OpKind::Rsqrt, Values::Positive));
    c.push_back(unaryCase("tanh", OpKind::Tanh, Values::Any));
    c.push_back(unaryCase("sigmoid", OpKind::Sigmoid, Values::Any));
    c.push_back(unaryCase("relu", OpKind::Relu, Values::AwayFromZero));
    c.push_back(unaryCase("leaky_relu", OpKind::LeakyRelu, Values::AwayFromZero, {{"slope", 0.1}}));
    c.push_back(unaryCase("abs", OpKind::Abs, Values::AwayFromZero));
    c.push_back(unaryCase("sign (zero gradient)", OpKind::Sign, Values::AwayFromZero));
    c.push_back(unaryCase("step (zero gradient)", OpKind::Step, Values::AwayFromZero));
    c.push_back(unaryCase("pow 3", OpKind::Pow, Values::Positive, {{"exponent", 3.0}}));
    c.push_back(unaryCase("pow 0.5", OpKind::Pow, Values::Positive, {{"exponent", 0.5}}));
    c.push_back(unaryCase("pow -1.5", OpKind::Pow, Values::Positive, {{"exponent", -1.5}}));
    c.push_back({"cast to i32 and back (zero gradient)", {{{B, 4}, Values::AwayFromZero}}, [](Builder& b, const V& x) {
                   ValueId scaled = b.scale(x[0], 3.0);
                   ValueId i = b.create(OpKind::Cast, {scaled}, {{"dtype", std::string("i32")}});
                   return b.add(b.create(OpKind::Cast, {i}, {{"dtype", std::string("f32")}}), x[0]);
                 }});
    // Two operands with broadcasting.
    for (OpKind op : {OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Div}) {
      std::string m(mnemonic(op));
      Values rv = op == OpKind::Div ? Values::AwayFromZero : Values::Any;
      c.push_back(binaryCase(m + " [B,4] [B,4]", op, {B, 4}, {B, 4}, 3, rv));
      c.push_back(binaryCase(m + " [B,4] [4]", op, {B, 4}, {4}, 3, rv));
      c.push_back(binaryCase(m + " [B,1] [1,5]", op, {B, 1}, {1, 5}, 3, rv));
      c.push_back(binaryCase(m + " [B,4] [1,4] batch 1", op, {B, 4}, {1, 4}, 1, rv));
      c.push_back(binaryCase(m + " [B,4] []", op, {B, 4}, {}, 3, rv));
      c.push_back(binaryCase(m + " [] []", op, {}, {}, 3, rv));
      c.push_back({m + " [4] [2,3,4] (left operand broadcast)",
                   {{{4}}, {{2, 3, 4}, rv}},
                   [op](Builder& b, const V& x) { return b.binary(op, x[0], x[1]); }});
    }
    c.push_back({"eq (zero gradient)", {{{B, 4}}, {{B, 4}}}, [](Builder& b, const V& x) {
                   // eq of a value with itself is 1 everywhere; the product keeps a gradient path.
                   return b.mul(b.binary(OpKind::Equal, x[0], x[0]), x[1]);
                 }});
    // Reductions.
    for (OpKind op : {OpKind::Sum, OpKind::Mean, OpKind::Max}) {
      c.push_back(reduceCase(op, {1}, false));
      c.push_back(reduceCase(op, {2}, true));
      c.push_back(reduceCase(op, {0, 2}, false));
      c.push_back(reduceCase(op, {0, 2}, true));
      c.push_back(reduceCase(op, {0}, false, 1));
      c.push_back(reduceCase(op, {0, 1, 2}, false));
      c.push_back(reduceCase(op, {0, 1, 2}, true));
    }
    c.push_back({"x / numel over B (zero gradient of numel)", {{{B, 4}}}, [](Builder& b, const V& x) {
                   return b.div(x[0], b.create(OpKind::Numel, {x[0]}, {{"axes", std::vector<int64_t>{0, 1}}}));
                 }});
    // Moving elements.
    c.push_back({"reshape [B,3,4] -> [B,12]", {{{B, 3, 4}}}, [](Builder& b, const V& x) { return b.reshape(x[0], {B, 12}); }});
    c.push_back({"reshape [2,6] -> [3,2,2]", {{{2, 6}}}, [](Builder& b, const V& x) { return b.reshape(x[0], {3, 2, 2}); }});
    c.push_back({"transpose [B,3,4] perm 2,0,1", {{{B, 3, 4}}},
                 [](Builder& b, const V& x) { return b.transpose(x[0], {2, 0, 1}); }});
    c.push_back({"transpose [3,5]", {{{3, 5}}}, [](Builder& b, const V& x) { return b.transpose(x[0], {1, 0}); }});
    c.push_back({"broadcast [1,4] -> [3,4]", {{{1, 4}}}, [](Builder& b, const V& x) { return b.broadcast(x[0], {3, 4}); }});
    c.push_back({"broadcast [4] -> [2,3,4]", {{{4}}}, [](Builder& b, const V& x) { return b.broadcast(x[0], {2, 3, 4}); }});
    c.push_back({"broadcast [] -> [B,2]", {{{}}}, [](Builder& b, const V& x) { return b.broadcast(x[0], {B, 2}); }});
    c.push_back({"concat axis 1 of three", {{{B, 2}}, {{B, 3}}, {{B, 1}}}, [](Builder& b, const V& x) {
                   return b.create(OpKind::Concat, {x[0], x[1], x[2]}, {{"axis", int64_t{1}}});
                 }});
    c.push_back({"concat axis 0 of one value twice", {{{2, 3}}}, [](Builder& b, const V& x) {
                   return b.create(OpKind::Concat, {x[0], x[0]}, {{"axis", int64_t{0}}});
                 }});
    c.push_back({"slice axis 1 [1,4)", {{{B, 5}}}, [](Builder& b, const V& x) {
                   return b.create(OpKind::Slice, {x[0]}, {{"axis", int64_t{1}}, {"start", int64_t{1}}, {"end", int64_t{4}}});
                 }});
    c.push_back({"slice axis 0 [0,2)", {{{4, 3}}}, [](Builder& b, const V& x) {
                   return b.create(OpKind::Slice, {x[0]}, {{"axis", int64_t{0}}, {"start", int64_t{0}}, {"end", int64_t{2}}});
                 }});
    c.push_back({"pad axis 1 before 2 after 1", {{{B, 3}}}, [](Builder& b, const V& x) {
                   return b.create(OpKind::Pad, {x[0]}, {{"axis", int64_t{1}}, {"before", int64_t{2}}, {"after", int64_t{1}}});
                 }});
    c.push_back({"pad axis 0 after 2", {{{2, 3}}}, [](Builder& b, const V& x) {
                   return b.create(OpKind::Pad, {x[0]}, {{"axis", int64_t{0}}, {"before", int64_t{0}}, {"after", int64_t{2}}});
                 }});
    c.push_back({"one_hot(label) * x", {{{B}, Values::Label}, {{B, 3}}}, [](Builder& b, const V& x) {
                   return b.mul(b.create(OpKind::OneHot, {x[0]}, {{"classes", int64_t{3}}}), x[1]);
                 }});
    // Heavy ops.
    c.push_back({"matmul", {{{3, 4}}, {{4, 2}}}, [](Builder& b, const V& x) { return matmul(b, x[0], x[1], false, false); }});
    c.push_back({"matmul transpose_a", {{{4, 3}}, {{4, 2}}}, [](Builder& b, const V& x) { return matmul(b, x[0], x[1], true, false); }});
    c.push_back({"matmul transpose_b", {{{3, 4}}, {{2, 4}}}, [](Builder& b, const V& x) { return matmul(b, x[0], x[1], false, true); }});
    c.push_back({"matmul transpose_a transpose_b", {{{4, 3}}, {{2, 4}}},
                 [](Builder& b, const V& x) { return matmul(b, x[0], x[1], true, true); }});
    c.push_back({"matmul [B,4] batch 1", {{{B, 4}}, {{4, 3}}}, [](Builder& b, const V& x) { return matmul(b, x[0], x[1], false, false); },
                 1});
    struct ConvCase { const char* name; Dims x, w; Attrs a; };
    for (const ConvCase& k : {ConvCase{"conv2d plain", {2, 2, 5, 5}, {3, 2, 3, 3}, conv(1, 0, 1, 1)},
                              ConvCase{"conv2d stride 2 padding 1", {2, 2, 6, 5}, {3, 2, 3, 3}, conv(2, 1, 1, 1)},
                              ConvCase{"conv2d dilation 2 padding 2", {1, 2, 6, 6}, {2, 2, 3, 3}, conv(1, 2, 2, 1)},
                              ConvCase{"conv2d groups 2", {2, 4, 5, 5}, {4, 2, 2, 2}, conv(1, 0, 1, 2)},
                              ConvCase{"conv2d stride 2 dilation 2 groups 2 padding 1 (floor)", {1, 4, 8, 8}, {2, 2, 3, 3},
                                       conv(2, 1, 2, 2)},
                              ConvCase{"conv2d 1x1", {2, 3, 3, 3}, {2, 3, 1, 1}, conv(1, 0, 1, 1)}})
      c.push_back({k.name, {{k.x}, {k.w}}, [a = k.a](Builder& b, const V& x) { return b.create(OpKind::Conv2d, {x[0], x[1]}, a); }});
    for (OpKind op : {OpKind::MaxPool2d, OpKind::AvgPool2d}) {
      std::string m(mnemonic(op));
      c.push_back({m + " 2x2 stride 2", {{{2, 2, 4, 4}}}, [op](Builder& b, const V& x) { return b.unary(op, x[0], pool(2, 2, 0)); }});
      c.push_back({m + " 3x3 stride 2 padding 1", {{{1, 2, 5, 6}}},
                   [op](Builder& b, const V& x) { return b.unary(op, x[0], pool(3, 2, 1)); }});
      c.push_back({m + " 2x2 stride 1 padding 1 (overlapping)", {{{1, 1, 3, 4}}},
                   [op](Builder& b, const V& x) { return b.unary(op, x[0], pool(2, 1, 1)); }});
      c.push_back({m + " 3x3 stride 3 (floor)", {{{2, 1, 7, 7}}},
                   [op](Builder& b, const V& x) { return b.unary(op, x[0], pool(3, 3, 0)); }});
    }
    for (OpKind op : {OpKind::Softmax, OpKind::LogSoftmax}) {
      std::string m(mnemonic(op));
      c.push_back({m + " last axis", {{{B, 5}}}, [op](Builder& b, const V& x) { return b.unary(op, x[0], {{"axis", int64_t{1}}}); }});
      c.push_back({m + " axis 1 of 3", {{{B, 4, 3}}},
                   [op](Builder& b, const V& x) { return b.unary(op, x[0], {{"axis", int64_t{1}}}); }});
      c.push_back({m + " axis 0 batch 1", {{{B, 4}}}, [op](Builder& b, const V& x) { return b.unary(op, x[0], {{"axis", int64_t{0}}}); },
                   1});
    }
    // Batch norm with the batch's statistics: the gradient flows through the mean and variance too,
    // which the closed form of batchnorm_train_grad must account for.
    c.push_back({"batchnorm_train NCHW", {{{2, 3, 3, 2}}, {{3}}, {{3}}}, [](Builder& b, const V& x) {
                   return b.create(OpKind::BatchNormTrain, {x[0], x[1], x[2]}, {{"eps", 1e-5}});
                 }});
    c.push_back({"batchnorm_train [B, C] batch 5", {{{B, 4}}, {{4}}, {{4}}}, [](Builder& b, const V& x) {
                   return b.create(OpKind::BatchNormTrain, {x[0], x[1], x[2]}, {{"eps", 0.1}});
                 }, 5});
    c.push_back({"softmax_cross_entropy(z, label)", {{{B, 3}}, {{B}, Values::Label}}, [](Builder& b, const V& x) {
                   return b.create(OpKind::SoftmaxCrossEntropy, {x[0], x[1]});
                 }});
    c.push_back({"x * dropout_mask(x) (the mask does not depend on x's values)",
                 {{{B, 6}}, {{}, Values::Zero}, {{}, Values::Zero}}, [](Builder& b, const V& x) {
                   return b.mul(x[0], b.create(OpKind::DropoutMask, {x[0], x[1], x[2]}, {{"p", 0.5}, {"salt", int64_t{0}}}));
                 }});
    // Gradients that meet: one value used by several ops.
    c.push_back({"x * tanh(x) + exp(x) / x", {{{B, 3}, Values::AwayFromZero}}, [](Builder& b, const V& x) {
                   return b.add(b.mul(x[0], b.unary(OpKind::Tanh, x[0])), b.div(b.unary(OpKind::Exp, x[0]), x[0]));
                 }});
    return c;
  }();
  return all;
}

// Ops that no case needs to cover: they are never differentiated through (structural ops and the
// backward ops autodiff emits), are expanded before autodiff (mode ops), or take only integers.
const std::set<OpKind> kNotDifferentiable = {
    OpKind::Input,         OpKind::Load,          OpKind::Store,           OpKind::Constant,
    OpKind::Conv2dGradInput, OpKind::Conv2dGradWeight, OpKind::MaxPool2dGrad, OpKind::AvgPool2dGrad,
    OpKind::Dropout,       OpKind::BatchNorm,        OpKind::BatchNormTrainGrad,
    OpKind::BatchNormStats,  OpKind::BatchNormParamGrad, OpKind::BatchNormInfer,
    OpKind::SoftmaxCrossEntropyGrad,
};

}  // namespace

TEST_CASE("every op has a finite-difference case or is listed as not differentiable") {
  std::set<OpKind> covered;
  for (const Case& c : cases()) buildCase(c, &covered);
  for (int k = 0; k < kNumOps; ++k) {
    OpKind op = static_cast<OpKind>(k);
    const bool listed = kNotDifferentiable.count(op) > 0;
    CHECK_MESSAGE((covered.count(op) > 0 || listed), "op '", mnemonic(op), "' has no gradient test case");
    // An op that autodiff may meet needs a rule; a listed op's rule would go untested.
    const bool hasRule = opInfo(op).grad != nullptr;
    if (covered.count(op) && !listed) CHECK_MESSAGE(hasRule, "op '", mnemonic(op), "' has no gradient rule");
  }
}

TEST_CASE("gradient rules agree with central finite differences in f64") {
  for (const Case& c : cases()) checkCase(c);
  if (std::getenv("SINTER_REFERENCE_REPORT")) std::printf("finite differences: worst relative error %.2e\n", worstSeen);
}
