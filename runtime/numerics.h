// Where a non-finite value came from. A compiled step only shows its loss (its other values share
// one arena and are gone); the reference evaluator keeps every op's output. So the trainer copies
// what each step reads before it runs, and when the loss is not finite (or at every step with
// --check-numerics) replays that step op by op in f32 on the reference evaluator, stopping at the
// first op whose output is not finite: the report names it, its operands' ranges and the model line
// it came from, like jax_debug_nans' re-run of a jitted function.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "codegen/ref/evaluator.h"
#include "runtime/executor.h"
#include "support/error.h"
#include "support/source.h"

namespace sinter {

// The model a plan was compiled from, as text. A built executable carries both (sinter build),
// `sinter train` passes its own.
struct ModelText {
  std::string moduleIr;  // printModule of the module the plan came from (after the grad pipeline)
  std::string source;    // the .nn file the module's locations point into; "" quotes no lines
};

// The observer that stops ref::evaluate of `fn` at the first op whose f32 output holds a
// NaN or an infinity, with an Error located at that op (in the model file) saying which elements,
// with a note per operand giving its range (and its non-finite and zero elements).
ref::OpObserver stopAtNonFinite(const Module& m, const Function& fn);

class StepReplay {
 public:
  // Errors: the module text does not parse, has no @train_step, or the plan lacks a buffer for one
  // of its inputs or globals.
  static Expected<std::unique_ptr<StepReplay>> create(const ModelText& model, const PlanTable& table);

  // Copies what the next train_step reads out of `program`: its inputs at `batch` and every global
  // it loads. Call it after the inputs are written and before the step runs.
  void capture(Executor& program, int64_t batch);
  // Replays the captured step. ok when every op's output is finite; otherwise the Error of
  // stopAtNonFinite, plus a note for each global that was not finite before the step.
  Status replay() const;
  const SourceFile& source() const { return source_; }

 private:
  StepReplay() = default;
  Module module_;
  SourceFile source_;
  const Function* step_ = nullptr;
  // A value the step reads, as the program held it before the step: raw bytes (capture runs at
  // every step, so it only copies; replay converts).
  struct Captured {
    const PlanBuffer* buffer;
    DType dtype;
    std::string name;
    bool batched;
    int64_t batch = 0;
    std::vector<std::byte> bytes;
  };
  static ref::Tensor tensorOf(const Captured& c);
  std::vector<Captured> inputs_, globals_;
};

}  // namespace sinter
