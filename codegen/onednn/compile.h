// The dnnl target: the cpu target's LLVM kernels, except that convolutions (forward and both
// gradients), matmul and pooling are calls into oneDNN, whose primitives the runtime's dnnl
// executor (runtime/onednn/) creates per batch size in prepare.
#pragma once

#include "codegen/target.h"

namespace sinter::onednn {

// The ops oneDNN runs on this target (select-library-kernels).
extern const kir::LibraryOps kLibrary;
extern const TargetCompiler kCompiler;

}  // namespace sinter::onednn
