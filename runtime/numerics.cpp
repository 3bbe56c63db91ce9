// The first non-finite op of a step, found by replaying it on the reference evaluator.
#include "runtime/numerics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "ir/printer.h"
#include "runtime/tensor_file.h"

namespace sinter {

namespace {

// "[3, 7]": the row-major index of element `flat` of a tensor of `dims`.
std::string elementIndex(int64_t flat, const Dims& dims) {
  std::vector<int64_t> index(dims.size());
  for (size_t k = dims.size(); k-- > 0;) {
    index[k] = dims[k] ? flat % dims[k] : 0;
    flat = dims[k] ? flat / dims[k] : 0;
  }
  return formatDims(index);
}

struct Census {
  int64_t nonFinite = 0, zeros = 0, firstNonFinite = -1;
  double min = std::numeric_limits<double>::infinity(), max = -std::numeric_limits<double>::infinity();
};

Census census(const ref::Tensor& t) {
  Census c;
  for (size_t i = 0; i < t.data.size(); ++i) {
    const double v = t.data[i];
    if (!std::isfinite(v)) {
      if (c.nonFinite++ == 0) c.firstNonFinite = static_cast<int64_t>(i);
      continue;
    }
    if (v == 0) ++c.zeros;
    c.min = std::min(c.min, v);
    c.max = std::max(c.max, v);
  }
  return c;
}

// What an operand is, for people: "parameter 'conv1.weight'", "input 'image'", "%s = softmax".
std::string describe(const Function& fn, ValueId v, const Module& m) {
  const Node& n = fn.nodes[v];
  if (n.op == OpKind::Input) return fmt::format("input '{}'", n.attrs.s("name"));
  if (n.op == OpKind::Load) {
    const std::string& name = n.attrs.s("global");
    const Global* g = m.global(name);
    return fmt::format("{} '{}'", g && g->kind == GlobalKind::Param ? "parameter" : "state", name);
  }
  if (n.op == OpKind::Constant) return fmt::format("constant {}", n.attrs.f("value"));
  return fmt::format("%{} = {}", n.name.empty() ? std::to_string(v) : n.name, mnemonic(n.op));
}

std::string rangeText(const ref::Tensor& t) {
  const Census c = census(t);
  const auto count = static_cast<int64_t>(t.data.size());
  std::string out = c.nonFinite == count ? "no finite values" : fmt::format("values in [{:.6g}, {:.6g}]", c.min, c.max);
  if (c.nonFinite && c.nonFinite < count) out += fmt::format("; {} of {} are not finite", c.nonFinite, count);
  if (c.zeros) out += fmt::format("; {} of {} are 0", c.zeros, count);
  return out;
}

// The values the function's `loss` result depends on: the forward pass. Everything else in a training
// step is its backward pass or an update.
std::vector<bool> forwardValues(const Function& fn) {
  std::vector<bool> forward(fn.nodes.size(), false);
  const ValueId loss = fn.result("loss");
  if (loss == kNoValue) return forward;
  forward[loss] = true;
  for (size_t i = fn.nodes.size(); i-- > 0;)
    if (forward[i])
      for (ValueId o : fn.nodes[i].operands) forward[o] = true;
  return forward;
}

}  // namespace

ref::OpObserver stopAtNonFinite(const Module& m, const Function& fn) {
  return [&fn, &m, forward = forwardValues(fn)](
             const Node& n, ValueId v, std::span<const ref::Tensor* const> operands, const ref::Tensor& out) -> Status {
    if (out.dtype != DType::F32) return ok();
    const Census c = census(out);
    if (!c.nonFinite) return ok();
    const std::string first = fmt::format("element {} is {} ({} of {} are not finite)", elementIndex(c.firstNonFinite, out.dims),
                                          nonFiniteName(out.data[c.firstNonFinite]), c.nonFinite, out.data.size());
    if (n.op == OpKind::Load) {
      // Not made by this step: located at the layer that declared the global.
      const Global* g = m.global(n.attrs.s("global"));
      return Error(g ? g->loc : n.loc, fmt::format("{} is not finite when @{} starts: {}", describe(fn, v, m), fn.name, first));
    }
    const std::string where = fn.result("loss") == kNoValue ? std::string()
                              : forward[v]                  ? " (forward pass)"
                                                            : " (backward pass or update)";
    Error e(n.loc, fmt::format("'{}' is the first op of @{} whose output is not finite{}: of its {} result, {}", mnemonic(n.op),
                               fn.name, where, formatType({out.dtype, out.dims}), first));
    if (!n.loc.known()) e.diags.back().message += fmt::format(", at {} (no model line: a pass made it)", describe(fn, v, m));
    for (size_t k = 0; k < operands.size(); ++k)
      e.note({}, fmt::format("operand {}, {} ({}): {}", k, describe(fn, n.operands[k], m),
                             formatType({operands[k]->dtype, operands[k]->dims}), rangeText(*operands[k])));
    return e;
  };
}



Expected<std::unique_ptr<StepReplay>> StepReplay::create(const ModelText& model, const PlanTable& table) {
  std::unique_ptr<StepReplay> r(new StepReplay());
  Expected<Module> m = parseModule(model.moduleIr, "<module of the plan>");
  if (!m) return Error(fmt::format("the model's module does not parse: {}", m.error().message()));
  r->module_ = m.take();
  r->source_ = sourceFromString(r->module_.source, model.source);
  r->step_ = r->module_.function("train_step");
  if (!r->step_) return Error(fmt::format("module @{} has no @train_step", r->module_.name));
  for (const Node& n : r->step_->nodes) {
    const bool input = n.op == OpKind::Input;
    if (!input && n.op != OpKind::Load) continue;
    const std::string& name = n.attrs.s(input ? "name" : "global");
    std::vector<Captured>& list = input ? r->inputs_ : r->globals_;
    if (std::any_of(list.begin(), list.end(), [&](const Captured& c) { return c.name == name; })) continue;
    const PlanBuffer* b = findBuffer(table, name);
    if (!b) return Error(fmt::format("the plan has no buffer for '{}', which @train_step reads", name));
    list.push_back({b, n.type.dtype, name, input && n.type.hasBatch()});
  }
  return r;
}

void StepReplay::capture(Executor& program, int64_t batch) {
  for (std::vector<Captured>* list : {&inputs_, &globals_})
    for (Captured& c : *list) {
      c.batch = c.batched ? batch : 1;
      c.bytes.resize(static_cast<size_t>(Executor::elements(*c.buffer, c.batch)) * 4);  // f32 and i32 alike
      program.read(*c.buffer, c.batch, c.bytes);
    }
}

ref::Tensor StepReplay::tensorOf(const Captured& c) {
  ref::Tensor t{c.dtype, Dims(c.buffer->dims, c.buffer->dims + c.buffer->rank), {}};
  for (int64_t& d : t.dims)
    if (d == kPlanBatch) d = c.batch;
  t.data.resize(c.bytes.size() / 4);
  for (size_t i = 0; i < t.data.size(); ++i) {
    if (c.buffer->type == BufferType::I32) {
      int32_t v;
      std::memcpy(&v, c.bytes.data() + 4 * i, 4);
      t.data[i] = v;
    } else {
      float v;
      std::memcpy(&v, c.bytes.data() + 4 * i, 4);
      t.data[i] = v;
    }
  }
  return t;
}

Status StepReplay::replay() const {
  ref::TensorMap inputs, globals;
  for (const Captured& c : inputs_) inputs[c.name] = tensorOf(c);
  for (const Captured& c : globals_) globals[c.name] = tensorOf(c);
  const ref::TensorMap before = globals;
  Expected<ref::TensorMap> results =
      ref::evaluate(module_, step_->name, inputs, globals, ref::Precision::F32, stopAtNonFinite(module_, *step_));
  if (results) return ok();
  Error e = results.error();
  // State that was already not finite came from an earlier step's update.
  std::string bad;
  for (const auto& [name, t] : before)
    if (const Census c = census(t); c.nonFinite)
      bad += fmt::format("{}'{}' ({} of {})", bad.empty() ? "" : ", ", name, c.nonFinite, t.data.size());
  if (!bad.empty())
    e.note({}, fmt::format("not finite before this step: {}; --check-numerics replays every step from the start and "
                           "stops at the one that made them",
                           bad));
  return e;
}

}  // namespace sinter
