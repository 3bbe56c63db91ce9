// Optimizer updates as IR, matching torch.optim (1.13, single-tensor path) step for step:
//   SGD:      g += wd * p;  buf = momentum * buf + (1 - dampening) * g  (buf = g on the first step);
//             g = nesterov ? g + momentum * buf : buf;  p -= lr * g
//   Adam:     g += wd * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  t = step + 1;
//             p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//   AdamW:    p *= 1 - lr * wd, then Adam without weight decay in g.
//   RMSprop:  g += wd * p;  sq = alpha sq + (1 - alpha) g^2;  centered: ga = alpha ga + (1 - alpha) g,
//             avg = sqrt(sq - ga^2) + eps, else avg = sqrt(sq) + eps;
//             momentum > 0: buf = momentum buf + g / avg, p -= lr * buf;  else p -= lr * g / avg
//   Adagrad:  g += wd * p;  sum += g^2 (sum starts at initial_accumulator_value);
//             p -= lr / (1 + step * lr_decay) * g / (sqrt(sum) + eps)
//   Adadelta: g += wd * p;  sq = rho sq + (1 - rho) g^2;
//             delta = sqrt(acc + eps) / sqrt(sq + eps) * g;  acc = rho acc + (1 - rho) delta^2;
//             p -= lr * delta
// `step` is train.step, the steps done before this one (Adagrad's clr uses PyTorch's count - 1).
// State slots are named as PyTorch's optimizer state: `<param>.momentum_buffer`, `.exp_avg`,
// `.exp_avg_sq`, `.square_avg`, `.grad_avg`, `.sum`, `.acc_delta`.
// Parameters the train block excludes from weight decay (weight_decay_exclude: every `*.bias`, and
// batch norm's weight and bias, known by their layer's running statistics) update with wd = 0, as
// a PyTorch parameter group {"params": ..., "weight_decay": 0} does.
#include "passes/optimizer.h"

#include <fmt/format.h>

#include <cmath>
#include <string_view>

namespace sinter {

namespace {

ValueId loadState(Builder& b, const std::string& name, const TensorType& type, Init init = {"zeros", {}}) {
  Module& m = b.module();
  if (!m.global(name)) m.globals.push_back(Global{name, GlobalKind::State, type, std::move(init), {}});
  return b.load(*m.global(name));
}

double attr(const Module& m, const char* key, double fallback) {
  return m.attrs.has(key) ? m.attrs.f(key) : fallback;
}

bool flagAttr(const Module& m, const char* key) { return m.attrs.has(key) && m.attrs.b(key); }

// The weight decay of parameter `name`: wd, or 0 where the train block excludes it.
double decayOf(const Module& m, const std::string& name, double wd) {
  const std::string layer = name.substr(0, name.rfind('.'));
  const bool bias = name.ends_with(".bias");
  const bool norm = m.global(layer + ".running_mean") != nullptr;
  if ((bias && flagAttr(m, "weight_decay_exclude_bias")) || (norm && flagAttr(m, "weight_decay_exclude_batchnorm"))) return 0;
  return wd;
}

// What every update reads: the module's attributes, the learning rate and the steps done before
// this one (run-time scalars, train.lr and train.step), and the train block's weight decay.
struct Step {
  const Module& m;
  ValueId lr, step;
  double wd;
};

// The gradient with PyTorch's coupled (L2) weight decay: g + wd * p.
ValueId decayedGrad(Builder& b, const Step& s, const ParamGrad& p) {
  const double d = decayOf(s.m, p.name, s.wd);
  return d != 0 ? b.add(p.grad, b.scale(p.value, d)) : p.grad;
}

// beta * avg + (1 - beta) * x, stored back into state `slot`: the running averages of rmsprop and
// adadelta.
ValueId runningAverage(Builder& b, const std::string& slot, const TensorType& type, double beta, ValueId x) {
  ValueId avg = b.add(b.scale(loadState(b, slot, type), beta), b.scale(x, 1.0 - beta));
  b.store(slot, avg);
  return avg;
}

void sgd(Builder& b, const Step& s, const std::vector<ParamGrad>& params) {
  double momentum = attr(s.m, "momentum", 0), dampening = attr(s.m, "dampening", 0);
  bool nesterov = flagAttr(s.m, "nesterov");
  // 1 on the first step, when PyTorch starts the buffer at g (undamped), else 0.
  ValueId first = dampening != 0 ? b.binary(OpKind::Equal, s.step, b.constant(0.0)) : kNoValue;
  for (const ParamGrad& p : params) {
    ValueId g = decayedGrad(b, s, p);
    if (momentum != 0) {
      std::string slot = p.name + ".momentum_buffer";
      ValueId buf = b.add(b.scale(loadState(b, slot, b.type(p.value)), momentum), b.scale(g, 1.0 - dampening));
      if (first != kNoValue) buf = b.add(b.mul(first, g), b.mul(b.sub(b.constant(1.0), first), buf));
      b.store(slot, buf);
      g = nesterov ? b.add(g, b.scale(buf, momentum)) : buf;
    }
    b.store(p.name, b.sub(p.value, b.mul(s.lr, g)));
  }
}

// Adam, or AdamW where `decoupled`.
void adam(Builder& b, const Step& s, const std::vector<ParamGrad>& params, bool decoupled) {
  double b1 = attr(s.m, "beta1", 0.9), b2 = attr(s.m, "beta2", 0.999), eps = attr(s.m, "eps", 1e-8);
  ValueId t = b.add(s.step, b.constant(1.0));
  // 1 - beta^t as 1 - exp(t ln beta): t is only known at run time.
  auto correction = [&](double beta) {
    return b.sub(b.constant(1.0), b.unary(OpKind::Exp, b.scale(t, std::log(beta))));
  };
  ValueId stepSize = b.div(s.lr, correction(b1));
  ValueId rootC2 = b.unary(OpKind::Sqrt, correction(b2));
  for (const ParamGrad& p : params) {
    TensorType type = b.type(p.value);
    ValueId g = p.grad, value = p.value;
    const double d = decayOf(s.m, p.name, s.wd);
    if (!decoupled) g = decayedGrad(b, s, p);
    if (decoupled && d != 0) value = b.mul(value, b.sub(b.constant(1.0), b.scale(s.lr, d)));
    std::string ms = p.name + ".exp_avg", vs = p.name + ".exp_avg_sq";
    ValueId m1 = b.add(b.scale(loadState(b, ms, type), b1), b.scale(g, 1.0 - b1));
    ValueId v1 = b.add(b.scale(loadState(b, vs, type), b2), b.scale(b.mul(g, g), 1.0 - b2));
    b.store(ms, m1);
    b.store(vs, v1);
    ValueId denom = b.add(b.div(b.unary(OpKind::Sqrt, v1), rootC2), b.constant(eps));
    b.store(p.name, b.sub(value, b.mul(stepSize, b.div(m1, denom))));
  }
}

void rmsprop(Builder& b, const Step& s, const std::vector<ParamGrad>& params) {
  double alpha = attr(s.m, "alpha", 0.99), eps = attr(s.m, "eps", 1e-8), momentum = attr(s.m, "momentum", 0);
  bool centered = flagAttr(s.m, "centered");
  for (const ParamGrad& p : params) {
    TensorType type = b.type(p.value);
    ValueId g = decayedGrad(b, s, p);
    // The mean square, less the squared mean when centered (PyTorch takes its root unclamped too).
    ValueId spread = runningAverage(b, p.name + ".square_avg", type, alpha, b.mul(g, g));
    if (centered) {
      ValueId mean = runningAverage(b, p.name + ".grad_avg", type, alpha, g);
      spread = b.sub(spread, b.mul(mean, mean));
    }
    ValueId update = b.div(g, b.add(b.unary(OpKind::Sqrt, spread), b.constant(eps)));
    if (momentum > 0) {
      std::string slot = p.name + ".momentum_buffer";
      update = b.add(b.scale(loadState(b, slot, type), momentum), update);
      b.store(slot, update);
    }
    b.store(p.name, b.sub(p.value, b.mul(s.lr, update)));
  }
}

void adagrad(Builder& b, const Step& s, const std::vector<ParamGrad>& params) {
  double lrDecay = attr(s.m, "lr_decay", 0), initial = attr(s.m, "initial_accumulator_value", 0);
  double eps = attr(s.m, "eps", 1e-10);
  ValueId clr = lrDecay != 0 ? b.div(s.lr, b.add(b.constant(1.0), b.scale(s.step, lrDecay))) : s.lr;
  for (const ParamGrad& p : params) {
    ValueId g = decayedGrad(b, s, p);
    std::string slot = p.name + ".sum";
    ValueId sum = b.add(loadState(b, slot, b.type(p.value), {"constant", {{"value", initial}}}), b.mul(g, g));
    b.store(slot, sum);
    ValueId denom = b.add(b.unary(OpKind::Sqrt, sum), b.constant(eps));
    b.store(p.name, b.sub(p.value, b.mul(clr, b.div(g, denom))));
  }
}

void adadelta(Builder& b, const Step& s, const std::vector<ParamGrad>& params) {
  double rho = attr(s.m, "rho", 0.9), eps = attr(s.m, "eps", 1e-6);
  for (const ParamGrad& p : params) {
    TensorType type = b.type(p.value);
    ValueId g = decayedGrad(b, s, p);
    ValueId sq = runningAverage(b, p.name + ".square_avg", type, rho, b.mul(g, g));
    std::string slot = p.name + ".acc_delta";
    ValueId acc = loadState(b, slot, type);  // the running average of squared updates
    auto rms = [&](ValueId x) { return b.unary(OpKind::Sqrt, b.add(x, b.constant(eps))); };
    ValueId delta = b.mul(b.div(rms(acc), rms(sq)), g);
    b.store(slot, b.add(b.scale(acc, rho), b.scale(b.mul(delta, delta), 1.0 - rho)));
    b.store(p.name, b.sub(p.value, b.mul(s.lr, delta)));
  }
}

using UpdateFn = void (*)(Builder&, const Step&, const std::vector<ParamGrad>&);
struct Optimizer {
  std::string_view name;
  UpdateFn update;
};
constexpr Optimizer kOptimizers[] = {
    {"sgd", sgd},
    {"adam", [](Builder& b, const Step& s, const std::vector<ParamGrad>& ps) { adam(b, s, ps, false); }},
    {"adamw", [](Builder& b, const Step& s, const std::vector<ParamGrad>& ps) { adam(b, s, ps, true); }},
    {"rmsprop", rmsprop},
    {"adagrad", adagrad},
    {"adadelta", adadelta},
};

}  // namespace

Status appendOptimizerUpdate(Builder& b, const std::vector<ParamGrad>& params) {
  Module& m = b.module();
  b.setLoc({});  // the update belongs to no line of the model
  std::string kind = m.attrs.has("optimizer") ? m.attrs.s("optimizer") : "sgd";
  const Optimizer* optimizer = nullptr;
  for (const Optimizer& o : kOptimizers)
    if (o.name == kind) optimizer = &o;
  if (!optimizer) return Error(fmt::format("unknown optimizer '{}'", kind));
  ValueId lr = loadState(b, "train.lr", {DType::F32, {}}, {"constant", {{"value", attr(m, "lr", 0.01)}}});
  ValueId step = loadState(b, "train.step", {DType::F32, {}});
  optimizer->update(b, Step{m, lr, step, attr(m, "weight_decay", 0)}, params);
  b.store("train.step", b.add(step, b.constant(1.0)));
  if (b.failed()) return *b.error();
  return ok();
}

}  // namespace sinter
