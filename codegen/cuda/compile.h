// The cuda target's compiler: the kernel pipeline with cuBLAS/cuDNN library calls and every buffer
// in device memory, the generated kernels as PTX (ptx.h) inside the plan, which the runtime's cuda
// executor (runtime/cuda/) loads through the driver. Built executables hold the plan (PTX
// included) and no host kernels.
#pragma once

#include "codegen/target.h"

namespace sinter::cuda {

extern const TargetCompiler kCompiler;

}  // namespace sinter::cuda
