// The target-neutral plan builder: kernel program + per-target kernel bindings -> PlanSpec.
#include "codegen/plan_builder.h"

#include <algorithm>
#include <type_traits>
#include <variant>

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

std::string jsonString(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", static_cast<int>(c));
    else out += c;
  }
  return out + "\"";
}

std::string jsonAttr(const Attr& a) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) return jsonString(v);
        else if constexpr (std::is_same_v<T, bool>) return v ? "true" : "false";
        else if constexpr (std::is_same_v<T, double>) return formatFloat(v);
        else if constexpr (std::is_same_v<T, int64_t>) return std::to_string(v);
        else return fmt::format("[{}]", fmt::join(v, ","));
      },
      a);
}

std::string jsonDims(const TensorType& t) {
  std::vector<int64_t> dims;
  for (int64_t d : t.dims) dims.push_back(d == kBatch ? kPlanBatch : d);
  return fmt::format("[{}]", fmt::join(dims, ","));
}

double elementsAt(const TensorType& t, int64_t batch) {
  double n = 1;
  for (int64_t d : t.dims) n *= static_cast<double>(d == kBatch ? batch : d);
  return n;
}

}  // namespace

std::string libraryDescriptor(const kir::KProgram& p, const kir::Kernel& k) {
  std::string attrs, operands, layouts;
  for (int32_t b : k.args) layouts += fmt::format("{}{}", layouts.empty() ? "" : ",", jsonString(kir::layoutName(p.buffers[b].layout)));
  for (const auto& [key, value] : k.attrs.items()) attrs += fmt::format("{}{}:{}", attrs.empty() ? "" : ",", jsonString(key), jsonAttr(value));
  for (const TensorType& t : k.operandTypes) operands += fmt::format("{}{}", operands.empty() ? "" : ",", jsonDims(t));
  std::string more;
  for (const kir::LoopOutput& o : k.moreOutputs) more += fmt::format("{}{}", more.empty() ? "" : ",", jsonDims(p.buffers[k.args[o.arg]].type));
  return fmt::format(R"({{"library":{},"op":{},"attrs":{{{}}},"operands":[{}],"result":{},{}"layouts":[{}]}})", jsonString(k.library),
                     jsonString(std::string(mnemonic(k.op))), attrs, operands, jsonDims(k.resultType),
                     more.empty() ? "" : fmt::format(R"("more_results":[{}],)", more), layouts);
}

double heavyOpFlops(OpKind op, const Attrs& attrs, const std::vector<TensorType>& in, const TensorType& result,
                    int64_t batch) {
  auto perOutput = [&](const TensorType& w) { return 2 * elementsAt(w, batch) / static_cast<double>(w.dims[0]); };
  auto window = [&] { return static_cast<double>(attrs.ints("kernel")[0] * attrs.ints("kernel")[1]); };
  switch (op) {
    case OpKind::MatMul: {
      const TensorType& a = in[0];
      const int64_t inner = attrs.b("transpose_a") ? a.dims[0] : a.dims[1];
      return 2 * elementsAt(result, batch) * static_cast<double>(inner == kBatch ? batch : inner);
    }
    case OpKind::Conv2d: return elementsAt(result, batch) * perOutput(in[1]);
    case OpKind::Conv2dGradInput: return elementsAt(in[0], batch) * perOutput(in[1]);
    case OpKind::Conv2dGradWeight: return elementsAt(in[1], batch) * perOutput(result);
    case OpKind::MaxPool2d:
    case OpKind::AvgPool2d: return elementsAt(result, batch) * window();
    case OpKind::MaxPool2dGrad: return elementsAt(in[1], batch) * window();
    case OpKind::AvgPool2dGrad: return elementsAt(in[0], batch) * window();
    default: return 0;
  }
}

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
    pb.layout = kir::layoutName(b.layout);
    pb.device = b.space == kir::MemorySpace::Device;
    // The global's own buffer carries its initializer (views of it do not); it may be a member of
    // a concat-loops group, an alias of the group's storage.
    if (b.global >= 0 && b.name == m.globals[b.global].name) {
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
      const kir::Kernel& kernel = fn.kernels[i];
      sf.calls.push_back(PlanSpec::Call{kb.symbol, nullptr, kernel.args, kb.extentPerBatch, kb.extentConst, std::max<int64_t>(1, kb.grain),
                                        kernel.kind == kir::KernelKind::Library ? libraryDescriptor(k, kernel) : ""});
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
