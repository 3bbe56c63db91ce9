// LLVM for the host: target machine, O3 pipeline, object emission, ORC JIT.
#include "codegen/cpu/jit.h"

#include <fmt/format.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

#include <mutex>

namespace sinter::cpu {

namespace {

void initializeLlvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

std::string hostFeatures() {
  std::string out;
  for (auto& f : llvm::sys::getHostCPUFeatures()) out += (out.empty() ? "" : ",") + std::string(f.second ? "+" : "-") + f.first().str();
  return out;
}

std::string cpuOf(const CodegenOptions& o) { return o.cpu.empty() ? llvm::sys::getHostCPUName().str() : o.cpu; }
std::string featuresOf(const CodegenOptions& o) {
  if (!o.features.empty()) return o.features;
  return o.cpu.empty() ? hostFeatures() : "";
}

llvm::CodeGenOptLevel codegenLevel(int level) {
  switch (level) {
    case 0: return llvm::CodeGenOptLevel::None;
    case 1: return llvm::CodeGenOptLevel::Less;
    case 2: return llvm::CodeGenOptLevel::Default;
    default: return llvm::CodeGenOptLevel::Aggressive;
  }
}

}  // namespace

Expected<std::unique_ptr<llvm::TargetMachine>> makeTargetMachine(const CodegenOptions& o) {
  initializeLlvm();
  std::string triple = llvm::sys::getDefaultTargetTriple();
  std::string err;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(triple, err);
  if (!target) return Error(fmt::format("no LLVM target for '{}': {}", triple, err));
  llvm::TargetOptions opts;
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(triple, cpuOf(o), featuresOf(o), opts, llvm::Reloc::PIC_,
                                                                      std::nullopt, codegenLevel(o.optLevel)));
  if (!tm) return Error(fmt::format("cannot create a target machine for cpu '{}'", cpuOf(o)));
  if (!tm->getMCSubtargetInfo()->isCPUStringValid(cpuOf(o)))
    return Error(fmt::format("unknown CPU '{}' (LLVM names such as x86-64-v3, znver4, skylake-avx512)", cpuOf(o)));
  return tm;
}

void optimizeModule(llvm::Module& m, llvm::TargetMachine& tm, const CodegenOptions& o) {
  m.setTargetTriple(tm.getTargetTriple().str());
  m.setDataLayout(tm.createDataLayout());
  std::string cpu = tm.getTargetCPU().str(), features = tm.getTargetFeatureString().str();
  for (llvm::Function& f : m) {
    if (f.isDeclaration()) continue;
    f.addFnAttr("target-cpu", cpu);
    if (!features.empty()) f.addFnAttr("target-features", features);
    f.addFnAttr("prefer-vector-width", "512");
  }
  if (o.optLevel == 0) return;
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions pto;
  // The heavy kernels are vectorized and register-tiled by construction and the loop kernels by the
  // loop vectorizer; SLP found nothing more to do in them and took a quarter of the pipeline's time.
  // Which loops may unroll is set per loop by the generators (codegen/cpu/ir_loops.h).
  pto.LoopVectorization = true;
  pto.SLPVectorization = false;
  llvm::PassBuilder pb(&tm, pto);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::OptimizationLevel level = o.optLevel == 1 ? llvm::OptimizationLevel::O1
                                  : o.optLevel == 2 ? llvm::OptimizationLevel::O2
                                                    : llvm::OptimizationLevel::O3;
  pb.buildPerModuleDefaultPipeline(level).run(m, mam);
}

Expected<std::string> emitMachineCode(llvm::Module& m, llvm::TargetMachine& tm, bool assembly) {
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager pm;
  auto kind = assembly ? llvm::CodeGenFileType::AssemblyFile : llvm::CodeGenFileType::ObjectFile;
  if (tm.addPassesToEmitFile(pm, os, nullptr, kind)) return Error("LLVM cannot emit this file type for the target");
  pm.run(m);
  return std::string(buffer.begin(), buffer.end());
}

struct Jit::Impl {
  std::unique_ptr<llvm::orc::LLJIT> jit;
  std::unique_ptr<llvm::TargetMachine> tm;
  CodegenOptions options;
};

Jit::Jit(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Jit::~Jit() = default;

Expected<std::unique_ptr<Jit>> Jit::create(const CodegenOptions& options) {
  initializeLlvm();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  Expected<std::unique_ptr<llvm::TargetMachine>> tm = makeTargetMachine(options);
  if (!tm) return tm.error();
  impl->tm = tm.take();
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb) return Error("cannot detect the host for the JIT: " + llvm::toString(jtmb.takeError()));
  jtmb->setCPU(impl->tm->getTargetCPU().str());
  jtmb->setCodeGenOptLevel(codegenLevel(options.optLevel));
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(*jtmb)).create();
  if (!jit) return Error("cannot create the JIT: " + llvm::toString(jit.takeError()));
  impl->jit = std::move(*jit);
  // Let JIT code call libm and the runtime linked into this process.
  auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(impl->jit->getDataLayout().getGlobalPrefix());
  if (!gen) return Error("cannot expose process symbols to the JIT: " + llvm::toString(gen.takeError()));
  impl->jit->getMainJITDylib().addGenerator(std::move(*gen));
  return std::unique_ptr<Jit>(new Jit(std::move(impl)));
}

Status Jit::add(llvm::Module& m, int threads) {
  Expected<std::vector<std::string>> objects = compileToObjects(m, impl_->options, threads);
  if (!objects) return objects.error();
  for (const std::string& object : *objects)
    if (auto err = impl_->jit->addObjectFile(llvm::MemoryBuffer::getMemBufferCopy(object, m.getName())))
      return Error("JIT: " + llvm::toString(std::move(err)));
  return ok();
}

Expected<void*> Jit::lookup(const std::string& name) {
  auto sym = impl_->jit->lookup(name);
  if (!sym) return Error(fmt::format("JIT: no function '{}': {}", name, llvm::toString(sym.takeError())));
  return sym->toPtr<void*>();
}

llvm::TargetMachine& Jit::targetMachine() { return *impl_->tm; }

}  // namespace sinter::cpu
