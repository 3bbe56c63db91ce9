// Kernel IR -> PTX (see ptx.h).
#include "codegen/cuda/ptx.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IRReader/IRReader.h>
#include <llvm/Linker/Linker.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/SourceMgr.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Target/TargetMachine.h>

#include <mutex>

#include "codegen/cpu/jit.h"
#include "codegen/cpu/lower.h"

namespace sinter::cuda {

const kir::LibraryOps kLibrary = {
    .name = "cuda",
    // cuBLAS: matmul; cuDNN (its legacy API, which cuDNN 9.0 already had): the convolutions,
    // pooling and batch normalization, on row-major NCHW.
    .ops = {OpKind::Conv2d, OpKind::Conv2dGradInput, OpKind::Conv2dGradWeight, OpKind::MatMul, OpKind::MaxPool2d,
            OpKind::MaxPool2dGrad, OpKind::AvgPool2d, OpKind::AvgPool2dGrad, OpKind::BatchNormTrain, OpKind::BatchNormStats,
            OpKind::BatchNormTrainGrad, OpKind::BatchNormParamGrad, OpKind::BatchNormInfer},
    // cuDNN's batch normalization writes y with the batch statistics, and dx with the parameters'
    // gradients, in one call (as oneDNN's does).
    .pairs = {{OpKind::BatchNormTrain, OpKind::BatchNormStats}, {OpKind::BatchNormTrainGrad, OpKind::BatchNormParamGrad}},
};

namespace {

constexpr const char* kTriple = "nvptx64-nvidia-cuda";

Expected<std::unique_ptr<llvm::TargetMachine>> nvptxMachine(const MachineOptions& o) {
  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
  });
  std::string err;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(kTriple, err);
  if (!target) return Error(fmt::format("this LLVM has no NVPTX backend: {}", err));
  const std::string arch = o.cpu.empty() ? kDefaultArch : o.cpu;
  // Checked before the target machine exists, which would print a warning and go on without one.
  std::unique_ptr<llvm::MCSubtargetInfo> known(target->createMCSubtargetInfo(kTriple, kDefaultArch, ""));
  if (!known || !known->isCPUStringValid(arch))
    return Error(fmt::format("unknown GPU architecture '{}' (NVPTX names such as sm_80, sm_90)", arch));
  std::unique_ptr<llvm::TargetMachine> tm(
      target->createTargetMachine(kTriple, arch, o.features, llvm::TargetOptions(), std::nullopt, std::nullopt,
                                  o.optLevel >= 3 ? llvm::CodeGenOptLevel::Aggressive : llvm::CodeGenOptLevel::Default));
  if (!tm) return Error(fmt::format("cannot create an NVPTX target machine for '{}'", arch));
  return tm;
}

// Links the libdevice functions the kernels call (__nv_expf, ...) into m and makes every function
// but the kernel entries internal, so that the optimizer inlines and drops them.
Status linkLibdevice(llvm::Module& m) {
  bool needed = false;
  for (const llvm::Function& f : m)
    if (f.isDeclaration() && f.getName().starts_with("__nv_")) needed = true;
  if (needed) {
    const std::string path = SINTER_LIBDEVICE;
    if (path.empty())
      return Error("the kernels need libdevice (exp, log, tanh, pow on the GPU), which comes with the CUDA toolkit; none was "
                   "found when Sinter was configured (nvvm/libdevice/libdevice.10.bc)");
    llvm::SMDiagnostic diag;
    std::unique_ptr<llvm::Module> lib = llvm::parseIRFile(path, diag, m.getContext());
    if (!lib) return Error(fmt::format("{}: {}", path, diag.getMessage().str()));
    lib->setTargetTriple(m.getTargetTriple());
    lib->setDataLayout(m.getDataLayout());
    if (llvm::Linker::linkModules(m, std::move(lib), llvm::Linker::LinkOnlyNeeded))
      return Error(fmt::format("cannot link {} into the kernels", path));
  }
  for (llvm::Function& f : m)
    if (!f.isDeclaration() && f.getCallingConv() != llvm::CallingConv::PTX_Kernel) f.setLinkage(llvm::GlobalValue::InternalLinkage);
  // libdevice's __nvvm_reflect("__CUDA_FTZ"): keep denormals, as the host and the reference do.
  m.addModuleFlag(llvm::Module::Override, "nvvm-reflect-ftz", uint32_t{0});
  return ok();
}

}  // namespace

Expected<Ptx> emitPtx(const kir::KProgram& p, const MachineOptions& machine) {
  Expected<std::unique_ptr<llvm::TargetMachine>> tm = nvptxMachine(machine);
  if (!tm) return tm.error();
  llvm::LLVMContext ctx;
  llvm::Module m(p.model, ctx);
  m.setTargetTriple(kTriple);
  m.setDataLayout((*tm)->createDataLayout());
  Ptx out;
  Expected<std::vector<std::vector<KernelBinding>>> bindings = cpu::lowerKernels(p, m, cpu::HeavyTarget{}, cpu::CodeStyle::Device);
  if (!bindings) return bindings.error();
  out.bindings = bindings.take();
  if (Status s = linkLibdevice(m); !s) return s.error();
  cpu::optimizeModule(m, **tm, machine);
  Expected<std::string> text = cpu::emitMachineCode(m, **tm, /*assembly=*/true);
  if (!text) return text.error();
  out.text = text.take();
  return out;
}

Expected<std::string> ptxText(const kir::KProgram& p, const MachineOptions& machine) {
  Expected<Ptx> ptx = emitPtx(p, machine);
  if (!ptx) return ptx.error();
  return ptx->text;
}

}  // namespace sinter::cuda
