// The table of targets. A new target is one row here and a folder codegen/<target>/ that defines
// its TargetCompiler.
#include "codegen/target.h"

#include "codegen/cpu/compile.h"
#include "codegen/cuda/compile.h"
#include "codegen/cuda/ptx.h"
#include "codegen/onednn/compile.h"

namespace sinter {

namespace {

const Target kTargets[] = {
    {"cpu", "LLVM-generated code for the CPU, tiled and vectorized, no vendor library", &cpu::kCompiler, nullptr},
    {"dnnl", "oneDNN 2.6 primitives for conv, matmul, pooling and batch norm, LLVM for the rest", &onednn::kCompiler, &onednn::kLibrary},
    // Its executor runs the generated kernels and cuBLAS; the cuDNN calls are still to come.
    {"cuda", "cuBLAS and cuDNN for the heavy ops, LLVM NVPTX kernels for the rest", &cuda::kCompiler, &cuda::kLibrary,
     kir::MemorySpace::Device, &cuda::ptxText},
};

std::string builtNames() {
  std::string names;
  for (const Target& t : kTargets)
    if (t.compiler) names += (names.empty() ? "" : ", ") + std::string(t.name);
  return names;
}

}  // namespace

std::span<const Target> allTargets() { return kTargets; }

Expected<const Target*> findTarget(std::string_view name) {
  for (const Target& t : kTargets) {
    if (t.name != name) continue;
    if (!t.compiler) return Error(fmt::format("target '{}' ({}) is not built yet; built: {}", name, t.summary, builtNames()));
    return &t;
  }
  return Error(fmt::format("unknown target '{}' (built: {})", name, builtNames()));
}

}  // namespace sinter
