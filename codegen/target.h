// Targets are rows of one table (codegen/target.cpp): a name, what it is, and, for each target
// built into this Sinter, how it compiles a training module in memory (JIT) and ahead of time.
// Tools look `--target` up here; nothing outside codegen/<target>/ branches on a target's name.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "codegen/phase_clock.h"
#include "codegen/plan_builder.h"
#include "ir/module.h"
#include "runtime/main/model_symbols.h"
#include "support/error.h"

namespace sinter {

// The machine code is generated for.
struct MachineOptions {
  std::string cpu;       // the processor the code is tuned for ("" = this machine; --cpu)
  std::string features;  // "" = that processor's
  int optLevel = 3;      // -O0..3
};

// What every target's compiler takes.
struct TargetOptions {
  int64_t maxBatch = 64;  // the plan is sized for batches up to this
  MachineOptions machine;
  int compileThreads = 0;      // 0: one per hardware thread
  Timings* timings = nullptr;  // --time-passes: each phase appends (name, seconds)
};

// A program compiled in memory: the plan the runtime runs, and what keeps its kernels alive
// (a JIT session, library handles).
struct CompiledProgram {
  std::shared_ptr<void> code;
  std::shared_ptr<const OwnedPlan> plan;
  const PlanTable& table() const { return plan->table(); }
};

enum class EmitKind { Llvm, Asm, Obj };

// How a built target compiles `m`, the module after the grad pipeline (@eval, @train_step; @grad
// where `sinter run --grads` asks for it).
struct TargetCompiler {
  Expected<CompiledProgram> (*compileForJit)(const Module& m, const TargetOptions& o);
  // The kernels plus the plan as data, the train settings and the model as text (EmbeddedTexts),
  // as object files to link with the runtime's model main into an executable.
  Expected<std::vector<std::string>> (*compileObjects)(const Module& m, const TargetOptions& o, const EmbeddedTexts& texts);
  // The same as one file: optimized LLVM IR, assembly or an object (`--emit`).
  Expected<std::string> (*emit)(const Module& m, const TargetOptions& o, const EmbeddedTexts& texts, EmitKind kind);
};

struct Target {
  std::string_view name;
  std::string_view summary;
  const TargetCompiler* compiler;  // null: not built into this Sinter
  const kir::LibraryOps* library;  // the ops a vendor library runs (select-library-kernels); null: none
  kir::MemorySpace space = kir::MemorySpace::Host;  // where its buffers live
  // Its generated device code as text (cuda: PTX), for `sinter dump --stage=ptx`; null for host
  // targets, whose code `--stage=llvm` shows.
  Expected<std::string> (*deviceCode)(const kir::KProgram& p, const MachineOptions& machine) = nullptr;
  // Whether the library runs op on a first operand of type x: the grad pipeline keeps such ops
  // rather than expanding them (PassManagerOptions::targetTakes).
  bool libraryRuns(OpKind op, const TensorType& x) const { return library && library->runs(op, x); }
};

std::span<const Target> allTargets();

// `--target NAME`: the target of that name if this Sinter has it built, else an error naming the
// targets that are.
Expected<const Target*> findTarget(std::string_view name);

}  // namespace sinter
