// The target-neutral plan builder: kernel program + per-target kernel bindings -> PlanSpec.
#include "codegen/plan_builder.h"

#include <algorithm>

namespace sinter {

namespace {

BufferType bufferType(DType d) { return d == DType::I32 ? BufferType::I32 : BufferType::F32; }

// Init arguments the IR text may omit default as in the reference evaluator (codegen/ref/init.cpp).
double initArg(const Init& init, const std::string& key, double fallback) {
  const Attr* a = init.args.find(key);
  if (a && std::holds_alternative<double>(*a)) return std::get<double>(*a);
  if (a && std::holds_alternative<int64_t>(*a)) return static_cast<double>(std::get<int64_t>(*a));
  return fallback;
}

}  // namespace

Expected<PlanSpec> buildPlan(const Module& m, const kir::KProgram& k, const std::vector<std::vector<KernelBinding>>& bindings,
                             const std::string& target) {
  if (bindings.size() != k.functions.size())
    return Error(fmt::format("internal error: {} functions of kernel bindings for {} functions", bindings.size(), k.functions.size()));
  PlanSpec s;
  for (const kir::Buffer& b : k.buffers) {
    if (b.type.rank() > kMaxRank) return Error(fmt::format("buffer '{}' has rank {} > {}", b.name, b.type.rank(), kMaxRank));
    PlanSpec::Buffer pb;
    pb.name = b.name;
    pb.role = b.role;
    pb.type = bufferType(b.type.dtype);
    for (int64_t d : b.type.dims) pb.dims.push_back(d == kBatch ? kPlanBatch : d);
    pb.persistent = b.persistent;
    pb.offset = b.offset;
    pb.bytesAtMaxBatch = b.bytesAtMax;
    // The buffer that owns a global's storage carries its initializer (aliases of it do not).
    if (b.global >= 0 && b.storage == static_cast<int32_t>(&b - k.buffers.data())) {
      const Init& init = m.globals[b.global].init;
      pb.init = init.kind;
      pb.initStream = b.global;
      if (init.kind == "constant") pb.initA = initArg(init, "value", 0);
      if (init.kind == "normal") { pb.initA = initArg(init, "mean", 0); pb.initB = initArg(init, "std", 1); }
      if (init.kind == "uniform") { pb.initA = initArg(init, "low", 0); pb.initB = initArg(init, "high", 1); }
    }
    s.buffers.push_back(std::move(pb));
  }
  for (size_t f = 0; f < k.functions.size(); ++f) {
    const kir::KFunction& fn = k.functions[f];
    if (bindings[f].size() != fn.kernels.size())
      return Error(fmt::format("internal error: @{} has {} kernels but {} bindings", fn.name, fn.kernels.size(), bindings[f].size()));
    PlanSpec::Function& sf = s.functions.emplace_back();
    sf.name = fn.name;
    for (size_t i = 0; i < fn.kernels.size(); ++i) {
      const KernelBinding& kb = bindings[f][i];
      sf.calls.push_back(PlanSpec::Call{kb.symbol, nullptr, fn.kernels[i].args, kb.extentPerBatch, kb.extentConst,
                                        std::max<int64_t>(1, kb.grain)});
      if (fn.name == "train_step") s.flopsPerStep += kb.flops;
    }
    sf.inputs = fn.inputs;
    for (const auto& [name, b] : fn.results) {
      sf.results.push_back(b);
      sf.resultNames.push_back(name);
    }
  }
  s.model = m.name;
  s.target = target;
  s.maxBatch = k.maxBatch;
  s.stateBytes = k.stateBytes;
  s.workBytes = k.workBytes;
  s.unplannedBytes = k.unplannedBytes;
  return s;
}

}  // namespace sinter
