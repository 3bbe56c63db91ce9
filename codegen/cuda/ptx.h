// The cuda target's generated kernels: kernel IR lowered in the device style (codegen/cpu/lower.h),
// linked with the CUDA toolkit's libdevice for its math functions, optimized and emitted as PTX by
// LLVM's NVPTX backend. The heavy ops are library calls (cuBLAS, cuDNN; kLibrary), not PTX.
#pragma once

#include <string>
#include <vector>

#include "codegen/kernel_ir.h"
#include "codegen/plan_builder.h"
#include "codegen/target.h"

namespace sinter::cuda {

// The ops cuBLAS and cuDNN run on this target (select-library-kernels).
extern const kir::LibraryOps kLibrary;

// The GPU the PTX is for when MachineOptions::cpu is empty: the H100's.
inline constexpr const char* kDefaultArch = "sm_90";

struct Ptx {
  std::string text;  // one PTX module: an .entry per generated kernel
  std::vector<std::vector<KernelBinding>> bindings;  // [function][kernel]: entry names and extents
};

// PTX for every generated kernel of `p` (library kernels have none). Errors: a kernel the device
// style cannot lower, an unknown GPU architecture, libdevice missing (it comes with the CUDA
// toolkit: SINTER_LIBDEVICE at configure time).
Expected<Ptx> emitPtx(const kir::KProgram& p, const MachineOptions& machine);

// emitPtx's text (`sinter dump --stage=ptx --target cuda`).
Expected<std::string> ptxText(const kir::KProgram& p, const MachineOptions& machine);

}  // namespace sinter::cuda
