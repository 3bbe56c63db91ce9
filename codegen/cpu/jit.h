// LLVM for the host: the target machine, the O3 pipeline, object emission, and an ORC JIT.
// The only place that includes LLVM's pass builder and JIT headers (they are slow to compile).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "codegen/target.h"
#include "support/error.h"

namespace llvm {
class LLVMContext;
class Module;
class TargetMachine;
}  // namespace llvm

namespace sinter::cpu {

// Code generation options shared by the JIT and AOT paths: cpu "" is the host (e.g. znver4).
using CodegenOptions = MachineOptions;

// A target machine for `options` (PIC, aggressive codegen). Sets the module's triple and layout.
Expected<std::unique_ptr<llvm::TargetMachine>> makeTargetMachine(const CodegenOptions& options);

// Stamps every function definition with target-cpu/target-features (so the vectorizer uses
// AVX-512 where there is one) and runs LLVM's default per-module pipeline at options.optLevel.
void optimizeModule(llvm::Module& m, llvm::TargetMachine& tm, const CodegenOptions& options);

// Emits an object file or assembly text for the module.
Expected<std::string> emitMachineCode(llvm::Module& m, llvm::TargetMachine& tm, bool assembly);

// Optimizes and compiles a module of kernels into object files, on up to `threads` threads
// (codegen/cpu/parallel_codegen.cpp): one object per part, the parts split by kernel. With more
// than one part, `m`'s internal kernels become external so that the parts link together.
Expected<std::vector<std::string>> compileToObjects(llvm::Module& m, const CodegenOptions& options, int threads);

// An ORC LLJIT holding compiled modules; symbols stay valid while the Jit lives.
class Jit {
 public:
  static Expected<std::unique_ptr<Jit>> create(const CodegenOptions& options = {});
  ~Jit();
  // Optimizes and compiles the module on up to `threads` threads (compileToObjects). Its functions
  // become callable through lookup().
  Status add(llvm::Module& m, int threads = 1);
  Expected<void*> lookup(const std::string& name);
  llvm::TargetMachine& targetMachine();

 private:
  struct Impl;
  explicit Jit(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sinter::cpu
