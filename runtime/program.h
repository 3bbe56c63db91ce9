// The executor of plans whose kernels run on the host (the cpu target): the two arenas in host
// memory, a thread pool, and run(function) splitting each kernel call over it.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/executor.h"
#include "runtime/plan.h"
#include "support/error.h"

namespace sinter {

class ThreadPool;

class Program final : public Executor {
 public:
  // Allocates both arenas (64-byte aligned) and initializes every Param and State from its init
  // with `seed`. `threads` 0 means all cores.
  Program(const PlanTable& table, int threads, uint64_t seed);
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

 private:
  void* data(const PlanBuffer& b);
  // The index of function `name`, after checking `batch`.
  Expected<int32_t> functionIndex(std::string_view name, int64_t batch);

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

// Writes every Param and State buffer's initial value (see PlanBuffer::init) through `executor`.
void initializeState(Executor& executor, uint64_t seed);

}  // namespace sinter
