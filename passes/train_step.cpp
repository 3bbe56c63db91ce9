// The build-train-step pass: from @forward, the functions a trainer and the tools run.
//
//   @eval        forward in eval mode (dropout is the identity, batchnorm uses running statistics)
//   @grad        forward in training mode and the gradient of the loss for every parameter,
//                returned as results named `<param>.grad` (what `sinter run --grads` prints)
//   @train_step  forward in training mode, backward, the running-statistics updates and the
//                optimizer update, as one function so later passes optimize the whole step
//
// Algorithm: each function is a specialized copy of @forward (mode ops expanded into primitives),
// differentiated by passes/autodiff, then (for @train_step) extended by the optimizer's update
// rule (passes/optimizer.cpp). The step counter, seed and learning rate are state globals, so a
// trainer changes the learning rate or seed without recompiling. A model without a loss gets @eval only.
#include <fmt/format.h>

#include "ir/ops/batchnorm.h"
#include "passes/autodiff.h"
#include "passes/optimizer.h"
#include "passes/pass.h"

namespace sinter {

namespace {

enum class Mode { Eval, Train, TrainAndUpdateStats };

const Global& ensureGlobal(Module& m, const std::string& name, TensorType type, Init init) {
  if (const Global* g = m.global(name)) return *g;
  m.globals.push_back(Global{name, GlobalKind::State, std::move(type), std::move(init), {}});
  return m.globals.back();
}

// Eval: batchnorm_infer, y = (x - running_mean) * rsqrt(running_var + eps) * weight + bias. Training:
// batchnorm_train with the batch's statistics, and with the update, the running statistics blended
// with batchnorm_stats (which the gradient rule and decompose-batchnorm build alike, so CSE shares
// them).
ValueId expandBatchNorm(Builder& b, const Node& n, Mode mode) {
  ValueId x = n.operands[0];
  double eps = n.attrs.f("eps"), momentum = n.attrs.f("momentum");
  if (mode == Mode::Eval)
    return b.create(OpKind::BatchNormInfer, {x, n.operands[1], n.operands[2], n.operands[3], n.operands[4]}, {{"eps", eps}});
  ValueId y = b.create(OpKind::BatchNormTrain, {x, n.operands[1], n.operands[2]}, {{"eps", eps}});
  if (mode == Mode::TrainAndUpdateStats) {
    // PyTorch's update: the running variance tracks the unbiased batch variance.
    const ValueId stats = b.create(OpKind::BatchNormStats, {x});
    const Node& rm = b.node(n.operands[3]);
    const Node& rv = b.node(n.operands[4]);
    std::string rmName = rm.attrs.s("global"), rvName = rv.attrs.s("global");
    ValueId count = b.create(OpKind::Numel, {x}, {{"axes", batchnorm::statAxes(b.type(x).dims)}});
    ValueId unbiased = b.mul(batchnorm::row(b, stats, 1), b.div(count, b.sub(count, b.constant(1.0))));
    auto blend = [&](ValueId running, ValueId batch) { return b.add(b.scale(running, 1.0 - momentum), b.scale(batch, momentum)); };
    b.store(rmName, blend(n.operands[3], batchnorm::row(b, stats, 0)));
    b.store(rvName, blend(n.operands[4], unbiased));
  }
  return y;
}

// Copies @forward into `out`, expanding mode ops. Returns the map from forward ids to new ids.
std::vector<ValueId> specialize(Module& m, const Function& fwd, Function& out, Mode mode) {
  Builder b(m, out);
  std::vector<ValueId> remap(fwd.nodes.size(), kNoValue);
  for (size_t i = 0; i < fwd.nodes.size(); ++i) {
    Node n = fwd.nodes[i];
    for (ValueId& v : n.operands) v = remap[v];
    b.setLoc(n.loc);
    ValueId v = kNoValue;
    if (n.op == OpKind::Dropout) {
      if (mode == Mode::Eval || n.attrs.f("p") == 0.0) {
        v = n.operands[0];
      } else {
        ValueId seed = b.load(ensureGlobal(m, "train.seed", {DType::I32, {}}, {"zeros", {}}));
        ValueId step = b.load(ensureGlobal(m, "train.step", {DType::F32, {}}, {"zeros", {}}));
        ValueId stepI = b.create(OpKind::Cast, {step}, {{"dtype", std::string("i32")}});
        ValueId mask = b.create(OpKind::DropoutMask, {n.operands[0], seed, stepI}, n.attrs);
        v = b.mul(n.operands[0], mask);
      }
    } else if (n.op == OpKind::BatchNorm) {
      v = expandBatchNorm(b, n, mode);
    } else {
      out.nodes.push_back(n);
      v = static_cast<ValueId>(out.nodes.size() - 1);
    }
    if (v != kNoValue && !n.name.empty() && out.nodes[v].name.empty()) out.nodes[v].name = n.name;
    remap[i] = v;
  }
  for (auto& [name, v] : fwd.results) out.results.emplace_back(name, remap[v]);
  return remap;
}

// The trainable parameters' loads in `fn`, one per parameter (the frontend loads each once).
std::vector<std::pair<const Global*, ValueId>> paramLoads(const Module& m, const Function& fn) {
  std::vector<std::pair<const Global*, ValueId>> out;
  for (size_t i = 0; i < fn.nodes.size(); ++i) {
    const Node& n = fn.nodes[i];
    if (n.op != OpKind::Load) continue;
    const Global* g = m.global(n.attrs.s("global"));
    if (g && g->kind == GlobalKind::Param) out.emplace_back(g, static_cast<ValueId>(i));
  }
  return out;
}

Status buildGradFunction(Module& m, const Function& fwd, Mode mode, const std::string& name) {
  m.functions.push_back(Function{name, {}, {}});
  Function& fn = m.functions.back();
  specialize(m, fwd, fn, mode);
  ValueId loss = fn.result("loss");
  auto params = paramLoads(m, fn);
  std::vector<ValueId> wrt;
  for (auto& [g, v] : params) wrt.push_back(v);
  Builder b(m, fn);
  Expected<std::vector<ValueId>> grads = differentiate(b, loss, wrt);
  if (!grads) return grads.error();
  std::vector<std::pair<std::string, ValueId>> named;
  for (size_t k = 0; k < params.size(); ++k) {
    std::string gname = params[k].first->name + ".grad";
    if (fn.nodes[(*grads)[k]].name.empty()) fn.nodes[(*grads)[k]].name = gname;
    named.emplace_back(gname, (*grads)[k]);
  }
  if (mode == Mode::TrainAndUpdateStats) {
    std::vector<ParamGrad> pg;
    for (size_t k = 0; k < params.size(); ++k) pg.push_back({params[k].first->name, params[k].second, named[k].second});
    if (Status s = appendOptimizerUpdate(b, pg); !s) return s;
  } else {
    for (auto& r : named) fn.results.push_back(r);
  }
  if (b.failed()) return *b.error();
  return ok();
}

}  // namespace

Expected<bool> buildTrainStep(Module& m) {
  const Function* found = m.function("forward");
  if (!found) return Error("build-train-step needs a @forward function");
  if (m.function("eval")) return false;  // already built
  Function fwd = *found;  // a copy: m.functions grows below
  m.functions.push_back(Function{"eval", {}, {}});
  specialize(m, fwd, m.functions.back(), Mode::Eval);
  if (fwd.result("loss") != kNoValue) {
    if (Status s = buildGradFunction(m, fwd, Mode::Train, "grad"); !s) return s.error();
    if (Status s = buildGradFunction(m, fwd, Mode::TrainAndUpdateStats, "train_step"); !s) return s.error();
  }
  // @forward has served: the specialized functions replace it.
  m.functions.erase(m.functions.begin());
  return true;
}

}  // namespace sinter
