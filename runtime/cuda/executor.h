// The cuda executor: both arenas in device memory (one allocation each, at the plan's offsets),
// the plan's generated kernels loaded from its PTX (PlanTable::deviceCode) through the driver,
// library calls through cuBLAS and cuDNN, and each function captured once per batch size as a CUDA graph in
// prepare and replayed by run, which queues it and returns: nothing is allocated or synchronized
// inside a step. Inputs are written through pinned staging buffers (two per input, in turn) with
// asynchronous copies; read, and writes of other buffers, wait for the queued work.
#pragma once

#include <memory>

#include "runtime/executor.h"

namespace sinter::cuda {

// Errors: no GPU or driver (the message says so), PTX the driver rejects, a library call the
// executor does not run yet.
Expected<std::unique_ptr<Executor>> makeExecutor(const PlanTable& table, int threads, uint64_t seed);
// Whether there is a GPU and its driver (the error says which is missing).
Status available();

}  // namespace sinter::cuda
