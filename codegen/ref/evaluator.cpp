// The reference evaluator's driver: binds inputs and the batch size, runs each node's kernel in
// order, rounds f32 results in F32 mode, and applies stores when the function returns.
#include "codegen/ref/kernels.h"
#include "ir/verifier.h"

namespace sinter::ref {

namespace {

const std::string* inputName(const Node& n) {
  const Attr* a = n.attrs.find("name");
  return a && std::holds_alternative<std::string>(*a) ? &std::get<std::string>(*a) : nullptr;
}

// Checks every Input against its binding and returns the batch size they agree on (0 if no input
// has B).
Expected<int64_t> bindInputs(const Function& fn, const TensorMap& inputs) {
  int64_t batch = 0;
  for (ValueId v : fn.inputs()) {
    const Node& n = fn.nodes[v];
    const std::string* name = inputName(n);
    if (!name) return Error(n.loc, "input has no 'name' attribute");
    auto it = inputs.find(*name);
    if (it == inputs.end()) return Error(n.loc, fmt::format("missing input '{}' of @{}", *name, fn.name));
    const Tensor& t = it->second;
    auto mismatch = [&] {
      return Error(n.loc, fmt::format("input '{}' is {}, expected {}", *name, formatType({t.dtype, t.dims}), formatType(n.type)));
    };
    if (t.dtype != n.type.dtype || t.dims.size() != n.type.dims.size()) return mismatch();
    for (size_t k = 0; k < t.dims.size(); ++k) {
      const int64_t want = n.type.dims[k];
      if (want != kBatch && t.dims[k] != want) return mismatch();
      if (want == kBatch) {
        if (t.dims[k] < 1) return Error(n.loc, fmt::format("input '{}' binds B to {}; it must be at least 1", *name, t.dims[k]));
        if (batch && t.dims[k] != batch)
          return Error(n.loc, fmt::format("input '{}' binds B to {}, but an earlier input bound it to {}", *name, t.dims[k], batch));
        batch = t.dims[k];
      }
    }
    if (t.data.size() != static_cast<size_t>(numel(t.dims)))
      return Error(n.loc, fmt::format("input '{}' has {} elements, its shape {} needs {}", *name, t.data.size(),
                                      formatDims(t.dims), numel(t.dims)));
  }
  return batch;
}

}  // namespace

Expected<TensorMap> evaluate(const Module& m, const std::string& fnName, const TensorMap& inputs, TensorMap& globals,
                             Precision p, const OpObserver& observe) {
  const Function* fn = m.function(fnName);
  if (!fn) return Error(fmt::format("module @{} has no function @{}", m.name, fnName));
  // Kernels rely on verified IR: attributes present, operand shapes consistent with result types.
  if (auto s = verifyModule(m); !s) return s.error();
  Expected<int64_t> batch = bindInputs(*fn, inputs);
  if (!batch) return batch.error();

  TensorMap stores;
  Env env{inputs, globals, stores, *batch};
  std::vector<Tensor> values(fn->nodes.size());
  for (size_t i = 0; i < fn->nodes.size(); ++i) {
    const Node& n = fn->nodes[i];
    Tensor& out = values[i];
    out.dtype = n.type.dtype;
    for (int64_t d : n.type.dims) {
      if (d == kBatch && !env.batch)
        return Error(n.loc, fmt::format("'{}' has type {} but no input of @{} binds B", mnemonic(n.op), formatType(n.type), fn->name));
      out.dims.push_back(d == kBatch ? env.batch : d);
    }
    if (!n.type.isVoid()) out.data.assign(static_cast<size_t>(numel(out.dims)), 0.0);

    const KernelEntry* entry = kernelFor(n.op);
    if (!entry || !entry->run)
      return Error(n.loc, fmt::format("op '{}' {}", mnemonic(n.op), entry ? entry->unsupported : "has no reference kernel"));
    Call call{n, {}, env};
    for (ValueId v : n.operands) call.in.push_back(&values[v]);
    if (auto s = entry->run(call, out); !s) {
      Error e = s.error();
      e.diags.front().message = fmt::format("'{}': {}", mnemonic(n.op), e.message());
      if (!e.diags.front().loc.known()) e.diags.front().loc = n.loc;
      return e;
    }
    if (p == Precision::F32 && out.dtype == DType::F32)
      for (double& x : out.data) x = roundToFloat(x);
    if (observe)
      if (Status s = observe(n, static_cast<ValueId>(i), call.in, out); !s) return s.error();
  }

  TensorMap results;
  for (const auto& [name, v] : fn->results) results[name] = values[v];
  for (auto& [name, t] : stores) globals[name] = std::move(t);
  return results;
}

}  // namespace sinter::ref
