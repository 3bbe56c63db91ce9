// A loaded plan: the two arenas, a thread pool, and run(function). What the trainer, `sinter run
// --target cpu` and the built executables drive.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ir/diagnostic.h"
#include "runtime/plan.h"

namespace sinter {

class ThreadPool;

class Program {
 public:
  // Allocates both arenas (64-byte aligned) and initializes every Param and State from its init
  // with `seed`. `threads` 0 means all cores.
  Program(const PlanTable& table, int threads, uint64_t seed);
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  const PlanTable& table() const { return table_; }
  // Buffer lookup by name; nullptr if absent.
  const PlanBuffer* buffer(std::string_view name) const;
  // The buffer's bytes (for the current batch size where it has B).
  void* data(const PlanBuffer& b);
  int64_t elements(const PlanBuffer& b, int64_t batch) const;

  // Runs function `name` ("train_step", "eval", "grad") on the inputs already written into the
  // input buffers, with B = batch (1 <= batch <= maxBatch). Errors: unknown function, bad batch.
  Status run(std::string_view name, int64_t batch);
  int threads() const;

 private:
  const PlanTable& table_;
  std::unique_ptr<ThreadPool> pool_;
  void* state_ = nullptr;
  void* work_ = nullptr;
  // Buffer addresses of every call's arguments, resolved once (arenas never move): call c of
  // function f reads argPtrs_[argStart_[callBase_[f] + c] ...].
  std::vector<void*> argPtrs_;
  std::vector<size_t> argStart_;
  std::vector<size_t> callBase_;
};

// Writes every Param and State buffer's initial value (see PlanBuffer::init) into `program`.
void initializeState(Program& program, uint64_t seed);

}  // namespace sinter
