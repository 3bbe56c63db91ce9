// The cuda target's compiler (see compile.h).
#include "codegen/cuda/compile.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include "codegen/cpu/aot.h"
#include "codegen/cpu/jit.h"
#include "codegen/cuda/ptx.h"
#include "codegen/kernel_passes.h"

namespace sinter::cuda {

namespace {

// The plan, with its kernels' PTX.
Expected<PlanSpec> compilePlan(const Module& m, const TargetOptions& o) {
  PhaseClock clock(o.timings);
  kir::KernelOptions ko{.maxBatch = o.maxBatch};
  ko.library = kLibrary;
  ko.space = kir::MemorySpace::Device;
  Expected<kir::KProgram> k = kir::buildKernels(m, ko);
  if (!k) return k.error();
  clock.mark("kernel IR (fusion, memory plan)");
  Expected<Ptx> ptx = emitPtx(*k, o.machine);
  if (!ptx) return ptx.error();
  clock.mark("NVPTX code generation");
  Expected<PlanSpec> plan = buildPlan(m, *k, ptx->bindings, "cuda");
  if (!plan) return plan.error();
  plan->deviceCode = std::move(ptx->text);
  return plan;
}

Expected<CompiledProgram> compileForJit(const Module& m, const TargetOptions& o) {
  Expected<PlanSpec> plan = compilePlan(m, o);
  if (!plan) return plan.error();
  return CompiledProgram{nullptr, std::make_shared<const OwnedPlan>(plan.take())};
}

// The host object of a built executable: the plan (PTX inside) and the train settings, for this
// machine's CPU (--cpu names the GPU on this target).
Expected<std::string> emitHost(const Module& m, const TargetOptions& o, const EmbeddedTexts& texts, EmitKind kind) {
  Expected<PlanSpec> plan = compilePlan(m, o);
  if (!plan) return plan.error();
  Expected<std::unique_ptr<llvm::TargetMachine>> tm = cpu::makeTargetMachine({});
  if (!tm) return tm.error();
  llvm::LLVMContext ctx;
  llvm::Module host(m.name, ctx);
  host.setTargetTriple((*tm)->getTargetTriple().str());
  host.setDataLayout((*tm)->createDataLayout());
  if (Status s = cpu::emitPlanGlobals(host, *plan, texts); !s) return s.error();
  if (kind == EmitKind::Llvm) {
    std::string text;
    llvm::raw_string_ostream os(text);
    host.print(os, nullptr);
    return os.str();
  }
  return cpu::emitMachineCode(host, **tm, kind == EmitKind::Asm);
}

}  // namespace

const TargetCompiler kCompiler = {
    compileForJit,
    [](const Module& m, const TargetOptions& o, const EmbeddedTexts& c) -> Expected<std::vector<std::string>> {
      Expected<std::string> object = emitHost(m, o, c, EmitKind::Obj);
      if (!object) return object.error();
      return std::vector<std::string>{object.take()};
    },
    emitHost,
};

}  // namespace sinter::cuda
