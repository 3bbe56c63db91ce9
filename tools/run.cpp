// `sinter run` and `sinter gradcheck`: one pass of a model on given tensors, and symbolic
// gradients against finite differences, both on the reference evaluator.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "codegen/ref/evaluator.h"
#include "codegen/target.h"
#include "passes/pass.h"
#include "runtime/checkpoint.h"
#include "runtime/executor.h"
#include "runtime/numerics.h"
#include "runtime/tensor_file.h"
#include "support/philox.h"
#include "tools/commands.h"

namespace sinter {

namespace {

std::string dimsText(const Dims& d) { return formatDims(d); }

// Model weights from a safetensors file: every tensor must be a global of the model with the
// same shape; globals the file lacks keep their seeded initial values.
Status loadWeights(const Module& m, const std::string& path, ref::TensorMap& globals) {
  Expected<TensorFile> file = readSafetensors(path);
  if (!file) return file.error();
  for (const NamedTensor& t : file->tensors) {
    const Global* g = m.global(t.name);
    if (!g) return Error(fmt::format("{}: tensor '{}' is not a parameter or buffer of model '{}'", path, t.name, m.name));
    if (Status s = checkFinite(path, t); !s) return s;
    Dims dims(t.shape.begin(), t.shape.end());
    if (dims != g->type.dims)
      return Error(fmt::format("{}: tensor '{}' has shape {}, but the model's is {}", path, t.name, dimsText(dims),
                               dimsText(g->type.dims)));
    globals[t.name] = ref::Tensor{g->type.dtype, dims, t.toDoubles()};
  }
  return ok();
}

// Inputs by name, checked against the signature of `fn` (B bound by the first input).
Expected<ref::TensorMap> loadInputs(const Module& m, const Function& fn, const std::string& path) {
  Expected<TensorFile> file = readSafetensors(path);
  if (!file) return file.error();
  ref::TensorMap inputs;
  for (ValueId v : fn.inputs()) {
    const Node& n = fn.nodes[v];
    const std::string& name = n.attrs.s("name");
    const NamedTensor* t = file->find(name);
    if (!t) return Error(fmt::format("{}: no tensor named '{}' (model '{}' takes input {}: {})", path, name, m.name, name,
                                     formatType(n.type)));
    bool isInt = t->type == ElemType::I32 || t->type == ElemType::I64 || t->type == ElemType::U8;
    if (isInt != (n.type.dtype == DType::I32))
      return Error(fmt::format("{}: input '{}' holds {} values, but the model expects {}", path, name, elemTypeName(t->type),
                               formatType(n.type)));
    inputs[name] = ref::Tensor{n.type.dtype, Dims(t->shape.begin(), t->shape.end()), t->toDoubles()};
  }
  return inputs;
}

ref::Precision precisionOf(const ToolOptions& o) { return o.precision == "f32" ? ref::Precision::F32 : ref::Precision::F64; }

// The labels an op reads (one_hot, softmax_cross_entropy and its gradient) and its class count,
// or {kNoValue, 0}.
std::pair<ValueId, int64_t> labelsOf(const Function& fn, const Node& n) {
  if (n.op == OpKind::OneHot) return {n.operands[0], n.attrs.i("classes")};
  if (n.op == OpKind::SoftmaxCrossEntropy || n.op == OpKind::SoftmaxCrossEntropyGrad)
    return {n.operands[1], fn.nodes[n.operands[0]].type.dims[1]};
  return {kNoValue, 0};
}

// The CPU kernels cannot fail, so what the reference evaluator rejects while running is checked
// before: an input label outside [0, classes) of an op that takes labels. (The trainer checks its
// data's labels against the model's classes when it loads them.)
Status checkLabelInputs(const Function& fn, const ref::TensorMap& inputs) {
  for (const Node& n : fn.nodes) {
    const auto [labels, classes] = labelsOf(fn, n);
    if (labels == kNoValue) continue;
    const Node& x = fn.nodes[labels];
    if (x.op != OpKind::Input) continue;
    const ref::Tensor& t = inputs.at(x.attrs.s("name"));
    for (size_t i = 0; i < t.data.size(); ++i)
      if (!(t.data[i] >= 0 && t.data[i] < static_cast<double>(classes)))
        return Error(fmt::format("input '{}': label {} at index {} is outside [0, {})", x.attrs.s("name"), t.data[i], i,
                                 classes));
  }
  return ok();
}

// A reference tensor into a plan buffer at `batch`, converted to the buffer's dtype.
Status writeTensor(Executor& e, const PlanBuffer& b, int64_t batch, const ref::Tensor& t) {
  if (static_cast<int64_t>(t.data.size()) != Executor::elements(b, batch))
    return Error(fmt::format("'{}' has {} elements but the plan's buffer holds {}", b.name, t.data.size(),
                             Executor::elements(b, batch)));
  if (b.type == BufferType::I32) e.writeFrom<int32_t>(b, batch, std::vector<int32_t>(t.data.begin(), t.data.end()));
  else e.writeFrom<float>(b, batch, std::vector<float>(t.data.begin(), t.data.end()));
  return ok();
}

// `sinter run --target T`: the same files as the reference path, computed in f32 by the plan that
// target compiles in memory.
Status runCompiled(const ToolOptions& o, const Target& target, const Module& m, const std::string& fnName,
                   const ref::TensorMap& inputs, TensorFile& out) {
  const Function& fn = *m.function(fnName);
  int64_t batch = 1;
  for (ValueId v : fn.inputs()) {
    const Node& n = fn.nodes[v];
    for (size_t k = 0; k < n.type.dims.size(); ++k)
      if (n.type.dims[k] == kBatch) batch = inputs.at(n.attrs.s("name")).dims[k];
  }
  if (Status s = checkLabelInputs(fn, inputs); !s) return s;
  Expected<CompiledProgram> c = target.compiler->compileForJit(m, {std::max<int64_t>({o.maxBatch, batch, 64}), {}});
  if (!c) return c.error();
  auto executor = makeExecutor(c->table(), o.threads, o.seed);
  if (!executor) return executor.error();
  Executor& program = **executor;
  if (Status s = program.prepare(batch); !s) return s;
  if (!o.weights.empty()) {
    ref::TensorMap weights;
    if (Status s = loadWeights(m, o.weights, weights); !s) return s;
    for (const auto& [name, t] : weights) {
      const PlanBuffer* b = program.buffer(name);
      if (!b) return Error(fmt::format("{}: '{}' has no buffer in the compiled plan", o.weights, name));
      if (Status s = writeTensor(program, *b, batch, t); !s) return Error(fmt::format("{}: {}", o.weights, s.error().message()));
    }
  }
  for (ValueId v : fn.inputs()) {
    const std::string& name = fn.nodes[v].attrs.s("name");
    const PlanBuffer* b = program.buffer(name);
    if (!b) return Error(fmt::format("input '{}' has no buffer in the compiled plan", name));
    if (Status s = writeTensor(program, *b, batch, inputs.at(name)); !s) return s;
  }
  if (Status s = program.run(fnName, batch); !s) return s;
  const PlanTable& table = c->table();
  const PlanFunction* pf = nullptr;
  for (int32_t f = 0; f < table.numFunctions; ++f)
    if (fnName == table.functions[f].name) pf = &table.functions[f];
  std::vector<std::pair<std::string, NamedTensor>> sorted;
  for (int32_t r = 0; r < pf->numResults; ++r) {
    const PlanBuffer& b = table.buffers[pf->results[r]];
    std::vector<int64_t> shape;
    for (int32_t d = 0; d < b.rank; ++d) shape.push_back(b.dims[d] == kPlanBatch ? batch : b.dims[d]);
    const std::string name = pf->resultNames[r];
    if (b.type == BufferType::I32) sorted.emplace_back(name, NamedTensor::fromInt32s(name, shape, program.readAs<int32_t>(b, batch)));
    else sorted.emplace_back(name, NamedTensor::fromFloats(name, shape, program.readAs<float>(b, batch)));
  }
  // Name order, as the reference path writes them.
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  out.metadata = {{"model", m.name}, {"function", fnName}, {"precision", "f32"}, {"target", std::string(target.name)}};
  for (auto& [name, t] : sorted) out.tensors.push_back(std::move(t));
  return ok();
}

}  // namespace

int runCommand(const ToolOptions& o) {
  FrontendResult r = compileFile(o.files[0]);
  if (reportErrors(r)) return 1;
  auto fail = [&](const Error& e) { return reportError(e, r); };
  // The reference evaluator (float64 or float32) is the default; any built target runs in f32.
  const Target* target = nullptr;
  if (!o.target.empty() && o.target != "ref") {
    Expected<const Target*> t = findTarget(o.target);
    if (!t) return fail(t.error());
    target = *t;
  }
  if (o.precision != "f64" && o.precision != "f32") return fail(Error("--precision must be f64 or f32"));
  if (o.inputs.empty() || o.output.empty()) return fail(Error("`sinter run` needs --inputs FILE and -o FILE"));
  Expected<Module> m = trainingModule(r, target);
  if (!m) return fail(m.error());
  std::string fnName = o.grads ? "grad" : "eval";
  const Function* fn = m->function(fnName);
  if (!fn) return fail(Error(fmt::format("model '{}' has no loss, so it has no gradients", m->name)));
  if (target) {
    Expected<ref::TensorMap> inputs = loadInputs(*m, *fn, o.inputs);
    if (!inputs) return fail(inputs.error());
    TensorFile out;
    if (Status s = runCompiled(o, *target, *m, fnName, *inputs, out); !s) return fail(s.error());
    // The target's values stop at no op: the reference evaluator replays them in f32 to name the first
    // non-finite one.
    const NamedTensor* loss = out.find("loss");
    if (o.checkNumerics || (loss && !std::isfinite(loss->at(0)))) {
      ref::TensorMap globals = ref::initGlobals(*m, o.seed);
      if (!o.weights.empty())
        if (Status s = loadWeights(*m, o.weights, globals); !s) return fail(s.error());
      Expected<ref::TensorMap> again = ref::evaluate(*m, fnName, *inputs, globals, ref::Precision::F32, stopAtNonFinite(*m, *fn));
      if (!again) return fail(again.error());
      if (loss && !std::isfinite(loss->at(0)))
        return fail(Error(fmt::format("loss is {} on {}, but the reference evaluator's f32 replay stays finite", loss->at(0),
                                      target->name)));
    }
    if (Status s = writeSafetensors(o.output, out); !s) return fail(s.error());
    return 0;
  }
  ref::TensorMap globals = ref::initGlobals(*m, o.seed);
  if (!o.weights.empty())
    if (Status s = loadWeights(*m, o.weights, globals); !s) return fail(s.error());
  Expected<ref::TensorMap> inputs = loadInputs(*m, *fn, o.inputs);
  if (!inputs) return fail(inputs.error());
  // A non-finite loss is evaluated again, stopping at the first op that made a non-finite value.
  const ref::TensorMap initial = globals;
  Expected<ref::TensorMap> results = ref::evaluate(*m, fnName, *inputs, globals, precisionOf(o),
                                                   o.checkNumerics ? stopAtNonFinite(*m, *fn) : ref::OpObserver{});
  if (!results) return fail(results.error());
  if (auto loss = results->find("loss"); loss != results->end() && !std::isfinite(loss->second.data.at(0))) {
    globals = initial;
    Expected<ref::TensorMap> again = ref::evaluate(*m, fnName, *inputs, globals, precisionOf(o), stopAtNonFinite(*m, *fn));
    return fail(again ? Error(fmt::format("loss is {}", loss->second.data[0])) : again.error());
  }
  TensorFile out;
  out.metadata = {{"model", m->name}, {"function", fnName}, {"precision", o.precision}};
  for (auto& [name, t] : *results) {
    std::vector<int64_t> shape(t.dims.begin(), t.dims.end());
    if (o.precision == "f64") {
      out.tensors.push_back(NamedTensor::fromDoubles(name, shape, t.data));
    } else {
      std::vector<float> f(t.data.begin(), t.data.end());
      out.tensors.push_back(NamedTensor::fromFloats(name, shape, f));
    }
  }
  if (Status s = writeSafetensors(o.output, out); !s) return fail(s.error());
  return 0;
}

// Central differences along random directions, in float64: for each parameter p and two random
// unit directions d, (L(p + h d) - L(p - h d)) / 2h must equal <dL/dp, d>. With h = 1e-6 the
// truncation error is O(h^2) ~ 1e-12; the rounding error of a deep model's loss (~1e-14 after
// thousands of accumulated terms) divided by 2h is ~1e-8, which against derivatives of 1e-3 and
// up is 1e-5 relative: the tolerance. A wrong rule gives errors of order 1, and a step across a
// ReLU or max-pool kink shows up as a failure rather than hiding (smaller h makes it rarer).
int gradcheckCommand(const ToolOptions& o) {
  FrontendResult r = compileFile(o.files[0]);
  if (reportErrors(r)) return 1;
  auto fail = [&](const Error& e) { return reportError(e, r); };
  Expected<Module> m = trainingModule(r, nullptr);
  if (!m) return fail(m.error());
  const Function* fn = m->function("grad");
  if (!fn) return fail(Error(fmt::format("model '{}' has no loss to differentiate", m->name)));
  ref::TensorMap globals = ref::initGlobals(*m, o.seed);
  if (!o.weights.empty())
    if (Status s = loadWeights(*m, o.weights, globals); !s) return fail(s.error());
  ref::TensorMap inputs;
  if (!o.inputs.empty()) {
    Expected<ref::TensorMap> in = loadInputs(*m, *fn, o.inputs);
    if (!in) return fail(in.error());
    inputs = in.take();
  } else {
    // Random inputs, batch 3: normal f32 values; i32 labels below the smallest class count.
    int64_t classes = 1 << 30;
    for (const Node& n : fn->nodes)
      if (const auto [labels, k] = labelsOf(*fn, n); labels != kNoValue) classes = std::min(classes, k);
    if (classes == (1 << 30)) classes = 2;
    uint32_t counter = 0;
    for (ValueId v : fn->inputs()) {
      const Node& n = fn->nodes[v];
      Dims dims = n.type.dims;
      for (int64_t& d : dims) d = d == kBatch ? 3 : d;
      ref::Tensor t{n.type.dtype, dims, std::vector<double>(n.type.numel(3))};
      for (double& x : t.data) {
        auto bits = philox4x32_10({counter++, 7, 0, 0}, {static_cast<uint32_t>(o.seed), 0x5eed});
        double u1 = uniformFromBits(bits[0]) + 1e-7, u2 = uniformFromBits(bits[1]);
        x = n.type.dtype == DType::I32 ? std::floor(u2 * classes) : std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
      }
      inputs[n.attrs.s("name")] = std::move(t);
    }
  }
  auto loss = [&](ref::TensorMap& g) -> Expected<double> {
    ref::TensorMap scratch = g;
    Expected<ref::TensorMap> out = ref::evaluate(*m, "grad", inputs, scratch, ref::Precision::F64);
    if (!out) return out.error();
    return out->at("loss").data[0];
  };
  Expected<ref::TensorMap> base = ref::evaluate(*m, "grad", inputs, globals, ref::Precision::F64);
  if (!base) return fail(base.error());
  const double h = o.fdStep, tolerance = 1e-5;
  const double base0 = base->at("loss").data[0];
  double worst = 0;
  int kinks = 0;
  uint32_t draw = 0;
  std::printf("%-32s %10s %14s %14s %10s\n", "parameter", "elements", "analytic", "numeric", "rel error");
  for (const Global& g : m->globals) {
    if (g.kind != GlobalKind::Param) continue;
    const ref::Tensor& analytic = base->at(g.name + ".grad");
    double maxRel = 0, shownA = 0, shownN = 0;
    // Finite differences are only valid where the loss is smooth between p - hd and p + hd. A
    // direction whose forward and backward slopes disagree crosses a ReLU or max-pool kink (likely
    // in deep models: thousands of units sit within h of their kink); it is redrawn, up to a limit.
    int checked = 0, kinked = 0;
    double gnorm = 0;
    for (double x : analytic.data) gnorm += x * x;
    while (checked < 2 && kinked < 16) {
      std::vector<double> d(analytic.data.size());
      double norm = 0;
      for (double& x : d) {
        auto bits = philox4x32_10({draw++, 11, 0, 0}, {static_cast<uint32_t>(o.seed), 0xd1ec});
        x = uniformFromBits(bits[0]) - 0.5;
        norm += x * x;
      }
      double dot = 0;
      for (size_t i = 0; i < d.size(); ++i) {
        d[i] /= std::sqrt(norm);
        dot += analytic.data[i] * d[i];
      }
      ref::TensorMap plus = globals, minus = globals;
      for (size_t i = 0; i < d.size(); ++i) {
        plus[g.name].data[i] += h * d[i];
        minus[g.name].data[i] -= h * d[i];
      }
      Expected<double> lp = loss(plus), lm = loss(minus);
      if (!lp) return fail(lp.error());
      if (!lm) return fail(lm.error());
      double numeric = (*lp - *lm) / (2 * h);
      double forward = (*lp - base0) / h, backward = (base0 - *lm) / h;
      // A direction almost orthogonal to the gradient has a tiny derivative that rounding swamps;
      // measure against the gradient's norm, the largest derivative any unit direction can have.
      double scale = std::max({std::fabs(numeric), std::fabs(dot), 1e-3 * std::sqrt(gnorm), 1e-12});
      // Smooth: forward and backward slopes differ by h |L''| (tiny). If they differ by more than
      // the tolerance, the central difference cannot be trusted to the tolerance either.
      if (std::fabs(forward - backward) > tolerance * scale) {
        ++kinked;
        continue;
      }
      ++checked;
      double rel = std::fabs(numeric - dot) / scale;
      if (rel >= maxRel) { maxRel = rel; shownA = dot; shownN = numeric; }
    }
    if (checked == 0) maxRel = INFINITY;
    kinks += kinked;
    worst = std::max(worst, maxRel);
    std::printf("%-32s %10zu %14.6e %14.6e %10.2e%s\n", g.name.c_str(), analytic.data.size(), shownA, shownN, maxRel,
                maxRel > tolerance ? "  FAIL" : "");
  }
  std::printf("max relative error %.2e (tolerance %.0e): %s", worst, tolerance, worst <= tolerance ? "ok" : "FAILED");
  std::printf(kinks ? " (%d directions crossing a kink redrawn)\n" : "\n", kinks);
  return worst <= tolerance ? 0 : 1;
}

}  // namespace sinter
