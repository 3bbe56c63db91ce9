// The cpu target end to end: kernel IR, LLVM lowering, the JIT or object files, and the plan.
#include "codegen/cpu/compile.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <thread>

#include "codegen/cpu/aot.h"
#include "codegen/cpu/jit.h"
#include "codegen/cpu/lower.h"
#include "codegen/kernel_passes.h"

namespace sinter::cpu {

namespace {

struct Lowered {
  std::unique_ptr<llvm::LLVMContext> ctx;
  std::unique_ptr<llvm::Module> module;
  kir::KProgram kernels;
  std::vector<std::vector<LoweredKernel>> lowered;
};

Expected<Lowered> lower(const Module& m, const TargetOptions& o, const HostTarget& target, const llvm::TargetMachine& tm,
                        PhaseClock& clock) {
  Lowered l;
  kir::KernelOptions ko{.maxBatch = o.maxBatch};
  if (target.library) ko.library = *target.library;
  Expected<kir::KProgram> k = kir::buildKernels(m, ko);
  if (!k) return k.error();
  l.kernels = k.take();
  clock.mark("kernel IR (fusion, memory plan)");
  l.ctx = std::make_unique<llvm::LLVMContext>();
  l.module = std::make_unique<llvm::Module>(m.name, *l.ctx);
  auto lowered = lowerKernels(l.kernels, *l.module, HeavyTarget::of(tm), target.loops);
  if (!lowered) return lowered.error();
  l.lowered = lowered.take();
  clock.mark("LLVM IR generation");
  return l;
}

int compileThreads(const TargetOptions& o) {
  return o.compileThreads > 0 ? o.compileThreads : std::max(1u, std::thread::hardware_concurrency());
}

// The target machine, and the kernels with the plan tables in one module: the AOT paths' start.
struct AotModule {
  std::unique_ptr<llvm::TargetMachine> tm;
  Lowered lowered;
};

Expected<AotModule> lowerForAot(const Module& m, const TargetOptions& o, const EmbeddedTexts& texts, const HostTarget& target,
                                PhaseClock& clock) {
  auto tm = makeTargetMachine(o.machine);
  if (!tm) return tm.error();
  clock.mark("target machine setup");
  Expected<Lowered> l = lower(m, o, target, **tm, clock);
  if (!l) return l.error();
  Expected<PlanSpec> plan = buildPlan(m, l->kernels, l->lowered, target.name);
  if (!plan) return plan.error();
  l->module->setTargetTriple((*tm)->getTargetTriple().str());
  l->module->setDataLayout((*tm)->createDataLayout());
  if (Status s = emitPlanGlobals(*l->module, *plan, texts); !s) return s.error();
  clock.mark("plan tables");
  return AotModule{tm.take(), l.take()};
}

}  // namespace

const HostTarget kCpu = {"cpu", nullptr};

Expected<CompiledProgram> compileForJit(const Module& m, const TargetOptions& o, const HostTarget& target) {
  PhaseClock clock(o.timings);
  auto created = Jit::create(o.machine);
  if (!created) return created.error();
  std::shared_ptr<Jit> jit = created.take();
  clock.mark("JIT and target machine setup");
  Expected<Lowered> l = lower(m, o, target, jit->targetMachine(), clock);
  if (!l) return l.error();
  if (Status s = jit->add(*l->module, compileThreads(o)); !s) return s.error();
  Expected<PlanSpec> plan = buildPlan(m, l->kernels, l->lowered, target.name);
  if (!plan) return plan.error();
  if (Status s = bindKernels(*plan, [&](const std::string& symbol) { return jit->lookup(symbol); }); !s) return s.error();
  clock.mark(fmt::format("LLVM optimization and code generation ({} threads)", compileThreads(o)));
  return CompiledProgram{std::move(jit), std::make_shared<const OwnedPlan>(plan.take())};
}

Expected<std::string> compileAot(const Module& m, const TargetOptions& o, const EmbeddedTexts& texts, EmitKind emit,
                                 const HostTarget& target) {
  PhaseClock clock(o.timings);
  Expected<AotModule> a = lowerForAot(m, o, texts, target, clock);
  if (!a) return a.error();
  llvm::Module& module = *a->lowered.module;
  optimizeModule(module, *a->tm, o.machine);
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

Expected<std::vector<std::string>> compileAotObjects(const Module& m, const TargetOptions& o, const EmbeddedTexts& texts,
                                                     const HostTarget& target) {
  PhaseClock clock(o.timings);
  Expected<AotModule> a = lowerForAot(m, o, texts, target, clock);
  if (!a) return a.error();
  auto objects = compileToObjects(*a->lowered.module, o.machine, compileThreads(o));
  clock.mark(fmt::format("LLVM optimization and code generation ({} threads)", compileThreads(o)));
  return objects;
}

const TargetCompiler kCompiler = hostCompiler<kCpu>();

}  // namespace sinter::cpu
