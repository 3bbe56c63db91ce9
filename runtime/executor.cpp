// The executors the runtime has, by the target a plan was compiled for: each target's plan names
// its target, and this table says which executor runs it.
#include "runtime/executor.h"

#include <fmt/format.h>

#include "runtime/cuda/executor.h"
#include "runtime/onednn/executor.h"
#include "runtime/program.h"

namespace sinter {

namespace {

using MakeExecutor = Expected<std::unique_ptr<Executor>> (*)(const PlanTable&, int threads, uint64_t seed);

struct ExecutorEntry {
  std::string_view target;
  MakeExecutor make;
  bool device;  // reaches device memory (PlanBuffer::device) rather than host memory
  Status (*available)() = nullptr;  // null: always (the host)
};

const ExecutorEntry kExecutors[] = {
    {"cpu",
     [](const PlanTable& t, int threads, uint64_t seed) -> Expected<std::unique_ptr<Executor>> {
       return std::unique_ptr<Executor>(std::make_unique<Program>(t, threads, seed));
     },
     false},
    {"dnnl", onednn::makeExecutor, false},
    {"cuda", cuda::makeExecutor, true, cuda::available},
};

}  // namespace

Status canRun(std::string_view target) {
  for (const ExecutorEntry& e : kExecutors)
    if (e.target == target) return e.available ? e.available() : ok();
  return Error(fmt::format("this runtime has no executor for plans of target '{}'", target));
}

Expected<std::unique_ptr<Executor>> makeExecutor(const PlanTable& table, int threads, uint64_t seed) {
  const std::string_view target = table.target ? table.target : "";
  for (const ExecutorEntry& e : kExecutors) {
    if (e.target != target) continue;
    for (int32_t i = 0; i < table.numBuffers; ++i)
      if (table.buffers[i].device != e.device)
        return Error(fmt::format("plan buffer '{}' is in {} memory, which the {} executor cannot reach", table.buffers[i].name,
                                 table.buffers[i].device ? "device" : "host", target));
    return e.make(table, threads, seed);
  }
  return Error(fmt::format("this runtime has no executor for plans of target '{}'", target));
}

}  // namespace sinter
