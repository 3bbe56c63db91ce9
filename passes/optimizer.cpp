// Optimizer updates as IR, matching torch.optim (1.13) step for step:
//   SGD:   g += wd * p;  buf = momentum * buf + (1 - dampening) * g  (buf = g on the first step);
//          g = nesterov ? g + momentum * buf : buf;  p -= lr * g
//   Adam:  g += wd * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  t = step + 1;
//          p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//   AdamW: p *= 1 - lr * wd, then Adam without weight decay in g.
// Parameters the train block excludes from weight decay (weight_decay_exclude: every `*.bias`, and
// batch norm's weight and bias, known by their layer's running statistics) update with wd = 0, as
// a PyTorch parameter group {"params": ..., "weight_decay": 0} does.
#include "passes/optimizer.h"

#include <fmt/format.h>

#include <cmath>

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

}  // namespace

Status appendOptimizerUpdate(Builder& b, const std::vector<ParamGrad>& params) {
  Module& m = b.module();
  b.setLoc({});  // the update belongs to no line of the model
  std::string kind = m.attrs.has("optimizer") ? m.attrs.s("optimizer") : "sgd";
  double lr0 = attr(m, "lr", 0.01), wd = attr(m, "weight_decay", 0);
  ValueId lr = loadState(b, "train.lr", {DType::F32, {}}, {"constant", {{"value", lr0}}});
  ValueId step = loadState(b, "train.step", {DType::F32, {}});
  if (kind == "sgd") {
    double momentum = attr(m, "momentum", 0), dampening = attr(m, "dampening", 0);
    bool nesterov = flagAttr(m, "nesterov");
    // 1 on the first step, when PyTorch starts the buffer at g (undamped), else 0.
    ValueId first = dampening != 0 ? b.binary(OpKind::Equal, step, b.constant(0.0)) : kNoValue;
    for (const ParamGrad& p : params) {
      TensorType t = b.type(p.value);
      ValueId g = p.grad;
      if (const double d = decayOf(m, p.name, wd); d != 0) g = b.add(g, b.scale(p.value, d));
      if (momentum != 0) {
        std::string slot = p.name + ".momentum_buffer";
        ValueId buf = b.add(b.scale(loadState(b, slot, t), momentum), b.scale(g, 1.0 - dampening));
        if (first != kNoValue) buf = b.add(b.mul(first, g), b.mul(b.sub(b.constant(1.0), first), buf));
        b.store(slot, buf);
        g = nesterov ? b.add(g, b.scale(buf, momentum)) : buf;
      }
      b.store(p.name, b.sub(p.value, b.mul(lr, g)));
    }
  } else if (kind == "adam" || kind == "adamw") {
    double b1 = attr(m, "beta1", 0.9), b2 = attr(m, "beta2", 0.999), eps = attr(m, "eps", 1e-8);
    ValueId t = b.add(step, b.constant(1.0));
    // 1 - beta^t as 1 - exp(t ln beta): t is only known at run time.
    auto correction = [&](double beta) {
      return b.sub(b.constant(1.0), b.unary(OpKind::Exp, b.scale(t, std::log(beta))));
    };
    ValueId stepSize = b.div(lr, correction(b1));
    ValueId rootC2 = b.unary(OpKind::Sqrt, correction(b2));
    for (const ParamGrad& p : params) {
      TensorType type = b.type(p.value);
      ValueId g = p.grad, value = p.value;
      const double d = decayOf(m, p.name, wd);
      if (kind == "adam" && d != 0) g = b.add(g, b.scale(value, d));
      if (kind == "adamw" && d != 0) value = b.mul(value, b.sub(b.constant(1.0), b.scale(lr, d)));
      std::string ms = p.name + ".exp_avg", vs = p.name + ".exp_avg_sq";
      ValueId m1 = b.add(b.scale(loadState(b, ms, type), b1), b.scale(g, 1.0 - b1));
      ValueId v1 = b.add(b.scale(loadState(b, vs, type), b2), b.scale(b.mul(g, g), 1.0 - b2));
      b.store(ms, m1);
      b.store(vs, v1);
      ValueId denom = b.add(b.div(b.unary(OpKind::Sqrt, v1), rootC2), b.constant(eps));
      b.store(p.name, b.sub(value, b.mul(stepSize, b.div(m1, denom))));
    }
  } else {
    return Error(fmt::format("unknown optimizer '{}'", kind));
  }
  b.store("train.step", b.add(step, b.constant(1.0)));
  if (b.failed()) return *b.error();
  return ok();
}

}  // namespace sinter
