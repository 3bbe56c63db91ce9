// The executor of plans whose kernels run on the host (the cpu and dnnl targets): the two arenas in
// host memory, a pool of workers, and run(function) splitting each generated kernel call over it;
// library calls (dnnl) run through their LibraryKernel, prepared per batch size.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/executor.h"
#include "runtime/library_kernel.h"
#include "runtime/plan.h"
#include "support/error.h"

namespace sinter {

class Workers;

class Program final : public Executor {
 public:
  // Allocates both arenas (64-byte aligned) and initializes every Param and State from its init
  // with `seed`. `threads` 0 means all cores.
  Program(const PlanTable& table, int threads, uint64_t seed);
  // The same on `workers`, with `library` holding a kernel for each library call of the plan (see
  // LibraryKernels); a plan with library calls and no kernel for one is a caller's bug.
  Program(const PlanTable& table, std::unique_ptr<Workers> workers, LibraryKernels library, uint64_t seed);
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  const PlanTable& table() const override { return table_; }
  int threads() const override;
  Status prepare(int64_t batch) override;
  Status run(std::string_view name, int64_t batch) override;
  // Each call on the calling thread alone (one slice), so the times add up to a one-thread step.
  Status profile(std::string_view name, int64_t batch, std::vector<double>& seconds) override;
  void read(const PlanBuffer& b, int64_t batch, std::span<std::byte> bytes) override;
  void write(const PlanBuffer& b, int64_t batch, std::span<const std::byte> bytes) override;
  std::vector<std::string> libraryCalls() const override;

 private:
  void* data(const PlanBuffer& b);
  void runCall(int32_t f, int32_t c, int64_t batch);
  // The index of function `name`, after checking `batch`.
  Expected<int32_t> functionIndex(std::string_view name, int64_t batch);

  const PlanTable& table_;
  std::unique_ptr<Workers> pool_;
  LibraryKernels library_;
  int64_t preparedBatch_ = 0;  // the batch size the library kernels are prepared for
  void* state_ = nullptr;
  void* work_ = nullptr;
  // Buffer addresses of every call's arguments, resolved once (arenas never move): call c of
  // function f reads argPtrs_[argStart_[callBase_[f] + c] ...].
  std::vector<void*> argPtrs_;
  std::vector<size_t> argStart_;
  std::vector<size_t> callBase_;
};

// Writes every Param and State buffer's initial value (see PlanBuffer::init) through `executor`.
void initializeState(Executor& executor, uint64_t seed);

}  // namespace sinter
