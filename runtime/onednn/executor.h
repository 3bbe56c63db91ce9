// The dnnl target's executor: the host executor (Program) whose library calls are oneDNN 2.6
// primitives, and whose generated kernels run on the same OpenMP threads as oneDNN, so the two never
// oversubscribe the cores.
#pragma once

#include <memory>

#include "runtime/executor.h"

namespace sinter::onednn {

Expected<std::unique_ptr<Executor>> makeExecutor(const PlanTable& table, int threads, uint64_t seed);

}  // namespace sinter::onednn
