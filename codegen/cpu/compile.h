// The CPU target end to end: graph IR -> kernel IR -> LLVM -> ORC JIT (and the PlanTable that
// points the runtime at the JIT'd kernels) or an object file for `sinter build`.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "codegen/cpu/jit.h"
#include "codegen/kernel_ir.h"
#include "ir/module.h"
#include "runtime/plan.h"

namespace sinter::cpu {

// Compilation phases and their seconds, for `--time-passes`.
using Timings = std::vector<std::pair<std::string, double>>;

// Appends (phase, seconds since the previous mark or restart) to `timings` when it is set.
class PhaseClock {
 public:
  explicit PhaseClock(Timings* timings) : timings_(timings) {}
  void mark(const std::string& phase) {
    auto now = std::chrono::steady_clock::now();
    if (timings_) timings_->emplace_back(phase, std::chrono::duration<double>(now - last_).count());
    last_ = now;
  }
  // After a call that recorded its own phases into the same Timings.
  void restart() { last_ = std::chrono::steady_clock::now(); }

 private:
  Timings* timings_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

struct CpuOptions {
  int64_t maxBatch = 64;
  CodegenOptions codegen;
  // Threads that optimize and compile the kernels (0: one per hardware thread).
  int compileThreads = 0;
  // When set, each compilation phase appends (name, seconds): `--time-passes`.
  Timings* timings = nullptr;
};

// A JIT-compiled program: the Jit keeps the code alive; `table` points into the storage below
// (stable across moves: every pointer targets heap storage that a move does not relocate).
struct CompiledProgram {
  std::unique_ptr<Jit> jit;
  kir::KProgram kernels;
  std::deque<std::string> strings;
  std::vector<PlanBuffer> buffers;
  std::vector<std::vector<int32_t>> args;
  std::vector<std::vector<PlanCall>> calls;
  std::vector<std::vector<int32_t>> inputs, results;
  std::vector<std::vector<const char*>> resultNames;
  std::vector<PlanFunction> functions;
  PlanTable table{};
};

// `m` is the module after the grad pipeline (@eval, @grad, @train_step).
Expected<CompiledProgram> compileForJit(const Module& m, const CpuOptions& options);

enum class EmitKind { Llvm, Asm, Obj };

// Ahead-of-time: the kernels plus the plan as data (`sinter_plan`, a PlanTable, and
// `sinter_train_config`, formatTrainConfig text), as optimized LLVM IR text, assembly or an object
// file. Linked with the runtime's model main (runtime/main) it is a complete trainer executable.
Expected<std::string> compileAot(const Module& m, const CpuOptions& options, const std::string& trainConfig,
                                 EmitKind emit);

// The same as object files to link into an executable: one per part of the module that was
// compiled on its own thread.
Expected<std::vector<std::string>> compileAotObjects(const Module& m, const CpuOptions& options,
                                                     const std::string& trainConfig);

}  // namespace sinter::cpu
