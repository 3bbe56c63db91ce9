// The CPU target end to end: kernel IR, LLVM lowering, the JIT, and the in-memory PlanTable.
#include "codegen/cpu/compile.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <thread>

#include "codegen/cpu/aot.h"
#include "codegen/cpu/lower.h"

namespace sinter::cpu {

namespace {

BufferType bufferType(DType d) { return d == DType::I32 ? BufferType::I32 : BufferType::F32; }

// Init arguments the IR text may omit default as in the reference evaluator (codegen/ref/init.cpp).
double initArg(const Init& init, const std::string& key, double fallback) {
  const Attr* a = init.args.find(key);
  if (a && std::holds_alternative<double>(*a)) return std::get<double>(*a);
  if (a && std::holds_alternative<int64_t>(*a)) return static_cast<double>(std::get<int64_t>(*a));
  return fallback;
}

struct Lowered {
  std::unique_ptr<llvm::LLVMContext> ctx;
  std::unique_ptr<llvm::Module> module;
  kir::KProgram kernels;
  std::vector<std::vector<LoweredKernel>> lowered;
};

Expected<Lowered> lower(const Module& m, const CpuOptions& o, const llvm::TargetMachine& tm, PhaseClock& clock) {
  Lowered l;
  Expected<kir::KProgram> k = kir::buildKernels(m, {o.maxBatch});
  if (!k) return k.error();
  l.kernels = k.take();
  clock.mark("kernel IR (fusion, memory plan)");
  l.ctx = std::make_unique<llvm::LLVMContext>();
  l.module = std::make_unique<llvm::Module>(m.name, *l.ctx);
  auto lowered = lowerKernels(l.kernels, *l.module, HeavyTarget::of(tm));
  if (!lowered) return lowered.error();
  l.lowered = lowered.take();
  clock.mark("LLVM IR generation");
  return l;
}

// Fills c's plan storage and table from the kernel program; `resolve` gives each kernel's address
// (the JIT's) or null (AOT, where a call is bound to its kernel by the symbol in call.name).
template <typename Resolve>
Status fillPlan(CompiledProgram& c, const Module& m, const std::vector<std::vector<LoweredKernel>>& lowered,
                Resolve resolve) {
  const kir::KProgram& k = c.kernels;
  auto str = [&](const std::string& s) { return c.strings.emplace_back(s).c_str(); };
  for (const kir::Buffer& b : k.buffers) {
    PlanBuffer pb{};
    pb.name = str(b.name);
    pb.role = b.role;
    pb.type = bufferType(b.type.dtype);
    pb.rank = b.type.rank();
    if (pb.rank > kMaxRank) return Error(fmt::format("buffer '{}' has rank {} > {}", b.name, pb.rank, kMaxRank));
    for (int d = 0; d < pb.rank; ++d) pb.dims[d] = b.type.dims[d] == kBatch ? kPlanBatch : b.type.dims[d];
    pb.persistent = b.persistent;
    pb.offset = b.offset;
    pb.bytesAtMaxBatch = b.bytesAtMax;
    pb.init = "";
    pb.initStream = -1;
    if (b.global >= 0 && b.storage == static_cast<int32_t>(&b - k.buffers.data())) {
      const Init& init = m.globals[b.global].init;
      pb.init = str(init.kind);
      pb.initStream = b.global;
      if (init.kind == "constant") pb.initA = initArg(init, "value", 0);
      if (init.kind == "normal") { pb.initA = initArg(init, "mean", 0); pb.initB = initArg(init, "std", 1); }
      if (init.kind == "uniform") { pb.initA = initArg(init, "low", 0); pb.initB = initArg(init, "high", 1); }
    }
    c.buffers.push_back(pb);
  }
  double flops = 0;
  for (size_t f = 0; f < k.functions.size(); ++f) {
    const kir::KFunction& fn = k.functions[f];
    c.calls.emplace_back();
    for (size_t i = 0; i < fn.kernels.size(); ++i) {
      const LoweredKernel& lk = lowered[f][i];
      Expected<void*> addr = resolve(lk.symbol);
      if (!addr) return addr.error();
      c.args.emplace_back(fn.kernels[i].args);
      PlanCall call{};
      call.name = str(lk.symbol);
      call.fn = reinterpret_cast<KernelFn>(*addr);
      call.args = c.args.back().data();
      call.numArgs = static_cast<int32_t>(c.args.back().size());
      call.extentPerBatch = lk.extentPerBatch;
      call.extentConst = lk.extentConst;
      call.grain = std::max<int64_t>(1, lk.grain);
      c.calls.back().push_back(call);
      if (fn.name == "train_step") flops += lk.flops;
    }
    c.inputs.emplace_back(fn.inputs);
    c.results.emplace_back();
    c.resultNames.emplace_back();
    for (const auto& [name, b] : fn.results) {
      c.results.back().push_back(b);
      c.resultNames.back().push_back(str(name));
    }
  }
  for (size_t f = 0; f < k.functions.size(); ++f) {
    PlanFunction pf{};
    pf.name = str(k.functions[f].name);
    pf.calls = c.calls[f].data();
    pf.numCalls = static_cast<int32_t>(c.calls[f].size());
    pf.inputs = c.inputs[f].data();
    pf.numInputs = static_cast<int32_t>(c.inputs[f].size());
    pf.results = c.results[f].data();
    pf.resultNames = c.resultNames[f].data();
    pf.numResults = static_cast<int32_t>(c.results[f].size());
    c.functions.push_back(pf);
  }
  c.table.model = str(m.name);
  c.table.target = "cpu";
  c.table.maxBatch = k.maxBatch;
  c.table.stateBytes = k.stateBytes;
  c.table.workBytes = k.workBytes;
  c.table.unplannedBytes = k.unplannedBytes;
  c.table.buffers = c.buffers.data();
  c.table.numBuffers = static_cast<int32_t>(c.buffers.size());
  c.table.functions = c.functions.data();
  c.table.numFunctions = static_cast<int32_t>(c.functions.size());
  c.table.flopsPerStep = flops;
  return ok();
}

int compileThreads(const CpuOptions& o) {
  return o.compileThreads > 0 ? o.compileThreads : std::max(1u, std::thread::hardware_concurrency());
}

// The target machine, and the kernels with the plan tables in one module: the AOT paths' start.
struct AotModule {
  std::unique_ptr<llvm::TargetMachine> tm;
  Lowered lowered;
};

Expected<AotModule> lowerForAot(const Module& m, const CpuOptions& o, const std::string& trainConfig, PhaseClock& clock) {
  auto tm = makeTargetMachine(o.codegen);
  if (!tm) return tm.error();
  clock.mark("target machine setup");
  Expected<Lowered> l = lower(m, o, **tm, clock);
  if (!l) return l.error();
  CompiledProgram c;
  c.kernels = std::move(l->kernels);
  Status filled = fillPlan(c, m, l->lowered, [](const std::string&) -> Expected<void*> { return nullptr; });
  if (!filled) return filled.error();
  l->module->setTargetTriple((*tm)->getTargetTriple().str());
  l->module->setDataLayout((*tm)->createDataLayout());
  if (Status s = emitPlanGlobals(*l->module, c.table, trainConfig); !s) return s.error();
  clock.mark("plan tables");
  return AotModule{tm.take(), l.take()};
}

}  // namespace

Expected<CompiledProgram> compileForJit(const Module& m, const CpuOptions& o) {
  PhaseClock clock(o.timings);
  CompiledProgram c;
  auto jit = Jit::create(o.codegen);
  if (!jit) return jit.error();
  c.jit = jit.take();
  clock.mark("JIT and target machine setup");
  Expected<Lowered> l = lower(m, o, c.jit->targetMachine(), clock);
  if (!l) return l.error();
  if (Status s = c.jit->add(*l->module, compileThreads(o)); !s) return s.error();
  c.kernels = std::move(l->kernels);
  Status filled = fillPlan(c, m, l->lowered, [&](const std::string& symbol) { return c.jit->lookup(symbol); });
  if (!filled) return filled.error();
  clock.mark(fmt::format("LLVM optimization and code generation ({} threads)", compileThreads(o)));
  return c;
}

Expected<std::string> compileAot(const Module& m, const CpuOptions& o, const std::string& trainConfig, EmitKind emit) {
  PhaseClock clock(o.timings);
  Expected<AotModule> a = lowerForAot(m, o, trainConfig, clock);
  if (!a) return a.error();
  llvm::Module& module = *a->lowered.module;
  optimizeModule(module, *a->tm, o.codegen);
  clock.mark("LLVM optimization");
  if (emit == EmitKind::Llvm) {
    std::string text;
    llvm::raw_string_ostream os(text);
    module.print(os, nullptr);
    return os.str();
  }
  Expected<std::string> code = emitMachineCode(module, *a->tm, emit == EmitKind::Asm);
  clock.mark(emit == EmitKind::Asm ? "assembly emission" : "object emission");
  return code;
}

Expected<std::vector<std::string>> compileAotObjects(const Module& m, const CpuOptions& o, const std::string& trainConfig) {
  PhaseClock clock(o.timings);
  Expected<AotModule> a = lowerForAot(m, o, trainConfig, clock);
  if (!a) return a.error();
  auto objects = compileToObjects(*a->lowered.module, o.codegen, compileThreads(o));
  clock.mark(fmt::format("LLVM optimization and code generation ({} threads)", compileThreads(o)));
  return objects;
}

}  // namespace sinter::cpu
